"""Pixelation of a producer with real aiortc peers: subscribers decode what the SFU re-encodes."""

from __future__ import annotations

import asyncio
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from media_helpers import (
    VIDEO_CLOCK,
    Encoded,
    Subscriber,
    encoded_audio,
    publish,
    router_with_transports,
    wait_for,
)

from media import MediaError
from media.pixelate import MAX_QUEUED_FRAMES, PixelateTransform, set_pixelation
from tests.support.textures import encode_pattern, laplacian_variance, region

FPS = 30


def checker_video(codec: str = "vp8") -> Encoded:
    """A fine checkerboard (4-pixel cells) with a moving square, 320x240."""
    return Encoded("video", codec, encode_pattern("checker", codec), VIDEO_CLOCK // FPS,
                   VIDEO_CLOCK, 1 / FPS)


class FrameSubscriber(Subscriber):
    """A subscriber that keeps the last decoded picture (grey levels) of every track."""

    latest: dict[str, np.ndarray]

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)
                self.latest[track.id] = frame.to_ndarray(format="gray")
                self.frames[track.id] += 1
        except MediaStreamError:
            self.ended.add(track.id)

    def detail(self, track_id: str, rect: tuple[float, float, float, float] | None = None) -> float:
        """Laplacian variance of the last picture of a track (or of a part of it)."""
        gray = self.latest[track_id]
        return laplacian_variance(gray if rect is None else region(gray, rect))

    async def next_frames(self, track_id: str, count: int) -> None:
        """Until `count` more pictures of the track have been decoded."""
        target = self.frames[track_id] + count
        await wait_for(lambda: self.frames[track_id] >= target, what=f"{count} frames")


