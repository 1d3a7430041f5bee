"""Local producers: frames encoded on the server reach real aiortc subscribers, who decode them."""

from __future__ import annotations

import asyncio
import fractions
import math
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from media_helpers import (
    Subscriber,
    _config,
    encoded_video,
    publish,
    router_with_transports,
    wait_for,
)

from media import LocalProducer, MediaError, Router

pytestmark = pytest.mark.timeout(60)

WIDTH, HEIGHT, FPS = 320, 240, 30


@dataclass
class SizedSubscriber(Subscriber):
    """A subscriber that also keeps the size of every decoded video frame."""

    sizes: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    async def _read(self, track: MediaStreamTrack) -> None:
        self.sizes[track.id] = []
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame):
                    self.sizes[track.id].append((frame.width, frame.height))
                self.frames[track.id] += 1
        except MediaStreamError:
            self.ended.add(track.id)


def sized_subscriber(transport: Any) -> SizedSubscriber:
    pc = RTCPeerConnection(_config())
    sub = SizedSubscriber(pc, transport)
    pc.on("track", sub._on_track)
    return sub


class VideoFeeder:
    """Encodes moving frames with PyAV and sends them to a local producer in real time."""

    def __init__(self, lp: LocalProducer, codec: str) -> None:
        self.lp = lp
        self.ctx = av.CodecContext.create("libvpx" if codec == "vp8" else "libx264", "w")
        self.ctx.width, self.ctx.height, self.ctx.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        self.ctx.time_base = fractions.Fraction(1, FPS)
        self.ctx.bit_rate = 500_000
        self.ctx.gop_size = 1000
        if codec == "h264":
            self.ctx.options = {"tune": "zerolatency", "preset": "ultrafast"}
            self.ctx.profile = "Baseline"
        else:
            self.ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        self.keyframe_requests = 0
        self.force_keyframe = False
        lp.on_keyframe_request = self._on_request
        self.task = asyncio.ensure_future(self._run())

    def _on_request(self) -> None:
        self.keyframe_requests += 1
        self.force_keyframe = True

    async def _run(self) -> None:
        n = 0
        while True:
            img = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
            img[:, (n * 4) % WIDTH:(n * 4) % WIDTH + 20] = 230
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts = n
            if self.force_keyframe:
                frame.pict_type = av.video.frame.PictureType.I
                self.force_keyframe = False
            for packet in self.ctx.encode(frame):
                self.lp.send_frame(bytes(packet), n * 90000 // FPS, bool(packet.is_keyframe))
            n += 1
            await asyncio.sleep(1 / FPS)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


class AudioFeeder:
    """Encodes a tone with PyAV's libopus (20 ms frames) into a local producer."""

    def __init__(self, lp: LocalProducer) -> None:
        self.lp = lp
        self.ctx = av.CodecContext.create("libopus", "w")
        self.ctx.sample_rate = 48000
        self.ctx.layout = "stereo"
        self.ctx.format = "s16"
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        n = 0
        while True:
            t = (np.arange(960) + n * 960) / 48000
            tone = (np.sin(2 * math.pi * 440 * t) * 8000).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), format="s16",
                                               layout="stereo")
            frame.sample_rate = 48000
            frame.pts = n * 960
            for packet in self.ctx.encode(frame):
                self.lp.send_frame(bytes(packet), packet.pts or n * 960, True)
            n += 1
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@pytest.mark.parametrize(("codec", "mime"), [("vp8", "video/VP8"), ("h264", "video/H264")])
async def test_local_producer_frames_are_decoded_by_a_subscriber(codec: str, mime: str) -> None:
    router, _, recv_t = await router_with_transports()
    lp = router.create_local_producer("video", mime, app_data={"source": "composite"})
    assert lp not in router.producers and lp in router.local_producers
    feeder = VideoFeeder(lp, codec)
    sub = sized_subscriber(recv_t)
    consumer = recv_t.consume(lp)
    await sub.negotiate()
    await sub.wait_frames([consumer.id], 20)
    assert set(sub.sizes[consumer.id]) == {(WIDTH, HEIGHT)}
    assert feeder.keyframe_requests >= 1  # the new consumer asked for one
    assert consumer._sender_report() is not None  # sender reports on the local clock
    assert lp.wallclock(lp._sr[1]) is not None  # type: ignore[index]
    await feeder.stop()
    await sub.close()
    await router.close()
    assert lp.closed and consumer.closed


async def test_a_subscriber_pli_reaches_on_keyframe_request_and_nacks_are_answered() -> None:
    router, _, recv_t = await router_with_transports()
    lp = router.create_local_producer("video", "video/VP8")
    feeder = VideoFeeder(lp, "vp8")
    sub = sized_subscriber(recv_t)
    consumer = recv_t.consume(lp)
    await sub.negotiate()
    await sub.wait_frames([consumer.id], 10)
    before = feeder.keyframe_requests
    receiver = sub.pc.getTransceivers()[0].receiver
    await receiver._send_rtcp_pli(consumer.ssrc)
    await wait_for(lambda: feeder.keyframe_requests > before, 5, "keyframe request")
    await receiver._send_rtcp_nack(consumer.ssrc, [consumer._mapper.out_seq])
    await wait_for(lambda: consumer.retransmissions >= 1, 5, "retransmission")
    frames = sub.frames[consumer.id]
    await sub.wait_frames([consumer.id], frames + 10)
    await feeder.stop()
    await sub.close()
    await router.close()


async def test_local_audio_and_video_share_a_stream_and_decode() -> None:
    router, _, recv_t = await router_with_transports()
    video = router.create_local_producer("video", "video/VP8", stream_id="composite-1")
    audio = router.create_local_producer("audio", "audio/opus")
    audio.stream_id = "composite-1"
    feeders: list[Any] = [VideoFeeder(video, "vp8"), AudioFeeder(audio)]
    sub = sized_subscriber(recv_t)
    consumers = [recv_t.consume(video), recv_t.consume(audio)]
    offer = await sub.negotiate()
    assert len(offer) == 2
    await sub.wait_frames([c.id for c in consumers], 20)
    assert sub.offers[-1].count("msid:composite-1 ") == 2
    for f in feeders:
        await f.stop()
    await sub.close()
    await router.close()


async def test_newproducer_is_emitted_for_publishers_only_and_router_close_closes_locals(
        ) -> None:
    router, send_t, _ = await router_with_transports()
    seen: list[Any] = []
    router.observer.on("newproducer", seen.append)
    lp = router.create_local_producer("audio", "audio/opus")
    pub, producers = await publish(send_t, encoded_video())
    await asyncio.sleep(0)
    assert seen == producers
    assert lp not in router.producers
    await pub.close()
    await router.close()
    assert lp.closed and not router.local_producers
    with pytest.raises(MediaError):
        router.create_local_producer("video", "video/VP8")


async def test_unsupported_codecs_are_refused() -> None:
    router = Router()
    with pytest.raises(MediaError):
        router.create_local_producer("video", "video/AV1")
    with pytest.raises(MediaError):
        router.create_local_producer("audio", "video/VP8")
    h264 = router.create_local_producer("video", "video/H264")
    assert h264.codec.parameters["packetization-mode"] == "1"
    assert h264.codec.parameters["profile-level-id"] == "42e01f"
    await router.close()
