"""db.periodic: a job runs again after a failure, and stop() ends it."""

from __future__ import annotations

import asyncio

from db.periodic import Periodic


async def test_a_failing_run_is_logged_and_the_next_run_still_happens() -> None:
    runs: list[int] = []

    async def job() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("first run fails")

    periodic = Periodic("test-job", job, interval=0.01)
    agen = periodic.running()
    await agen.__anext__()  # started, like an aiohttp cleanup context
    assert periodic.started
    for _ in range(200):
        if len(runs) >= 3:
            break
        await asyncio.sleep(0.01)
    assert len(runs) >= 3
    await periodic.stop()
    assert not periodic.started
    count = len(runs)
    await asyncio.sleep(0.05)
    assert len(runs) == count  # stopped: no more runs


async def test_the_first_run_waits_for_the_initial_delay() -> None:
    runs: list[int] = []

    async def job() -> None:
        runs.append(1)

    periodic = Periodic("test-job", job, interval=0.01, initial_delay=60)
    periodic.start()
    await asyncio.sleep(0.05)
    assert runs == []
    await periodic.stop()