def frame_subscriber(transport: Any) -> FrameSubscriber:
    """A FrameSubscriber peer for a recv transport."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[],
                                            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    sub = FrameSubscriber(pc, transport, capture_rtp=True)
    sub.latest = {}
    pc.on("track", sub._on_track)
    return sub


def payloads_of(sub: Subscriber, ssrc: int, since: int) -> set[bytes]:
    """Payloads of the media packets the subscriber received on `ssrc` since index `since`."""
    payloads = {p.payload for p in sub.received_rtp[since:] if p.ssrc == ssrc and p.payload}
    assert payloads
    return payloads


async def test_pixelation_destroys_detail_of_one_publisher_and_off_restores_forwarding() -> None:
    router, send_a, recv_t = await router_with_transports()
    send_b = await router.create_transport("send")
    pub_a, (producer_a,) = await publish(send_a, checker_video(), capture_rtp=True)
    pub_b, (producer_b,) = await publish(send_b, checker_video())
    sub = frame_subscriber(recv_t)
    try:
        a = recv_t.consume(producer_a)
        b = recv_t.consume(producer_b)
        await sub.negotiate()
        await sub.wait_frames([a.id, b.id], 10)
        detail_a, detail_b = sub.detail(a.id), sub.detail(b.id)
        assert detail_a > 10_000 and detail_b > 10_000  # the texture survives VP8

        transform = set_pixelation(producer_a, True)
        assert isinstance(transform, PixelateTransform)
        await wait_for(lambda: sub.detail(a.id) < detail_a / 10, what="A pixelated")
        since = len(sub.received_rtp)
        await sub.next_frames(a.id, 30)  # keeps flowing, keeps pixelated
        await sub.next_frames(b.id, 30)
        assert sub.detail(a.id) < detail_a / 10
        assert abs(sub.detail(b.id) - detail_b) < 0.3 * detail_b
        assert sub.latest[a.id].shape == (240, 320)
        sent_a = {p.payload for p in pub_a.sent_rtp}
        assert not payloads_of(sub, a.ssrc, since) & sent_a  # re-encoded, not forwarded
        assert transform.frames_out >= 30 and transform.decode_errors == 0

        assert set_pixelation(producer_a, False) is None
        assert transform.closed and producer_a.dump()["transform"] is False
        await wait_for(lambda: sub.detail(a.id) > detail_a * 0.7, what="A detailed again")
        since = len(sub.received_rtp)
        await sub.next_frames(a.id, 15)
        sent_a = {p.payload for p in pub_a.sent_rtp}
        assert payloads_of(sub, a.ssrc, since) <= sent_a  # forwarded as received
        assert abs(sub.detail(b.id) - detail_b) < 0.3 * detail_b
    finally:
        await sub.close()
        await pub_a.close()
        await pub_b.close()
        await router.close()


async def test_rect_pixelation_affects_only_that_region() -> None:
    router, send_t, recv_t = await router_with_transports()
    pub, (producer,) = await publish(send_t, checker_video())
    sub = frame_subscriber(recv_t)
    inside = (0.0, 0.0, 0.5, 0.4)  # top left, away from the moving square
    outside = (0.5, 0.0, 0.5, 0.4)  # top right
    try:
        c = recv_t.consume(producer)
        await sub.negotiate()
        await sub.wait_frames([c.id], 10)
        before_in, before_out = sub.detail(c.id, inside), sub.detail(c.id, outside)

        transform = set_pixelation(producer, True, rect=inside)
        assert transform is not None and transform.rect == inside
        await wait_for(lambda: sub.detail(c.id, inside) < before_in / 10, what="rect pixelated")
        await sub.next_frames(c.id, 10)
        assert sub.detail(c.id, inside) < before_in / 10
        assert abs(sub.detail(c.id, outside) - before_out) < 0.3 * before_out

        # moving the rectangle keeps the same transform (no restart for subscribers)
        assert set_pixelation(producer, True, rect=outside) is transform
        await wait_for(lambda: sub.detail(c.id, outside) < before_out / 10, what="moved")
        await wait_for(lambda: sub.detail(c.id, inside) > before_in * 0.7, what="left clear")
    finally:
        await sub.close()
        await pub.close()
        await router.close()


async def test_h264_publisher_is_pixelated_in_h264() -> None:
    router, send_t, recv_t = await router_with_transports()
    pub, (producer,) = await publish(send_t, checker_video("h264"))
    assert producer.mime_type.lower() == "video/h264"
    sub = frame_subscriber(recv_t)
    try:
        c = recv_t.consume(producer)
        await sub.negotiate()
        await sub.wait_frames([c.id], 10)
        before = sub.detail(c.id)
        assert before > 10_000

        transform = set_pixelation(producer, True, block=16)
        assert transform is not None
        await wait_for(lambda: sub.detail(c.id) < before / 10, what="H.264 pixelated")
        await sub.next_frames(c.id, 20)
        assert sub.detail(c.id) < before / 10
        assert transform.decode_errors == 0

        set_pixelation(producer, False)
        await wait_for(lambda: sub.detail(c.id) > before * 0.7, what="H.264 detailed again")
    finally:
        await sub.close()
        await pub.close()
        await router.close()


async def test_consumer_keyframe_request_forces_an_encoded_keyframe() -> None:
    router, send_t, recv_t = await router_with_transports()
    pub, (producer,) = await publish(send_t, checker_video())
    sub = frame_subscriber(recv_t)
    try:
        c = recv_t.consume(producer)
        await sub.negotiate()
        await sub.wait_frames([c.id], 5)
        before = sub.detail(c.id)
        set_pixelation(producer, True)
        await sub.next_frames(c.id, 10)
        # a late subscriber on the same producer decodes pixelated frames from its first one
        late = frame_subscriber(await router.create_transport("recv"))
        try:
            c2 = late.transport.consume(producer)
            await late.negotiate()
            await late.wait_frames([c2.id], 5)
            assert late.detail(c2.id) < before / 10
        finally:
            await late.close()
    finally:
        await sub.close()
        await pub.close()
        await router.close()


async def test_pixelation_is_refused_for_audio() -> None:
    router, send_t, _ = await router_with_transports()
    pub, (producer,) = await publish(send_t, None, encoded_audio())
    try:
        with pytest.raises(MediaError) as info:
            set_pixelation(producer, True)
        assert info.value.code == "wrong_kind"
        assert producer.transform is None
    finally:
        await pub.close()
        await router.close()


async def test_a_backlog_is_dropped_down_to_the_next_keyframe() -> None:
    router, send_t, recv_t = await router_with_transports()
    pub, (producer,) = await publish(send_t, checker_video())
    sub = frame_subscriber(recv_t)
    try:
        c = recv_t.consume(producer)
        await sub.negotiate()
        await sub.wait_frames([c.id], 5)
        before = sub.detail(c.id)
        transform = set_pixelation(producer, True)
        assert transform is not None
        await wait_for(lambda: sub.detail(c.id) < before / 10, what="pixelated")
        requests = producer.keyframe_requests
        with transform._cond:  # the worker cannot take anything: it is "behind"
            for seq in range(MAX_QUEUED_FRAMES * 3):
                transform.push(b"\x10\x01junk", seq, seq * 3000, True, False)
            assert transform.overflows == 1
            assert len(transform._queue) <= MAX_QUEUED_FRAMES + 1
        await asyncio.sleep(0)
        assert producer.keyframe_requests > requests  # the publisher is asked for a keyframe
        await sub.next_frames(c.id, 15)  # recovers at the publisher's next keyframe
        assert sub.detail(c.id) < before / 10
    finally:
        await sub.close()
        await pub.close()
        await router.close()
