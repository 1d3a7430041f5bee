"""In-memory state of this node's live SOS alerts, and the notifier interface.

The database is the truth (status changes are conditional UPDATEs); this cache
only remembers when each recipient was rung, which devices reported ringing and
the escalation timer, so hot paths need no query.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

log = logging.getLogger("carertc.sos")


class Notify(Protocol):
    """How the SOS service reaches devices (implemented by the Socket.IO edge)."""

    async def to_users(
        self, user_ids: Iterable[str], event: str, payload: dict[str, Any], skip: str | None = None
    ) -> None:
        """Emit to every device of every user."""

    async def to_sid(self, sid: str, event: str, payload: dict[str, Any]) -> None:
        """Emit to one device."""


class Online(Protocol):
    """Which users have a device online (presence)."""

    async def who(self, user_ids: Iterable[str]) -> list[str]:
        """Those of ``user_ids`` online anywhere."""


class NoNotify:
    """A notifier that drops everything (before the Socket.IO edge is attached)."""

    async def to_users(
        self, user_ids: Iterable[str], event: str, payload: dict[str, Any], skip: str | None = None
    ) -> None:
        """Drop."""

    async def to_sid(self, sid: str, event: str, payload: dict[str, Any]) -> None:
        """Drop."""


@dataclass
class Active:
    """A ringing or answered SOS as this node knows it."""

    id: str
    org_id: str | None
    elder_id: str
    status: str
    step: int
    wire: dict[str, Any]
    recipients: dict[str, datetime] = field(default_factory=dict)  # user id -> rung at
    declined: set[str] = field(default_factory=set)
    delivered: set[str] = field(default_factory=set)  # sids that reported ringing
    timer: asyncio.TimerHandle | None = None

    def cancel_timer(self) -> None:
        """Stop the escalation timer, if any."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Tasks:
    """Background work the SOS path must not wait for; drained on close."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``coro`` in the background, logging a failure."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sos_task_failed", extra={"task": task.get_name()}, exc_info=task.exception())

    async def drain(self, timeout: float = 2.0) -> None:
        """Let running work finish briefly, then cancel the rest."""
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            _, left = await asyncio.wait(pending, timeout=timeout)
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)
