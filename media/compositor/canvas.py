"""The composite picture: one reusable YUV 4:2:0 buffer, planes pasted with numpy."""

from __future__ import annotations

import av
import numpy as np

from .layout import Rect

BLACK = (16, 128, 128)
PLACEHOLDER = (40, 128, 128)  # a tile with no picture (yet): dark grey


class Canvas:
    """A `width` x `height` yuv420p picture backed by one contiguous numpy buffer."""

    def __init__(self, width: int, height: int) -> None:
        if width % 2 or height % 2:
            raise ValueError("canvas size must be even")
        self.width, self.height = width, height
        self.buffer = np.empty((height * 3 // 2, width), dtype=np.uint8)
        q = height // 4
        self.y = self.buffer[:height]
        self.u = self.buffer[height:height + q].reshape(height // 2, width // 2)
        self.v = self.buffer[height + q:].reshape(height // 2, width // 2)
        self.clear()

    def clear(self, colour: tuple[int, int, int] = BLACK) -> None:
        """Fill the whole picture."""
        self.y.fill(colour[0])
        self.u.fill(colour[1])
        self.v.fill(colour[2])

    def fill(self, rect: Rect, colour: tuple[int, int, int] = BLACK) -> None:
        """Fill `rect` (even coordinates)."""
        self.y[rect.y:rect.y + rect.h, rect.x:rect.x + rect.w] = colour[0]
        cx, cy, cw, ch = rect.x // 2, rect.y // 2, rect.w // 2, rect.h // 2
        self.u[cy:cy + ch, cx:cx + cw] = colour[1]
        self.v[cy:cy + ch, cx:cx + cw] = colour[2]

    def paste(self, rect: Rect, planes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """Copy Y, U, V planes of `rect`'s size to `rect` (clipped to the canvas)."""
        y, u, v = planes
        h = min(rect.h, y.shape[0], self.height - rect.y)
        w = min(rect.w, y.shape[1], self.width - rect.x)
        if h <= 0 or w <= 0:
            return
        self.y[rect.y:rect.y + h, rect.x:rect.x + w] = y[:h, :w]
        cx, cy, cw, ch = rect.x // 2, rect.y // 2, w // 2, h // 2
        self.u[cy:cy + ch, cx:cx + cw] = u[:ch, :cw]
        self.v[cy:cy + ch, cx:cx + cw] = v[:ch, :cw]

    def paste_luma(self, rect: Rect, luma: np.ndarray) -> None:
        """Copy a luma bitmap (e.g. a label) to `rect`; chroma there becomes neutral."""
        h = min(rect.h, luma.shape[0], self.height - rect.y)
        w = min(rect.w, luma.shape[1], self.width - rect.x)
        if h <= 0 or w <= 0:
            return
        self.y[rect.y:rect.y + h, rect.x:rect.x + w] = luma[:h, :w]
        cx, cy, cw, ch = rect.x // 2, rect.y // 2, w // 2, h // 2
        self.u[cy:cy + ch, cx:cx + cw] = 128
        self.v[cy:cy + ch, cx:cx + cw] = 128

    def frame(self) -> av.VideoFrame:
        """An av.VideoFrame viewing the buffer (no copy; valid until the next change)."""
        return av.VideoFrame.from_numpy_buffer(self.buffer, format="yuv420p")


__all__ = ["BLACK", "PLACEHOLDER", "Canvas"]
