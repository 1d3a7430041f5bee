"""The compositor's worker loops: decode (all video inputs), compose + encode video at a fixed
rate, decode + mix + encode audio every 20 ms."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from .canvas import PLACEHOLDER, Canvas
from .encode import AudioEncoder, VideoEncoder
from .labels import LabelCache
from .layout import Rect, fit
from .mixer import FRAME, RATE, Mixer
from .scene import Tile, picture_aspect, plan
from .video_input import Picture, Scaler

if TYPE_CHECKING:
    from .compositor import Compositor

logger = logging.getLogger(__name__)

MAX_LATE_TICKS = 1  # ticks behind schedule before ticks are skipped


class DecodeLoop:
    """Decodes every video input as its packets arrive."""

    def __init__(self, comp: Compositor) -> None:
        self._comp = comp
        self._event = threading.Event()
        self._failed: set[int] = set()

    def wake(self) -> None:
        """Packets arrived (any thread)."""
        self._event.set()

    def run(self) -> None:
        """Thread body."""
        comp = self._comp
        while not comp.stopping:
            self._event.wait(0.05)
            self._event.clear()
            _, _, sources = comp.snapshot()
            busy = True
            while busy and not comp.stopping:
                busy = False
                for source in sources:
                    for video in (source.video, source.screen):
                        if video is None or video.closed:
                            continue
                        try:
                            video.process(budget=16)
                        except Exception:
                            if id(video) not in self._failed:
                                self._failed.add(id(video))
                                logger.exception("compositor decode failed")
                        busy = busy or video.pending()


class ComposeLoop:
    """Ticks at `fps`: picks a picture per tile by wallclock, pastes, encodes, delivers."""

    def __init__(self, comp: Compositor, encoder: VideoEncoder) -> None:
        self._comp = comp
        self._encoder = encoder
        self._canvas = Canvas(comp.width, comp.height)
        self._labels = LabelCache()
        self._scaler = Scaler()
        self._version = -1
        self._speaker: str | None = None
        self._aspect = 0.0
        self._tiles: list[Tile] = []
        self._shown: dict[str, tuple[Picture, Rect]] = {}  # cell key → what is on the canvas
        self.frames = 0
        self.errors = 0
        self.dropped = 0
        self.compose_s = 0.0
        self.encode_s = 0.0

    def run(self) -> None:
        """Thread body."""
        comp = self._comp
        assert comp.started_at is not None
        period = 1.0 / comp.fps
        tick = 0
        while not comp.stopping:
            due = comp.started_at + tick * period
            now = time.time()
            if now < due:
                if comp.wait(due - now):
                    break
            elif now - due > MAX_LATE_TICKS * period:  # behind: skip to the current tick
                skip = int((now - due) / period)
                self.dropped += skip
                tick += skip
                due = comp.started_at + tick * period
            try:
                self.tick(tick, due)
            except Exception:
                self.errors += 1
                if self.errors == 1 or self.errors % 1000 == 0:
                    logger.exception("compositor tick failed (%d so far)", self.errors)
            tick += 1

    def tick(self, tick: int, now: float) -> None:
        """Compose and encode output frame `tick`, due at wallclock `now`."""
        comp = self._comp
        t0 = time.thread_time()
        self._relayout()
        at = now - comp.playout_delay + 0.5 / comp.fps  # nearest picture, not the one before
        for tile in self._tiles:
            self._draw(tile, at)
        t1 = time.thread_time()
        packets = self._encoder.encode(self._canvas.frame(), tick, comp.take_keyframe_request())
        t2 = time.thread_time()
        self.compose_s += t1 - t0
        self.encode_s += t2 - t1
        self.frames += 1
        comp.deliver("video", packets, tick * 90000 // comp.fps)

    def _relayout(self) -> None:
        comp = self._comp
        version, mode, sources = comp.snapshot()
        speaker = comp._audio.mixer.active_speaker if mode == "speaker" else None
        aspect = picture_aspect(sources)  # 16:9 tiles once most cameras turn out wide
        if version == self._version and speaker == self._speaker and aspect == self._aspect:
            return
        self._version, self._speaker, self._aspect = version, speaker, aspect
        tiles = plan(sources, mode, comp.width, comp.height, speaker, aspect)
        shown = {t.video for t in tiles if t.video is not None}
        for source in sources:  # inputs not on screen: decode but do not pre-scale
            for video in (source.video, source.screen):
                if video is not None and video not in shown:
                    video.set_target(None)
        for tile in tiles:
            if tile.video is not None:
                tile.video.set_target(tile.cell.video)
        canvas = self._canvas
        canvas.clear()
        for tile in tiles:
            canvas.fill(tile.cell.video, PLACEHOLDER)
            if tile.cell.label is not None:
                rect = tile.cell.label
                canvas.paste_luma(rect, self._labels.get(tile.label, rect.w, rect.h))
        self._tiles = tiles
        self._shown = {}
        comp.request_keyframe()  # a new layout is a new picture

    def _draw(self, tile: Tile, at: float) -> None:
        video = tile.video
        if video is None:
            return
        picture = video.pick(at)
        key = tile.cell.key
        if picture is None:
            return
        last = self._shown.get(key)
        if last is not None and last[0] is picture:
            return
        frame = picture.frame
        box = fit(frame.width, frame.height, tile.cell.video)
        if picture.planes is not None and picture.size == (box.w, box.h):
            planes = picture.planes
        else:  # layout changed since it was decoded: scale here
            planes = self._scaler.scale(frame, box.w, box.h)
        if last is None or last[1] != box:
            self._canvas.fill(tile.cell.video)
            self._place_label(tile, box)
        self._canvas.paste(box, planes)
        self._shown[key] = (picture, box)

    def _place_label(self, tile: Tile, box: Rect) -> None:
        """The name right under the picture: in the tile's band, or in a letterbox bar."""
        band = tile.cell.label
        if band is None:
            return
        below = box.y + box.h
        rect = band
        if band.y - below >= band.h:  # a letterboxed picture: the bar under it holds the name
            rect = Rect(band.x, below, band.w, band.h)
            self._canvas.fill(band)
        self._canvas.paste_luma(rect, self._labels.get(tile.label, rect.w, rect.h))

    def stats(self) -> dict[str, Any]:
        """Frames, dropped ticks and mean ms of compose and encode."""
        n = self.frames
        return {
            "frames": n, "dropped_ticks": self.dropped,
            "compose_ms": 1000 * self.compose_s / n if n else 0.0,
            "encode_ms": 1000 * self.encode_s / n if n else 0.0,
        }


