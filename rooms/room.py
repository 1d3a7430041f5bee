"""A room: one media Router and the participants in it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from rooms.participant import Participant


@dataclass(eq=False)
class Room:
    """An open room; created on the first join, closed when empty past the grace period."""

    id: str
    router: Any  # media.Router
    participants: dict[str, Participant] = field(default_factory=dict)  # by participant id
    empty_timer: asyncio.TimerHandle | None = None
    closed: bool = False
    locked: bool = False  # host control: refuse joins by anyone not in ``lock_members``
    lock_members: set[str] = field(default_factory=set)  # user ids inside when it was locked
    extras: dict[str, Any] = field(default_factory=dict)  # per-room state of room features

    def others(self, participant: Participant) -> list[Participant]:
        """Everyone in the room but ``participant``."""
        return [p for p in self.participants.values() if p is not participant]

    def cancel_empty_timer(self) -> None:
        """Forget a pending close (someone joined)."""
        if self.empty_timer is not None:
            self.empty_timer.cancel()
            self.empty_timer = None
