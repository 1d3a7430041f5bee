"""Recording, the composite, pixelation and snapshots over Socket.IO (docs/PROTOCOL.md,
*Recording*): ``recording:start``, ``recording:stop``, ``composite:layout``,
``media:composite``, ``host:pixelate``, ``media:snapshot``."""

from __future__ import annotations

from typing import Any

from carertc.config import LAYOUTS
from rooms import Identity
from rooms.pixelation import Pixelation, check_rect
from rooms.recording import RoomRecording
from rooms.snapshots import SNAPSHOT_SOURCES, Snapshots
from signaling.host import _object, _participant_id
from signaling.server import Signaling
from signaling.validation import BadRequest


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name)
    if not isinstance(value, bool):
        raise BadRequest(f"'{name}' must be true or false")
    return value


class RecordingSignaling:
    """Registers the recording, composite, pixelation and snapshot events on a :class:`Signaling`."""

    def __init__(
        self,
        signaling: Signaling,
        recording: RoomRecording,
        pixelation: Pixelation,
        snapshots: Snapshots,
    ) -> None:
        self.recording = recording
        self.pixelation = pixelation
        self.snapshots = snapshots
        signaling.register("recording:start", self.start)
        signaling.register("recording:stop", self.stop)
        signaling.register("composite:layout", self.layout)
        signaling.register("media:composite", self.composite)
        signaling.register("host:pixelate", self.pixelate)
        signaling.register("media:snapshot", self.snapshot)

    async def start(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """recording:start {} -> {ok, recording, recording_id, started_by, layout}."""
        _object(data)
        return await self.recording.start(sid)

    async def stop(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """recording:stop {} -> {ok, recording: false, stopped_recording_id, ...}."""
        _object(data)
        return await self.recording.stop(sid)

    async def layout(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """composite:layout {layout} -> {ok, layout}."""
        layout = _object(data).get("layout")
        if layout not in LAYOUTS:
            raise BadRequest(f"'layout' must be one of {', '.join(LAYOUTS)}")
        return await self.recording.set_layout(sid, str(layout))

    async def composite(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """media:composite {on} -> {ok, on}."""
        return await self.recording.view_composite(sid, _flag(_object(data), "on"))

    async def pixelate(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """host:pixelate {participant_id, on, rect?} -> {ok, participant_id, pixelated}."""
        obj = _object(data)
        on = _flag(obj, "on")
        rect = check_rect(obj.get("rect")) if on else None
        return await self.pixelation.pixelate(sid, _participant_id(obj), on, rect)

    async def snapshot(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """media:snapshot {participant_id, source?} -> {ok, attachment_id, message_id, ...}."""
        obj = _object(data)
        source = obj.get("source", "camera")
        if source not in SNAPSHOT_SOURCES:
            raise BadRequest("'source' must be camera or screen")
        return await self.snapshots.take(sid, _participant_id(obj), str(source))
