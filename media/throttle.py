"""Throttles keyframe requests: at most one action per interval, late requests deferred."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Throttle:
    """Calls `action` at most once per `interval` seconds.

    A request inside the window is not lost: one call is scheduled at the window's end.
    """

    def __init__(self, interval: float, action: Callable[[], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._action = action
        self._clock = clock
        self._last: float | None = None
        self._deferred: asyncio.TimerHandle | None = None
        self.requests = 0
        self.fired = 0

    def request(self) -> bool:
        """Ask for the action; returns True if it ran now."""
        self.requests += 1
        now = self._clock()
        if self._last is None or now - self._last >= self.interval:
            self._fire()
            return True
        if self._deferred is None:
            delay = self.interval - (now - self._last)
            self._deferred = asyncio.get_running_loop().call_later(delay, self._fire_deferred)
        return False

    def _fire_deferred(self) -> None:
        self._deferred = None
        self._fire()

    def _fire(self) -> None:
        self._last = self._clock()
        self.fired += 1
        self._action()

    def cancel(self) -> None:
        """Drop a pending deferred call."""
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
