"""RecordingService: start and stop recording rooms; files go to the catalog."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from carertc.config import Settings

from .errors import RecordingError
from .paths import recording_key, recordings_dir
from .room_recorder import UPDATE_INTERVAL, RoomRecorder

log = logging.getLogger(__name__)


def node_name(settings: Settings) -> str:
    """This server process as a recording's maker: host name and port (stable over restarts)."""
    return f"{socket.gethostname()}:{settings.server.port}"[:100]


class RecordingService:
    """One RoomRecorder per recorded room; files under `<dir>/<yyyy>/<mm>/<recording id>/`."""

    def __init__(self, catalog: Any, settings: Settings, *,
                 update_interval: float = UPDATE_INTERVAL, node: str | None = None) -> None:
        self.catalog = catalog
        self.settings = settings
        self.node = node or node_name(settings)
        self._update_interval = update_interval
        self._active: dict[str, RoomRecorder] = {}
        self._starting: set[str] = set()
        self._root: Path | None = None
        self._key: bytes | None = None

    async def start(self, room_id: str, router: Any, compositor: Any, *, org_id: str | None,
                    started_by: str | None, context: dict[str, Any] | None = None,
                    title: str = "", layout: str | None = None) -> str:
        """Record `room_id` (its router's producers and the compositor); the recording id."""
        if room_id in self._active or room_id in self._starting:
            raise RecordingError("recording_in_progress", "the room is already being recorded")
        self._starting.add(room_id)
        try:
            root, key = await self._storage()
            if layout is None:
                layout = getattr(compositor, "layout", None) or self.settings.recording.default_layout
            started_at = time.time()
            recording_id = await self.catalog.create_recording(
                room_id=room_id, org_id=org_id, started_by=started_by,
                context=dict(context or {}), layout=layout, title=title, node=self.node)
            day = datetime.fromtimestamp(started_at, UTC)
            rel_dir = f"{day:%Y}/{day:%m}/{recording_id}"
            recorder = RoomRecorder(recording_id, router, compositor, catalog=self.catalog,
                                    root=root, rel_dir=rel_dir, key=key, started_at=started_at,
                                    update_interval=self._update_interval)
            try:
                await recorder.start()
            except BaseException:
                await recorder.stop(status="failed")
                await self.catalog.finish_recording(recording_id, ended_at=time.time(),
                                                    status="failed")
                raise
            self._active[room_id] = recorder
            log.info("recording.started room=%s recording=%s", room_id, recording_id)
            return recording_id
        finally:
            self._starting.discard(room_id)

    async def stop(self, room_id: str, reason: str = "stopped") -> str | None:
        """Stop recording `room_id`; the recording id (None if it was not recorded)."""
        recorder = self._active.pop(room_id, None)
        if recorder is None:
            return None
        try:
            await recorder.stop()
        finally:
            await self.catalog.finish_recording(recorder.recording_id, ended_at=time.time(),
                                                status="complete")
        log.info("recording.stopped room=%s recording=%s reason=%s", room_id,
                 recorder.recording_id, reason)
        return recorder.recording_id

    def active(self, room_id: str) -> str | None:
        """The id of the recording of `room_id` under way, if any."""
        recorder = self._active.get(room_id)
        return recorder.recording_id if recorder is not None else None

    def recorder(self, room_id: str) -> RoomRecorder | None:
        """The RoomRecorder of `room_id`, if it is being recorded."""
        return self._active.get(room_id)

    async def close(self) -> None:
        """Stop every recording."""
        results = await asyncio.gather(*(self.stop(room_id, "shutdown")
                                         for room_id in list(self._active)),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.error("recording.stop_failed: %r", result)

    async def _storage(self) -> tuple[Path, bytes]:
        if self._root is not None and self._key is not None:
            return self._root, self._key

        def resolve() -> tuple[Path, bytes]:
            return recordings_dir(self.settings), recording_key(self.settings)

        root, key = await asyncio.to_thread(resolve)
        self._root, self._key = root, key
        return root, key
