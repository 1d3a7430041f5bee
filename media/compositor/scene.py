"""What the composite shows: participants (sources), the layout mode, and the resulting cells."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import layout as geometry
from .audio_input import AudioInput
from .layout import Cell
from .video_input import VideoInput

SCREEN_SUFFIX = "#screen"


@dataclass
class Source:
    """One participant of the composite: a name and up to a camera, a microphone, a screen."""

    key: str
    label: str
    video: VideoInput | None = None
    audio: AudioInput | None = None
    screen: VideoInput | None = None
    producers: dict[str, Any] = field(default_factory=dict)  # "video"/"audio"/"screen" → producer


@dataclass(frozen=True)
class Tile:
    """A cell with what goes in it."""

    cell: Cell
    video: VideoInput | None
    label: str


def plan(sources: list[Source], mode: str, width: int, height: int,
         active: str | None, aspect: float = geometry.TILE_ASPECT) -> list[Tile]:
    """The tiles for `sources` in layout `mode` (pip without a screen share is a grid)."""
    by_key: dict[str, tuple[VideoInput | None, str]] = {}
    tiles: list[str] = []
    screen: str | None = None
    screen_camera: str | None = None
    for source in sources:
        by_key[source.key] = (source.video, source.label)
        tiles.append(source.key)
        if source.screen is not None:
            skey = source.key + SCREEN_SUFFIX
            by_key[skey] = (source.screen, f"{source.label} (screen)" if source.label else "")
            if screen is None:
                screen = skey
                screen_camera = source.key if source.video is not None else None
            if mode != "pip":
                tiles.append(skey)
    if mode == "speaker" and screen is not None:
        tiles = [k for k in tiles if not k.endswith(SCREEN_SUFFIX)]
        tiles.insert(0, screen)
        active = screen  # a shared screen is the large picture of the speaker layout
    cells = geometry.compute(mode, tiles, width, height, active=active, screen=screen,
                             screen_camera=screen_camera, aspect=aspect)
    return [Tile(cell, by_key[cell.key][0], by_key[cell.key][1]) for cell in cells]


def picture_aspect(sources: list[Source]) -> float:
    """The tile shape for the cameras' pictures decoded so far (see layout.tile_aspect)."""
    sizes = [s.video.last_size for s in sources if s.video is not None and s.video.last_size]
    return geometry.tile_aspect([size for size in sizes if size is not None])


__all__ = ["SCREEN_SUFFIX", "Source", "Tile", "picture_aspect", "plan"]
