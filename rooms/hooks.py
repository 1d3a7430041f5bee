"""Hooks for room features that follow a room's media (recording, composite, pixelation).

Unlike room listeners (``RoomService.add_listener``), hooks run synchronously
on the request path, in the order things happen, so a feature can act on a
producer the moment it exists; only ``closing`` is awaited (before the
room's router closes).
"""

from __future__ import annotations

from typing import Any

from rooms.participant import Participant
from rooms.room import Room


class RoomHooks:
    """Override what a feature needs; every hook does nothing by default."""

    def producer_added(self, room: Room, participant: Participant, producer: Any) -> None:
        """``participant`` published ``producer`` (already forwarded to the others)."""

    def producer_closed(self, room: Room, participant: Participant, producer: Any) -> None:
        """One of ``participant``'s producers ended."""

    def consumer_added(self, room: Room, subscriber: Participant, consumer: Any) -> None:
        """``subscriber`` now receives ``consumer`` (a participant's track)."""

    def participant_left(self, room: Room, participant: Participant) -> None:
        """``participant`` left (its producers are closed)."""

    def join_state(self, room: Room, participant: Participant) -> dict[str, Any]:
        """Extra fields for the ``room:join`` ack of ``participant``."""
        return {}

    async def closing(self, room: Room) -> None:
        """The room is closing: stop what uses its router (awaited before it closes)."""
