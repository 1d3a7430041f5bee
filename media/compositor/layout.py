"""Layout geometry of the composite: grid, speaker (large + strip) and picture-in-picture.

Pure functions: given the tiles to show and the canvas size they return cells (the video
area of each tile and the label band under it). Every rectangle has even coordinates and
sizes, so it maps onto whole chroma samples of a YUV 4:2:0 canvas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LAYOUTS = ("grid", "speaker", "pip")
TILE_ASPECT = 4 / 3  # the shape grid tiles are sized for (cameras are mostly 4:3 or 16:9)
GAP = 4  # pixels between tiles


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle in canvas pixels."""

    x: int
    y: int
    w: int
    h: int

    def __post_init__(self) -> None:
        if self.w < 0 or self.h < 0:
            raise ValueError(f"negative size {self.w}x{self.h}")

    @property
    def center(self) -> tuple[int, int]:
        """The centre point."""
        return self.x + self.w // 2, self.y + self.h // 2


@dataclass(frozen=True)
class Cell:
    """Where one tile goes: `video` is the area its picture is fitted into, `label` the
    band for its name (None: no label, e.g. the picture-in-picture corner)."""

    key: str
    video: Rect
    label: Rect | None
    role: str = "tile"  # "tile", "speaker", "strip", "screen", "corner"


def _even(value: float) -> int:
    """Round down to an even integer (never below 2)."""
    return max(2, int(value) & ~1)


