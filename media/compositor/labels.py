"""Name labels under tiles: rendered once with Pillow into a luma bitmap, then cached.

Fonts: DejaVu Sans from /usr/share/fonts; for names with CJK characters a CJK font
(Noto CJK, WenQuanYi, Droid Sans Fallback) when one is installed, else DejaVu (CJK then
renders as boxes); Pillow's built-in font when no TrueType font is found.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
LATIN_FONTS = ("DejaVuSans.ttf", "LiberationSans-Regular.ttf")
CJK_FONTS = ("NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf", "NotoSansSC-Regular.otf",
             "wqy-microhei.ttc", "wqy-zenhei.ttc", "DroidSansFallbackFull.ttf",
             "DroidSansFallback.ttf")
TEXT_Y = 235  # studio-range white
BACKGROUND_Y = 16  # studio-range black (the canvas background)
CACHE_SIZE = 256

AnyFont = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.cache
def find_font(names: tuple[str, ...]) -> Path | None:
    """The first installed font file of `names` (searched under the font directories)."""
    for name in names:
        for base in FONT_DIRS:
            if base.is_dir():
                for path in base.rglob(name):
                    return path
    return None


def has_cjk(text: str) -> bool:
    """True when `text` has CJK ideographs, kana or hangul."""
    return any(0x2E80 <= ord(c) <= 0x9FFF or 0xAC00 <= ord(c) <= 0xD7AF
               or 0xF900 <= ord(c) <= 0xFAFF or 0x20000 <= ord(c) <= 0x2FFFF for c in text)


@functools.cache
def _font(size: int, cjk: bool) -> AnyFont:
    path = (find_font(CJK_FONTS) if cjk else None) or find_font(LATIN_FONTS)
    if path is None:
        return ImageFont.load_default()
    return ImageFont.truetype(str(path), size)


def cjk_font_available() -> bool:
    """Whether names in Chinese/Japanese/Korean render with real glyphs."""
    return find_font(CJK_FONTS) is not None


def _ellipsize(draw: ImageDraw.ImageDraw, text: str, font: AnyFont, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…" if text else ""


def render_label(text: str, width: int, height: int) -> np.ndarray:
    """A `height` x `width` uint8 luma bitmap: `text` centred, white on black."""
    image = Image.new("L", (max(1, width), max(1, height)), BACKGROUND_Y)
    if text and width > 4 and height > 4:
        font = _font(max(8, int(height * 0.7)), has_cjk(text))
        draw = ImageDraw.Draw(image)
        shown = _ellipsize(draw, text, font, width - 4)
        left, top, right, bottom = draw.textbbox((0, 0), shown, font=font)
        x = (width - (right - left)) // 2 - left
        y = (height - (bottom - top)) // 2 - top
        draw.text((x, y), shown, fill=TEXT_Y, font=font)
    return np.asarray(image, dtype=np.uint8)


class LabelCache:
    """Rendered labels by (text, width, height); thread-safe, least recently used evicted."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.rendered = 0

    def get(self, text: str, width: int, height: int) -> np.ndarray:
        """The bitmap for `text` in a band of `width` x `height`."""
        key = (text, width, height)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        bitmap = render_label(text, width, height)
        with self._lock:
            self.rendered += 1
            self._items[key] = bitmap
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return bitmap


__all__ = ["LabelCache", "cjk_font_available", "find_font", "has_cjk", "render_label"]
