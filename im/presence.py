"""Who is online: the sockets each user has open on this node, and typing expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

TYPING_EXPIRY_SECONDS = 6.0


class Presence:
    """In-memory presence for one node: user id -> open socket ids."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[str]] = {}

    async def came(self, user_id: str, sid: str) -> bool:
        """A socket opened; True if the user just came online (everywhere)."""
        return self.connect(user_id, sid)

    async def went(self, user_id: str, sid: str) -> bool:
        """A socket closed; True if the user just went offline (everywhere)."""
        return self.disconnect(user_id, sid)

    async def who(self, user_ids: Iterable[str]) -> list[str]:
        """Those of ``user_ids`` online anywhere."""
        return self.online(user_ids)

    async def close(self) -> None:
        """Nothing to release in memory."""

    def local_count(self, user_id: str) -> int:
        """Open sockets of ``user_id`` on this node."""
        return len(self._sockets.get(user_id, ()))

    def connect(self, user_id: str, sid: str) -> bool:
        """Record a socket; True if it is the user's first (they came online)."""
        sockets = self._sockets.setdefault(user_id, set())
        first = not sockets
        sockets.add(sid)
        return first

    def disconnect(self, user_id: str, sid: str) -> bool:
        """Forget a socket; True if it was the user's last (they went offline)."""
        sockets = self._sockets.get(user_id)
        if not sockets or sid not in sockets:
            return False
        sockets.discard(sid)
        if sockets:
            return False
        del self._sockets[user_id]
        return True

    def online(self, user_ids: Iterable[str]) -> list[str]:
        """Those of ``user_ids`` with at least one open socket."""
        return [u for u in user_ids if self._sockets.get(u)]


class TypingTimers:
    """Typing indicators that expire unless refreshed."""

    def __init__(self, expiry: float = TYPING_EXPIRY_SECONDS) -> None:
        self.expiry = expiry
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}

    def start(self, key: tuple[str, str], on_expire: Callable[[], None]) -> None:
        """(Re)arm the timer for ``key`` (conversation id, user id)."""
        self.stop(key)
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.pop(key, None)
            on_expire()

        self._timers[key] = loop.call_later(self.expiry, fire)

    def stop(self, key: tuple[str, str]) -> bool:
        """Disarm; True if it was armed."""
        handle = self._timers.pop(key, None)
        if handle is None:
            return False
        handle.cancel()
        return True

    def stop_user(self, user_id: str) -> list[str]:
        """Disarm every timer of a user; the conversation ids they were typing in."""
        keys = [k for k in self._timers if k[1] == user_id]
        for k in keys:
            self.stop(k)
        return [k[0] for k in keys]

    def clear(self) -> None:
        """Disarm everything."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