def fit(src_w: int, src_h: int, area: Rect) -> Rect:
    """The largest rectangle of the source's aspect ratio centred in `area` (letterbox)."""
    if src_w <= 0 or src_h <= 0:
        return area
    scale = min(area.w / src_w, area.h / src_h)
    w = min(area.w, _even(src_w * scale))
    h = min(area.h, _even(src_h * scale))
    x = area.x + ((area.w - w) // 2 & ~1)
    y = area.y + ((area.h - h) // 2 & ~1)
    return Rect(x, y, w, h)


def label_height(canvas_h: int) -> int:
    """Height of the name band under a tile for a canvas of this height."""
    return _even(max(16, min(28, canvas_h / 26)))


def grid_shape(n: int, width: int, height: int, label_h: int,
               aspect: float = TILE_ASPECT) -> tuple[int, int]:
    """(columns, rows) giving the largest tiles of `aspect` for `n` tiles."""
    if n <= 0:
        return 0, 0
    best = (1, n)
    best_area = -1.0
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        if (rows - 1) * cols >= n:  # a whole empty row: never better
            continue
        cell_w = (width - GAP * (cols + 1)) / cols
        cell_h = (height - GAP * (rows + 1)) / rows - label_h
        if cell_w <= 0 or cell_h <= 0:
            continue
        tile_w = min(cell_w, cell_h * aspect)
        area = tile_w * (tile_w / aspect)
        if area > best_area + 1e-6:
            best, best_area = (cols, rows), area
    return best


def _tile(key: str, x: float, y: float, w: float, h: float, label_h: int,
          role: str = "tile") -> Cell:
    """A cell whose video area is `w` x (`h` - label band) with the band right under it."""
    vx, vy = _even(x) if x >= 2 else 0, _even(y) if y >= 2 else 0
    vw, vh = _even(w), _even(h - label_h)
    return Cell(key, Rect(vx, vy, vw, vh), Rect(vx, vy + vh, vw, label_h) if label_h else None,
                role)


def grid(keys: list[str], width: int, height: int, label_h: int | None = None,
         aspect: float = TILE_ASPECT) -> list[Cell]:
    """Tiles of equal size in rows, centred; an incomplete last row is centred too."""
    n = len(keys)
    if n == 0:
        return []
    lh = label_height(height) if label_h is None else label_h
    cols, rows = grid_shape(n, width, height, lh, aspect)
    cell_w = (width - GAP * (cols + 1)) / cols
    cell_h = (height - GAP * (rows + 1)) / rows - lh
    tile_w = min(cell_w, cell_h * aspect)
    tile_h = tile_w / aspect
    block_h = rows * (tile_h + lh) + (rows - 1) * GAP
    top = (height - block_h) / 2
    cells = []
    for i, key in enumerate(keys):
        row, col = divmod(i, cols)
        in_row = min(cols, n - row * cols)
        left = (width - (in_row * tile_w + (in_row - 1) * GAP)) / 2
        x = left + col * (tile_w + GAP)
        y = top + row * (tile_h + lh + GAP)
        cells.append(_tile(key, x, y, tile_w, tile_h + lh, lh))
    return cells


def speaker(keys: list[str], active: str | None, width: int, height: int,
            label_h: int | None = None, max_strip: int = 8) -> list[Cell]:
    """The active speaker (or the first tile) large on top, the others in a strip below."""
    if not keys:
        return []
    lh = label_height(height) if label_h is None else label_h
    main = active if active in keys else keys[0]
    others = [k for k in keys if k != main][:max_strip]
    if not others:
        return [_tile(main, GAP, GAP, width - 2 * GAP, height - 2 * GAP, lh, "speaker")]
    strip_h = height * 0.22
    per = max(len(others), 4)
    strip_tile_w = min((width - GAP * (per + 1)) / per, (strip_h - lh - GAP) * TILE_ASPECT)
    strip_tile_h = strip_tile_w / TILE_ASPECT
    strip_total = strip_tile_h + lh
    main_h = height - strip_total - 3 * GAP
    cells = [_tile(main, GAP, GAP, width - 2 * GAP, main_h, lh, "speaker")]
    row_w = len(others) * strip_tile_w + (len(others) - 1) * GAP
    left = (width - row_w) / 2
    y = height - GAP - strip_total
    for i, key in enumerate(others):
        cells.append(_tile(key, left + i * (strip_tile_w + GAP), y, strip_tile_w, strip_total,
                           lh, "strip"))
    return cells


def pip(screen_key: str, camera_key: str | None, width: int, height: int) -> list[Cell]:
    """The screen share over the whole canvas, the sharer's camera in the bottom-right corner."""
    cells = [Cell(screen_key, Rect(0, 0, _even(width), _even(height)), None, "screen")]
    if camera_key is not None:
        w = _even(width / 4)
        h = _even(w / TILE_ASPECT)
        margin = _even(max(8, width / 80))
        cells.append(Cell(camera_key, Rect(_even(width - w - margin), _even(height - h - margin),
                                           w, h), None, "corner"))
    return cells


WIDE_ASPECT = 16 / 9


def tile_aspect(sizes: list[tuple[int, int]]) -> float:
    """The shape to size grid tiles for: 16:9 if most pictures are wide, else 4:3."""
    wide = sum(1 for w, h in sizes if h > 0 and w / h > 1.55)
    return WIDE_ASPECT if sizes and wide * 2 > len(sizes) else TILE_ASPECT


def compute(mode: str, tiles: list[str], width: int, height: int, *,
            active: str | None = None, screen: str | None = None,
            screen_camera: str | None = None, aspect: float = TILE_ASPECT) -> list[Cell]:
    """Cells for `mode`: "grid", "speaker", or "pip" (a grid when there is no `screen`);
    grid tiles are sized for pictures of `aspect`."""
    if mode not in LAYOUTS:
        raise ValueError(f"unknown layout {mode!r}")
    if mode == "pip" and screen is not None:
        return pip(screen, screen_camera, width, height)
    if mode == "speaker":
        return speaker(tiles, active, width, height)
    return grid(tiles, width, height, aspect=aspect)


__all__ = ["GAP", "LAYOUTS", "Cell", "Rect", "compute", "fit", "grid", "grid_shape",
           "label_height", "pip", "speaker", "tile_aspect"]
