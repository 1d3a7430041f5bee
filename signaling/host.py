"""Host controls over Socket.IO: ``room:mute_participant``, ``room:remove_participant``,
``room:lock`` and ``room:end`` (docs/PROTOCOL.md, *Host controls*)."""

from __future__ import annotations

from typing import Any

from rooms import Identity
from signaling.server import OK, Signaling
from signaling.validation import MUTABLE_SOURCES, BadRequest

MAX_PARTICIPANT_ID = 64


def _object(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("the request must be a JSON object")
    return data


def _participant_id(data: dict[str, Any]) -> str:
    value = data.get("participant_id")
    if not isinstance(value, str) or not value or len(value) > MAX_PARTICIPANT_ID:
        raise BadRequest("'participant_id' is required and must be a participant id")
    return value


class HostSignaling:
    """Registers the host-control events on a :class:`Signaling`."""

    def __init__(self, signaling: Signaling) -> None:
        self.rooms = signaling.rooms
        signaling.register("room:mute_participant", self.mute_participant)
        signaling.register("room:remove_participant", self.remove_participant)
        signaling.register("room:lock", self.lock)
        signaling.register("room:end", self.end)

    async def mute_participant(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """room:mute_participant {participant_id, source} -> ok."""
        obj = _object(data)
        source = obj.get("source")
        if source not in MUTABLE_SOURCES:
            raise BadRequest("'source' must be camera or microphone")
        await self.rooms.mute_participant(sid, _participant_id(obj), str(source))
        return OK

    async def remove_participant(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """room:remove_participant {participant_id} -> ok."""
        await self.rooms.remove_participant(sid, _participant_id(_object(data)))
        return OK

    async def lock(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """room:lock {locked} -> {ok, locked}."""
        locked = _object(data).get("locked", True)
        if not isinstance(locked, bool):
            raise BadRequest("'locked' must be true or false")
        await self.rooms.set_locked(sid, locked)
        return {"ok": True, "locked": locked}

    async def end(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """room:end {} -> ok (everyone gets room:ended)."""
        _object(data)
        await self.rooms.end_room(sid)
        return OK
