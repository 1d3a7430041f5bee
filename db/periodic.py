"""Store maintenance that runs every so often while the server runs (retention, recovery)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

log = logging.getLogger("carertc.db")


class Periodic:
    """Runs ``job()`` every ``interval`` seconds, the first time after ``initial_delay``.

    A failing run is logged (``<name>_failed``) and the next one still happens. ``running``
    is an aiohttp cleanup context: started with the app, cancelled and awaited at shutdown.
    """

    def __init__(self, name: str, job: Callable[[], Awaitable[Any]], interval: float,
                 initial_delay: float = 0.0) -> None:
        self.name = name
        self.job = job
        self.interval = interval
        self.initial_delay = initial_delay
        self._task: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        """Whether the task runs."""
        return self._task is not None

    def start(self) -> None:
        """Start the task (once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Cancel the task and wait for it."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        await asyncio.sleep(self.initial_delay)
        while True:
            try:
                await self.job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s_failed", self.name.replace("-", "_"))
            await asyncio.sleep(self.interval)

    async def running(self, _app: object = None) -> AsyncIterator[None]:
        """A cleanup context: started while the app runs, stopped on shutdown."""
        self.start()
        try:
            yield
        finally:
            await self.stop()
