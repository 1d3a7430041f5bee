"""Keyframe request throttling: one per interval, late requests deferred, not lost."""

from __future__ import annotations

import asyncio

from media.throttle import Throttle


async def test_at_most_one_action_per_interval_and_one_deferred() -> None:
    now = [0.0]
    fired: list[float] = []
    throttle = Throttle(0.5, lambda: fired.append(now[0]), clock=lambda: now[0])
    assert throttle.request() is True
    now[0] = 0.1
    assert throttle.request() is False
    assert throttle.request() is False
    assert fired == [0.0]
    now[0] = 0.5
    await asyncio.sleep(0.45)  # the deferred call fires once at the window's end
    assert fired == [0.0, 0.5]
    assert throttle.requests == 3 and throttle.fired == 2


async def test_cancel_drops_the_deferred_request() -> None:
    fired: list[int] = []
    throttle = Throttle(0.2, lambda: fired.append(1))
    throttle.request()
    throttle.request()
    throttle.cancel()
    await asyncio.sleep(0.3)
    assert fired == [1]

