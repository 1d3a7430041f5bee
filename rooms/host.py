"""Host controls: mute or remove a participant, lock the room, end it for everyone.

:class:`HostControls` is mixed into :class:`rooms.service.RoomService` and works
on its state. Only a participant whose room access granted ``host`` may use the
controls (``permission_denied`` otherwise). A removed participant's user is
banned from that room id until the room is ended (``end``); for rooms no care
flow claims, also until the room closes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from rooms.access import RoomAccess, RoomAccessPolicy
from rooms.errors import RoomError
from rooms.participant import Participant
from rooms.permissions import Identity
from rooms.room import Room

log = logging.getLogger("carertc.rooms")


class _Rooms(Protocol):
    """The parts of RoomService the host controls use."""

    access: RoomAccessPolicy
    _rooms: dict[str, Room]
    _sessions: dict[str, Participant]
    _bans: dict[str, set[str]]

    def _require(self, session: str) -> Participant: ...
    def _send(self, participant: Participant, event: str, payload: dict[str, Any]) -> None: ...
    def _broadcast(
        self, room: Room, event: str, payload: dict[str, Any], *, exclude: Participant | None = None
    ) -> None: ...
    def _emit(self, event: str, room_id: str, identity: Identity | None) -> None: ...
    async def _close_room(self, room: Room) -> None: ...
    async def set_muted(self, session: str, source: str, muted: bool) -> None: ...
    async def leave(self, session: str, reason: str = "left") -> None: ...
    def _require_host(self, session: str) -> Participant: ...
    def _target(self, host: Participant, participant_id: str) -> Participant: ...
    async def _deliver_last(
        self, participant: Participant, event: str, payload: dict[str, Any]
    ) -> None: ...
    async def end(self, room_id: str, *, by: Participant | None = None) -> bool: ...


class HostControls:
    """Host-only actions on the caller's room (mixed into RoomService)."""

    # -- checks used by RoomService -----------------------------------------------------

    def _check_admission(
        self: _Rooms, room_id: str, identity: Identity, access: RoomAccess
    ) -> None:
        """Refuse a banned user (``room_forbidden``) and newcomers to a locked room (``room_locked``)."""
        if identity.user_id in self._bans.get(room_id, ()):
            raise RoomError("room_forbidden", "the host removed you from this room")
        room = self._rooms.get(room_id)
        if (
            room is not None
            and room.locked
            and not access.host
            and identity.user_id not in room.lock_members
        ):
            raise RoomError("room_locked", "the host has locked this room")

    def _forget_room(self: _Rooms, room: Room) -> None:
        """A room closed: bans of rooms no flow claims end with it."""
        if self.access.rule_for(room.id) is None:
            self._bans.pop(room.id, None)

    def _require_host(self: _Rooms, session: str) -> Participant:
        participant = self._require(session)
        if not participant.host:
            raise RoomError("permission_denied", "only the host may do that")
        return participant

    def _target(self: _Rooms, host: Participant, participant_id: str) -> Participant:
        room = self._rooms.get(host.room_id)
        target = room.participants.get(participant_id) if room is not None else None
        if target is None or target.left or not target.ready:
            raise RoomError("participant_not_found", "no such participant in this room")
        return target

    async def _deliver_last(
        self: _Rooms, participant: Participant, event: str, payload: dict[str, Any]
    ) -> None:
        """Queue ``event`` as the participant's last notification and wait until it is sent."""
        if participant.left:
            return
        participant.outbox.send(event, payload)
        await participant.outbox.close()

    # -- the controls -------------------------------------------------------------------

    def is_banned(self: _Rooms, room_id: str, user_id: str) -> bool:
        """Whether the host removed ``user_id`` from ``room_id`` (and it was not ended since)."""
        return user_id in self._bans.get(room_id, ())

    async def mute_participant(
        self: _Rooms, session: str, participant_id: str, source: str
    ) -> None:
        """Host: stop forwarding another participant's camera or microphone."""
        host = self._require_host(session)
        target = self._target(host, participant_id)
        await self.set_muted(target.session, source, True)
        self._send(target, "room:muted_by_host", {"source": source, "by": host.id})
        log.info(
            "host_muted",
            extra={
                "room_id": host.room_id,
                "participant_id": target.id,
                "by": host.id,
                "source": source,
            },
        )

    async def remove_participant(self: _Rooms, session: str, participant_id: str) -> None:
        """Host: take a participant out of the room and ban their user from it."""
        host = self._require_host(session)
        target = self._target(host, participant_id)
        if target.identity.user_id == host.identity.user_id:
            raise RoomError("bad_request", "use room:leave to leave the room yourself")
        user_id = target.identity.user_id
        self._bans.setdefault(host.room_id, set()).add(user_id)
        room = self._rooms.get(host.room_id)
        targets = [target]
        if room is not None:
            room.lock_members.discard(user_id)
            targets += [p for p in room.others(target) if p.identity.user_id == user_id and p.ready]
        payload = {"room_id": host.room_id, "by": host.id}
        await asyncio.gather(*(self._deliver_last(p, "room:removed", payload) for p in targets))
        for p in targets:
            if not p.left and self._sessions.get(p.session) is p:
                await self.leave(p.session, reason="removed")
        log.info(
            "host_removed",
            extra={
                "room_id": host.room_id,
                "participant_id": target.id,
                "user_id": user_id,
                "by": host.id,
            },
        )

    async def set_locked(self: _Rooms, session: str, locked: bool) -> None:
        """Host: lock (only those inside, and hosts, may enter) or unlock the room."""
        host = self._require_host(session)
        room = self._rooms.get(host.room_id)
        if room is None:
            raise RoomError("not_in_room", "the room is closed")
        changed = room.locked != locked
        room.locked = locked
        room.lock_members = (
            {p.identity.user_id for p in room.participants.values()} if locked else set()
        )
        if changed:
            self._broadcast(
                room, "room:locked", {"room_id": room.id, "locked": locked, "by": host.id}
            )
        log.info(
            "host_locked" if locked else "host_unlocked", extra={"room_id": room.id, "by": host.id}
        )

    async def end_room(self: _Rooms, session: str) -> None:
        """Host: end the call for everyone (``room:ended``) and close the room."""
        host = self._require_host(session)
        await self.end(host.room_id, by=host)

    async def end(self: _Rooms, room_id: str, *, by: Participant | None = None) -> bool:
        """End ``room_id`` (a host, or a care flow, ends it); False if it was not open.

        Everyone gets ``room:ended``; listeners get ``ended`` then ``closed``. Bans
        on the room id are lifted.
        """
        self._bans.pop(room_id, None)
        room = self._rooms.get(room_id)
        if room is None or room.closed:
            return False
        payload = {"room_id": room_id, "by": by.id if by is not None else None}
        inside = [p for p in room.participants.values() if p.ready and not p.left]
        await asyncio.gather(*(self._deliver_last(p, "room:ended", payload) for p in inside))
        if room.closed:  # closed meanwhile
            return False
        self._emit("ended", room_id, by.identity if by is not None else None)
        await self._close_room(room)
        log.info(
            "room_ended",
            extra={"room_id": room_id, "by": by.id if by else None, "participants": len(inside)},
        )
        return True
