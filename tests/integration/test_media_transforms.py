"""Producer transforms: packets routed through a transform and emitted back."""

from __future__ import annotations

import asyncio

import pytest
from media_helpers import encoded_audio, encoded_video, pub_sub, wait_for
from test_media_taps import RecordingTap

from media import MediaError, Producer

pytestmark = pytest.mark.timeout(60)


class Relabel:
    """Re-emits every packet unchanged except for its own sequence and timestamp space."""

    def __init__(self, producer: Producer, seq_shift: int = 20000, ts_shift: int = 12345) -> None:
        self.producer = producer
        self.seq_shift = seq_shift
        self.ts_shift = ts_shift
        self.pushed = 0
        self.emitted: set[int] = set()
        self.closed = False

    def push(self, payload: bytes, seq: int, ts: int, marker: bool, keyframe: bool) -> None:
        self.pushed += 1
        out_seq = (seq + self.seq_shift) & 0xFFFF
        self.emitted.add(out_seq)
        asyncio.get_running_loop().call_soon(
            self.producer.emit, payload, out_seq,
            (ts + self.ts_shift) & 0xFFFFFFFF, marker, keyframe)

    def close(self) -> None:
        self.closed = True


async def test_a_transform_that_re_emits_packets_keeps_the_subscriber_decoding() -> None:
    ps = await pub_sub(encoded_video(), encoded_audio(), frames=5)
    video = next(p for p in ps.producers if p.kind == "video")
    consumer = next(c for c in ps.consumers if c.producer is video)
    tap = RecordingTap()
    video.add_tap(tap)
    await wait_for(lambda: len(tap.packets) > 5, 10, "tapped packets")
    requests = video.keyframe_requests
    transform = Relabel(video)
    video.set_transform(transform)
    assert tap.restarts == 1 and consumer._waiting
    assert video.keyframe_requests > requests
    assert video.dump()["transform"] is True and video.transform is transform
    count = len(tap.packets)
    frames = ps.sub.frames[consumer.id]
    await ps.sub.wait_frames([consumer.id], frames + 30)
    assert transform.pushed > 30
    # taps and the consumer now see the transform's output (its sequence space)
    emitted = tap.packets[count:]
    assert emitted and {p[1] for p in emitted} <= transform.emitted
    assert consumer._mapper.start_seq in transform.emitted
    # replacing closes the old transform; clearing returns to plain forwarding
    second = Relabel(video, seq_shift=40000)
    video.set_transform(second)
    assert transform.closed and not second.closed and tap.restarts == 2
    frames = ps.sub.frames[consumer.id]
    await ps.sub.wait_frames([consumer.id], frames + 15)
    video.set_transform(None)
    assert second.closed and tap.restarts == 3
    pushed = second.pushed
    frames = ps.sub.frames[consumer.id]
    await ps.sub.wait_frames([consumer.id], frames + 30)
    assert second.pushed == pushed
    audio_consumer = next(c for c in ps.consumers if c.producer is not video)
    assert ps.sub.frames[audio_consumer.id] > 50
    await ps.close()


async def test_emit_without_a_transform_is_ignored_and_close_closes_the_transform() -> None:
    ps = await pub_sub(encoded_video(), frames=3)
    video = ps.producers[0]
    tap = RecordingTap()
    video.add_tap(tap)
    video.emit(b"\x10\x00", 1, 1, True, True)
    assert all(p[0] != b"\x10\x00" for p in tap.packets)
    transform = Relabel(video)
    video.set_transform(transform)
    await wait_for(lambda: transform.pushed > 5, 10, "pushed packets")
    video.close()
    assert transform.closed
    late = Relabel(video)
    with pytest.raises(MediaError):
        video.set_transform(late)
    assert late.closed
    await ps.close()