class AudioLoop:
    """Every 20 ms: decode audio inputs, mix the frame due, encode it, deliver."""

    def __init__(self, comp: Compositor, encoder: AudioEncoder) -> None:
        self._comp = comp
        self._encoder = encoder
        self.mixer = Mixer()
        self.frames = 0
        self.errors = 0
        self.seconds = 0.0

    def run(self) -> None:
        """Thread body."""
        comp = self._comp
        assert comp.started_at is not None
        index = 0
        while not comp.stopping:
            due = comp.started_at + (index + 1) * FRAME / RATE  # the frame's end has come
            now = time.time()
            if now < due:
                if comp.wait(due - now):
                    break
            elif now - due > 0.2:  # far behind (a stall): skip ahead, the gap stays silent
                index += int((now - due) * RATE / FRAME)
                continue
            try:
                self.step(index)
            except Exception:
                self.errors += 1
                if self.errors == 1 or self.errors % 1000 == 0:
                    logger.exception("compositor audio failed (%d so far)", self.errors)
            index += 1

    def step(self, index: int) -> None:
        """Mix and encode output audio frame `index`."""
        t0 = time.thread_time()
        _, _, sources = self._comp.snapshot()
        position = index * FRAME
        frames = {}
        for source in sources:
            if source.audio is None:
                continue
            source.audio.process()
            frames[source.key] = source.audio.buffer.read(position)
        mixed = self.mixer.mix(frames)
        packets = self._encoder.encode(mixed, position)
        self.seconds += time.thread_time() - t0
        self.frames += 1
        self._comp.deliver("audio", packets, position)

    def stats(self) -> dict[str, Any]:
        """Frames and mean ms per frame."""
        n = self.frames
        return {"frames": n, "audio_ms": 1000 * self.seconds / n if n else 0.0}


__all__ = ["AudioLoop", "ComposeLoop", "DecodeLoop"]
