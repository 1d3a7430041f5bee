"""Records one room: every producer of its router per track, plus the composite."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .composite_recorder import CompositeRecorder, composite_suffix
from .track_recorder import TrackRecorder, track_codec, track_suffix

log = logging.getLogger(__name__)

UPDATE_INTERVAL = 5.0  # seconds between size/duration updates in the catalog
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def participant_info(producer: Any) -> dict[str, Any]:
    """participant_id, user_id, name, source of a producer (its app_data, then its transport's)."""
    info: dict[str, Any] = {}
    for data in (getattr(getattr(producer, "transport", None), "app_data", None),
                 getattr(producer, "app_data", None)):
        if isinstance(data, dict):
            info.update({k: data[k] for k in ("participant_id", "user_id", "name", "source")
                         if data.get(k) is not None})
    info.setdefault("source", "camera" if producer.kind == "video" else "microphone")
    return info


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("._")[:40] or "x"


@dataclass(eq=False)
class RecordedFile:
    """One file of the recording: its catalog id, where it is, and what writes it."""

    file_id: str
    kind: str  # "track" | "composite"
    media_kind: str  # "audio" | "video" | "av"
    rel_path: str
    recorder: TrackRecorder | CompositeRecorder
    started_at: float
    producer_id: str | None = None
    user_id: str | None = None
    ended: bool = False

    def figures(self) -> tuple[int, float]:
        """(plaintext size, media duration) so far."""
        if isinstance(self.recorder, TrackRecorder):
            stats = self.recorder.stats()
            return stats.size, stats.duration
        mux = self.recorder.stats
        return mux.size, mux.duration


class RoomRecorder:
    """Records the producers of `router` (present and later ones) and the composite.

    A track's recorder stops when its producer closes. Sizes and durations go to the
    catalog every UPDATE_INTERVAL seconds, so a crash leaves figures close to right.
    """

    def __init__(self, recording_id: str, router: Any, compositor: Any, *, catalog: Any,
                 root: Path, rel_dir: str, key: bytes, started_at: float | None = None,
                 update_interval: float = UPDATE_INTERVAL, flush_interval: float = 1.0) -> None:
        self.recording_id = recording_id
        self.router = router
        self.compositor = compositor
        self.catalog = catalog
        self.root = Path(root)
        self.rel_dir = rel_dir
        self.key = key
        self.started_at = started_at if started_at is not None else time.time()
        self.files: list[RecordedFile] = []
        self.tracks: dict[str, RecordedFile] = {}  # producer id -> its file
        self.composite: RecordedFile | None = None
        self._update_interval = update_interval
        self._flush_interval = flush_interval
        self._participants: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._updater: asyncio.Task[None] | None = None
        self._stopping = False
        self._started = False

    @property
    def directory(self) -> Path:
        """The absolute directory of this recording's files."""
        return self.root / self.rel_dir

    async def start(self) -> None:
        """Create the directory, record every producer and the composite, follow the router."""
        await asyncio.to_thread(self._make_dir)
        self._started = True
        self.router.observer.on("newproducer", self._on_new_producer)
        for producer in list(self.router.producers):
            await self._add_track(producer)
        if self.compositor is not None:
            await self._add_composite()
        self._updater = asyncio.ensure_future(self._update_loop())

    async def stop(self, status: str = "complete") -> None:
        """Stop every recorder and write the final figures of each file."""
        if self._stopping:
            return
        self._stopping = True
        if self._started:
            self.router.observer.remove_listener("newproducer", self._on_new_producer)
        if self._updater is not None:
            self._updater.cancel()
            await asyncio.gather(self._updater, return_exceptions=True)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await asyncio.gather(*(self._end(f, status) for f in self.files if not f.ended))

    # -- tracks ------------------------------------------------------------------------------

    def _on_new_producer(self, producer: Any) -> None:
        self._spawn(self._add_track(producer))

    async def _add_track(self, producer: Any) -> None:
        if self._stopping or producer.closed or producer.id in self.tracks:
            return
        try:
            codec = track_codec(producer.mime_type)
        except ValueError:
            log.warning("recording.track_skipped recording=%s producer=%s mime=%s",
                        self.recording_id, producer.id, producer.mime_type)
            return
        info = participant_info(producer)
        who = info.get("user_id") or info.get("participant_id") or "anon"
        name = f"{_safe(str(who))}-{_safe(info['source'])}-{producer.kind}-{_safe(producer.id)}"
        suffix = track_suffix(producer.mime_type)
        rel = f"{self.rel_dir}/{name}{suffix}"
        started = time.time()
        recorder = TrackRecorder(producer, self.root / rel, self.key, self.started_at,
                                 flush_interval=self._flush_interval)
        placeholder = RecordedFile("", "track", producer.kind, rel, recorder, started,
                                   producer.id, info.get("user_id"))
        self.tracks[producer.id] = placeholder
        producer.observer.once("close", lambda *_: self._spawn(self._end_track(producer.id)))
        try:
            placeholder.file_id = await self.catalog.add_file(
                self.recording_id, kind="track", user_id=info.get("user_id"),
                name=str(info.get("name") or ""), source=str(info["source"]),
                media_kind=producer.kind, codec=codec, container=suffix[1:], path=rel,
                started_at=started)
        except Exception:
            log.exception("recording.add_file_failed recording=%s", self.recording_id)
            await recorder.stop()
            placeholder.ended = True
            return
        self.files.append(placeholder)
        user_id = info.get("user_id")
        if user_id and user_id not in self._participants:
            self._participants.add(user_id)
            await self.catalog.add_participant(self.recording_id, user_id=str(user_id),
                                               name=str(info.get("name") or ""))
        if producer.closed:  # closed while the catalog was written
            await self._end_track(producer.id)

    async def _end_track(self, producer_id: str) -> None:
        file = self.tracks.get(producer_id)
        if file is not None and file.file_id and not file.ended:
            await self._end(file, "complete")

    # -- composite ---------------------------------------------------------------------------

    async def _add_composite(self) -> None:
        comp = self.compositor
        suffix = composite_suffix(comp)
        rel = f"{self.rel_dir}/composite{suffix}"
        started = time.time()
        recorder = CompositeRecorder(comp, self.root / rel, self.key, self.started_at,
                                     flush_interval=self._flush_interval)
        file_id = await self.catalog.add_file(
            self.recording_id, kind="composite", user_id=None, name="composite",
            source="composite", media_kind="av", codec=f"{recorder.codec}+opus",
            container=suffix[1:], path=rel, started_at=started)
        self.composite = RecordedFile(file_id, "composite", "av", rel, recorder, started)
        self.files.append(self.composite)
        recorder.start()
        if getattr(comp, "started_at", None) is None:
            await comp.start()

    # -- figures -----------------------------------------------------------------------------

    async def _end(self, file: RecordedFile, status: str) -> None:
        if file.ended:
            return
        file.ended = True
        await file.recorder.stop()
        size, duration = file.figures()
        if file.recorder.error is not None:
            status = "failed"
        try:
            await self.catalog.update_file(file.file_id, size=size, duration=duration,
                                           ended_at=time.time(), status=status)
        except Exception:
            log.exception("recording.update_file_failed recording=%s", self.recording_id)

    async def _update_loop(self) -> None:
        while True:
            await asyncio.sleep(self._update_interval)
            for file in list(self.files):
                if file.ended:
                    continue
                size, duration = file.figures()
                try:
                    await self.catalog.update_file(file.file_id, size=size, duration=duration)
                except Exception:
                    log.exception("recording.update_file_failed recording=%s", self.recording_id)
            try:
                await self.catalog.heartbeat(self.recording_id)
            except Exception:
                log.exception("recording.heartbeat_failed recording=%s", self.recording_id)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _make_dir(self) -> None:
        path = self.root
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        for part in Path(self.rel_dir).parts:
            path = path / part
            path.mkdir(exist_ok=True, mode=0o700)
            os.chmod(path, 0o700)
