"""Snapshots of producers published by real aiortc peers."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from media_helpers import (
    VIDEO_CLOCK,
    Encoded,
    encoded_audio,
    publish,
    router_with_transports,
    wait_for,
)
from PIL import Image

from media import MediaError
from media.pixelate import set_pixelation
from media.snapshot import Snapshot, take_snapshot
from tests.support.textures import SPLIT_COLOURS, encode_pattern, laplacian_variance

FPS = 30


def pattern_video(pattern: str, codec: str = "vp8") -> Encoded:
    """A 320x240 pattern video from tests.support.textures."""
    return Encoded("video", codec, encode_pattern(pattern, codec), VIDEO_CLOCK // FPS,
                   VIDEO_CLOCK, 1 / FPS)


def decode_jpeg(snapshot: Snapshot) -> np.ndarray:
    """The snapshot as an RGB array; checks it is a JPEG of the announced size."""
    assert snapshot.jpeg[:2] == b"\xff\xd8" and snapshot.jpeg[-2:] == b"\xff\xd9"
    image = Image.open(io.BytesIO(snapshot.jpeg))
    assert image.format == "JPEG"
    assert image.size == (snapshot.width, snapshot.height)
    return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_snapshot_is_a_jpeg_of_the_picture_with_its_colours(codec: str) -> None:
    router, send_t, _ = await router_with_transports()
    pub, (producer,) = await publish(send_t, pattern_video("split", codec))
    try:
        await wait_for(lambda: producer.packets > 0, what="media")
        snapshot = await take_snapshot(producer)
        assert (snapshot.width, snapshot.height) == (320, 240)
        rgb = decode_jpeg(snapshot).astype(np.float64)
        left = rgb[:, 20:140].reshape(-1, 3).mean(axis=0)
        right = rgb[:, 180:300].reshape(-1, 3).mean(axis=0)
        assert np.abs(left - SPLIT_COLOURS[0]).max() < 20, left
        assert np.abs(right - SPLIT_COLOURS[1]).max() < 20, right
        assert producer.dump()["taps"] == 0  # the tap is gone
    finally:
        await pub.close()
        await router.close()


async def test_snapshot_of_audio_is_wrong_kind() -> None:
    router, send_t, _ = await router_with_transports()
    pub, (producer,) = await publish(send_t, None, encoded_audio())
    try:
        with pytest.raises(MediaError) as info:
            await take_snapshot(producer)
        assert info.value.code == "wrong_kind"
    finally:
        await pub.close()
        await router.close()


async def test_snapshot_of_a_producer_sending_nothing_times_out() -> None:
    router, send_t, _ = await router_with_transports()
    pub, (producer,) = await publish(send_t, pattern_video("solid"))
    try:
        await wait_for(lambda: producer.packets > 0, what="media")
        pub.tracks["camera"].stop()  # the publisher stops sending
        count = -1
        while count != producer.packets:  # until nothing is in flight any more
            count = producer.packets
            await asyncio.sleep(0.2)
        with pytest.raises(MediaError) as info:
            await take_snapshot(producer, timeout=1.0)
        assert info.value.code == "timeout"
        assert producer.dump()["taps"] == 0
    finally:
        await pub.close()
        await router.close()


async def test_snapshot_of_a_closed_producer_is_refused() -> None:
    router, send_t, _ = await router_with_transports()
    pub, (producer,) = await publish(send_t, pattern_video("solid"))
    try:
        producer.close()
        with pytest.raises(MediaError) as info:
            await take_snapshot(producer)
        assert info.value.code == "closed"
    finally:
        await pub.close()
        await router.close()


async def test_snapshot_of_a_pixelated_producer_is_pixelated() -> None:
    router, send_t, _ = await router_with_transports()
    pub, (producer,) = await publish(send_t, pattern_video("checker"))
    try:
        await wait_for(lambda: producer.packets > 0, what="media")
        plain = await take_snapshot(producer)
        gray_plain = decode_jpeg(plain).mean(axis=2)
        assert laplacian_variance(gray_plain) > 10_000

        set_pixelation(producer, True)
        pixelated = await take_snapshot(producer)
        assert (pixelated.width, pixelated.height) == (320, 240)
        gray = decode_jpeg(pixelated).mean(axis=2)
        assert laplacian_variance(gray) < laplacian_variance(gray_plain) / 10
        assert abs(gray.mean() - gray_plain.mean()) < 20  # same picture, detail gone
    finally:
        await pub.close()
        await router.close()
