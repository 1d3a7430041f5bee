"""Outbound notifications: the interface signaling implements, and per-client ordering."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("carertc.rooms")

# notifier(session, event, payload): deliver a server notification to one client
# session (a Socket.IO sid for signaling). rooms/ never imports Socket.IO.
Notifier = Callable[[str, str, dict[str, Any]], Awaitable[None]]


async def _drop(session: str, event: str, payload: dict[str, Any]) -> None:
    """The notifier used until one is set: deliver nothing."""


class Outbox:
    """Delivers one client's notifications in the order they were queued."""

    def __init__(self, session: str, notifier: Callable[[], Notifier]) -> None:
        self.session = session
        self._notifier = notifier
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def send(self, event: str, payload: dict[str, Any]) -> None:
        """Queue ``event`` for this client (never blocks)."""
        if self.closed:
            return
        self._queue.put_nowait((event, payload))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._pump(), name=f"rooms.outbox:{self.session}"
            )

    async def _pump(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            event, payload = item
            try:
                await self._notifier()(self.session, event, payload)
            except Exception:  # a dead socket must not stop the others' events
                log.exception("notify_failed", extra={"session": self.session, "sio_event": event})

    async def close(self) -> None:
        """Deliver what is queued, then stop."""
        if self.closed:
            return
        self.closed = True
        if self._task is not None:
            self._queue.put_nowait(None)
            await asyncio.wait({self._task}, timeout=2.0)
            if not self._task.done():
                self._task.cancel()

    def abort(self) -> None:
        """Stop at once, dropping what is queued."""
        self.closed = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
