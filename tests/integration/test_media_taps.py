"""Taps and sender clocks on producers of real aiortc publishers."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest
from media_helpers import encoded_audio, encoded_video, pub_sub, wait_for

from media.depacketize import EncodedFrame, FrameAssembler

pytestmark = pytest.mark.timeout(60)


class RecordingTap:
    """Keeps every packet with the server time it was tapped at."""

    def __init__(self) -> None:
        self.packets: list[tuple[bytes, int, int, bool, bool, float]] = []
        self.restarts = 0

    def on_packet(self, payload: bytes, seq: int, ts: int, marker: bool, keyframe: bool) -> None:
        self.packets.append((payload, seq, ts, marker, keyframe, time.time()))

    def on_restart(self) -> None:
        self.restarts += 1


class FailingTap:
    """Raises on the third packet."""

    def __init__(self) -> None:
        self.calls = 0

    def on_packet(self, payload: bytes, seq: int, ts: int, marker: bool, keyframe: bool) -> None:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("tap broke")

    def on_restart(self) -> None:
        pass


def _frames(mime: str, packets: list[tuple[Any, ...]]) -> list[EncodedFrame]:
    assembler = FrameAssembler(mime)
    out: list[EncodedFrame] = []
    for p in packets:
        out += assembler.push(p[0], p[1], p[2], bool(p[3]), p[4])
    return out


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_tapped_frames_are_byte_identical_to_what_the_subscriber_receives(
        codec: str) -> None:
    ps = await pub_sub(encoded_video(codec), encoded_audio(), sub_capture_rtp=True)
    taps = {}
    for producer in ps.producers:
        taps[producer.kind] = tap = RecordingTap()
        producer.add_tap(tap)
    await ps.sub.wait_frames([c.id for c in ps.consumers], 30)
    for consumer, producer in zip(ps.consumers, ps.producers, strict=True):
        tapped = _frames(producer.mime_type, taps[producer.kind].packets)
        received = [p for p in ps.sub.received_rtp if p.ssrc == consumer.ssrc]
        got = _frames(producer.mime_type, [
            (p.payload, p.sequence_number, p.timestamp, p.marker, _key(producer, p.payload))
            for p in received])
        assert len(got) >= 20, producer.kind
        by_ts = {f.timestamp: f for f in tapped}
        ts_off = consumer._mapper.ts_off
        matched = 0
        for frame in got:
            source = by_ts.get((frame.timestamp - ts_off) & 0xFFFFFFFF)
            if source is not None:
                assert source.data == frame.data
                assert source.keyframe == frame.keyframe
                matched += 1
        assert matched >= len(got) - 2, (producer.kind, matched, len(got))
        assert all(p[4] for p in taps["audio"].packets)
    await ps.close()


def _key(producer: Any, payload: bytes) -> bool:
    return bool(producer._is_keyframe(payload))


async def test_wallclock_of_audio_and_video_of_one_publisher_agree() -> None:
    ps = await pub_sub(encoded_video(), encoded_audio())
    video = next(p for p in ps.producers if p.kind == "video")
    audio = next(p for p in ps.producers if p.kind == "audio")
    assert video.wallclock(0) is None  # no sender report yet
    taps = {"video": RecordingTap(), "audio": RecordingTap()}
    video.add_tap(taps["video"])
    audio.add_tap(taps["audio"])
    await wait_for(lambda: video._sr is not None and audio._sr is not None, 10, "sender reports")
    mark = {k: len(t.packets) for k, t in taps.items()}
    await wait_for(lambda: all(len(t.packets) > mark[k] + 40 for k, t in taps.items()), 10,
                   "packets after the sender reports")
    latency = {}
    for kind, producer in (("video", video), ("audio", audio)):
        values = []
        for p in taps[kind].packets[mark[kind]:]:
            at = producer.wallclock(p[2])
            assert at is not None
            values.append(p[5] - at)  # tapped at minus sampled at
        latency[kind] = statistics.median(values)
    # one timeline for both tracks: they sample in real time, so their delays agree
    assert abs(latency["audio"] - latency["video"]) < 0.1, latency
    assert -0.1 < latency["video"] < 1.0, latency
    # timestamps across the 32-bit wrap stay on the same timeline
    ts = video._sr[1]  # type: ignore[index]
    base = video.wallclock(ts)
    assert base is not None
    after = video.wallclock((ts + 90000) & 0xFFFFFFFF)
    assert after is not None and abs(after - base - 1.0) < 1e-6
    await ps.close()


async def test_a_failing_tap_is_removed_and_forwarding_continues() -> None:
    ps = await pub_sub(encoded_video(), frames=5)
    producer = ps.producers[0]
    bad, good = FailingTap(), RecordingTap()
    producer.add_tap(bad)
    producer.add_tap(good)
    await wait_for(lambda: len(good.packets) > 20, 10, "tapped packets")
    assert bad.calls == 3
    assert producer.dump()["taps"] == 1
    before = ps.sub.frames[ps.consumers[0].id]
    await wait_for(lambda: ps.sub.frames[ps.consumers[0].id] > before + 10, 10, "frames")
    producer.remove_tap(good)
    count = len(good.packets)
    await wait_for(lambda: ps.sub.frames[ps.consumers[0].id] > before + 20, 10, "frames")
    assert len(good.packets) == count
    await ps.close()


async def test_closed_producer_drops_its_taps_without_restart() -> None:
    ps = await pub_sub(encoded_video(), frames=3)
    producer = ps.producers[0]
    tap = RecordingTap()
    producer.add_tap(tap)
    await wait_for(lambda: len(tap.packets) > 5, 10, "tapped packets")
    producer.close()
    count = len(tap.packets)
    assert producer.dump()["taps"] == 0 and tap.restarts == 0
    await ps.sub.wait_frames([], 0)
    assert len(tap.packets) == count
    await ps.close()


async def test_pause_stops_tapping_and_resume_restarts_taps() -> None:
    ps = await pub_sub(encoded_video(), frames=3)
    producer = ps.producers[0]
    tap = RecordingTap()
    producer.add_tap(tap)
    await wait_for(lambda: len(tap.packets) > 5, 10, "tapped packets")
    producer.pause()
    count = len(tap.packets)
    before = producer.packets
    await wait_for(lambda: producer.packets > before + 10, 10, "packets while paused")
    assert len(tap.packets) == count
    producer.resume()
    assert tap.restarts == 1
    await wait_for(lambda: len(tap.packets) > count, 10, "tapped packets after resume")
    await ps.close()
