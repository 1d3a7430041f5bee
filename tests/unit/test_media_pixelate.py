"""Pixelation of decoded frames and the re-encoder (real PyAV, no network)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from media import MediaError
from media.pixelate import (
    VideoEncoder,
    codec_name,
    open_decoder,
    pixel_rect,
    pixelate_frame,
    validate_rect,
)


def _frame(width: int = 96, height: int = 64, seed: int = 1) -> av.VideoFrame:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")


def _luma(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="yuv420p")[: frame.height].astype(np.int64)


def test_whole_frame_becomes_uniform_blocks_of_the_block_average() -> None:
    frame = _frame()
    original = _luma(frame).copy()
    out = _luma(pixelate_frame(frame, None, 16))
    for by in range(0, 64, 16):
        for bx in range(0, 96, 16):
            cell = out[by:by + 16, bx:bx + 16]
            assert cell.min() == cell.max()
            assert abs(int(cell[0, 0]) - original[by:by + 16, bx:bx + 16].mean()) <= 1
    assert (_luma(frame) == original).all()  # the input (a decoder's buffer) is untouched


def test_partial_blocks_at_the_edges_are_averaged_too() -> None:
    frame = _frame(100, 70)
    out = _luma(pixelate_frame(frame, None, 24))
    corner = out[48:70, 96:100]
    assert corner.min() == corner.max()


def test_rect_pixelation_leaves_the_rest_of_the_frame_alone() -> None:
    frame = _frame()
    original = _luma(frame)
    out = _luma(pixelate_frame(frame, (0.5, 0.0, 0.5, 0.5), 8))
    assert (out[:, :48] == original[:, :48]).all()
    assert (out[32:, :] == original[32:, :]).all()
    assert not (out[:32, 48:] == original[:32, 48:]).all()
    assert pixel_rect(96, 64, (0.5, 0.0, 0.5, 0.5)) == (48, 0, 48, 32)


def test_rects_are_validated() -> None:
    assert validate_rect(None) is None
    assert validate_rect((0.5, 0.5, 0.9, 0.9)) == (0.5, 0.5, 0.5, 0.5)
    for bad in [(0, 0, 0, 1), (-0.1, 0, 1, 1), (0, 1.0, 1, 1), (0, 0, 1)]:
        with pytest.raises(ValueError):
            validate_rect(bad)  # type: ignore[arg-type]


def test_only_vp8_and_h264_are_handled() -> None:
    assert codec_name("video/VP8") == "vp8" and codec_name("video/H264") == "h264"
    with pytest.raises(MediaError) as info:
        codec_name("audio/opus")
    assert info.value.code == "wrong_kind"


@pytest.mark.parametrize("mime", ["video/VP8", "video/H264"])
def test_encoder_keyframes_only_when_asked_and_decodes(mime: str) -> None:
    encoder = VideoEncoder(mime, 96, 64)
    decoder = open_decoder(mime)
    keys = []
    decoded = 0
    for index in range(6):
        for data, pts, key in encoder.encode(_frame(seed=index), index * 3000, index in (0, 4)):
            assert pts == index * 3000
            keys.append(key)
            if mime == "video/H264":
                assert data.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01"))
            decoded += len(decoder.decode(av.Packet(data)))
    assert keys == [True, False, False, False, True, False]
    assert decoded == 6
