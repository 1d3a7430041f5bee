"""Video with known content for pixel-level tests: fine textures and flat colours.

`encode_pattern()` encodes frames with PyAV (libvpx or libx264, as a browser
would send them) into packets a test publisher can play; `laplacian_variance()`
measures high-frequency detail of a decoded picture.
"""

from __future__ import annotations

import fractions
import functools

import av
import numpy as np

CELL = 4  # pixels per checkerboard cell: detail that 24-pixel pixelation destroys
SPLIT_COLOURS = ((220, 40, 40), (40, 60, 220))  # left half, right half (RGB)


def pattern_frame(pattern: str, width: int, height: int, index: int = 0) -> np.ndarray:
    """One RGB frame (height x width x 3) of a named pattern.

    - ``checker``: a black/white checkerboard of CELL-pixel cells with a small green
      square moving across it (the video is not static);
    - ``split``: the left half SPLIT_COLOURS[0], the right half SPLIT_COLOURS[1];
    - ``solid``: flat mid grey.
    """
    if pattern == "checker":
        yy, xx = np.mgrid[0:height, 0:width]
        luma = (((yy // CELL) + (xx // CELL)) % 2 * 255).astype(np.uint8)
        rgb = np.repeat(luma[:, :, None], 3, axis=2)
        size = 16
        x = (index * 2) % max(1, width - size)
        y = height // 2 - size // 2
        rgb[y:y + size, x:x + size] = (40, 200, 40)
        return rgb
    if pattern == "split":
        rgb = np.zeros((height, width, 3), np.uint8)
        rgb[:, : width // 2] = SPLIT_COLOURS[0]
        rgb[:, width // 2:] = SPLIT_COLOURS[1]
        return rgb
    if pattern == "solid":
        return np.full((height, width, 3), 128, np.uint8)
    raise ValueError(pattern)


@functools.cache
def encode_pattern(pattern: str, codec: str = "vp8", width: int = 320, height: int = 240,
                   fps: int = 30, frames: int = 60,
                   bitrate: int = 1_500_000) -> list[tuple[bytes, bool]]:
    """Packets (data, is_keyframe) of `frames` frames of a pattern; only the first is a keyframe."""
    if codec == "vp8":
        ctx = av.CodecContext.create("libvpx", "w")
        ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                       "auto-alt-ref": "0"}
    elif codec == "h264":
        ctx = av.CodecContext.create("libx264", "w")
        ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline"}
    else:
        raise ValueError(codec)
    ctx.width = width
    ctx.height = height
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = fractions.Fraction(1, fps)
    ctx.framerate = fractions.Fraction(fps, 1)
    ctx.bit_rate = bitrate
    ctx.gop_size = frames + 1
    ctx.max_b_frames = 0
    packets: list[tuple[bytes, bool]] = []
    for index in range(frames):
        frame = av.VideoFrame.from_ndarray(pattern_frame(pattern, width, height, index),
                                           format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        for packet in ctx.encode(frame):
            packets.append((bytes(packet), bool(packet.is_keyframe)))
    for packet in ctx.encode(None):
        packets.append((bytes(packet), bool(packet.is_keyframe)))
    assert packets and packets[0][1] and not any(key for _, key in packets[1:])
    return packets


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of a 2-D picture: high for fine detail."""
    a = gray.astype(np.float64)
    lap = (4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:])
    return float(lap.var())


def region(gray: np.ndarray, rect: tuple[float, float, float, float],
           margin: int = 4) -> np.ndarray:
    """The part of a picture inside `rect` (0..1 fractions), shrunk by `margin` pixels."""
    h, w = gray.shape[:2]
    x0, y0 = int(rect[0] * w) + margin, int(rect[1] * h) + margin
    x1, y1 = int((rect[0] + rect[2]) * w) - margin, int((rect[1] + rect[3]) * h) - margin
    return gray[y0:y1, x0:x1]


__all__ = ["CELL", "SPLIT_COLOURS", "encode_pattern", "laplacian_variance", "pattern_frame",
           "region"]
