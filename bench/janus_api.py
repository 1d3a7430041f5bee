"""Minimal Janus HTTP API client (one session, long-poll for async events), for
bench/janus_baseline.py."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import aiohttp


class JanusError(RuntimeError):
    pass


class JanusSession:
    """Minimal Janus HTTP API client: one session, long-poll for async events."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = aiohttp.ClientSession()
        self.session_id: int | None = None
        self._waiters: dict[str, asyncio.Future] = {}
        self._poller: asyncio.Task | None = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": body.get("transaction") or uuid.uuid4().hex}
        async with self.http.post(self.url + path, json=body) as r:
            data = await r.json(content_type=None)
        if data.get("janus") == "error":
            raise JanusError(f"{body.get('janus')}: {data['error']}")
        return data

    async def create(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:  # Janus needs a moment after start to bind its HTTP port
            try:
                data = await self._post("", {"janus": "create"})
                break
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        self.session_id = data["data"]["id"]
        self._poller = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            try:
                async with self.http.get(f"{self.url}/{self.session_id}?maxev=20",
                                         timeout=aiohttp.ClientTimeout(total=40)) as r:
                    events = await r.json(content_type=None)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, TimeoutError, ValueError):
                await asyncio.sleep(0.1)
                continue
            for ev in events if isinstance(events, list) else [events]:
                fut = self._waiters.pop(ev.get("transaction") or "", None)
                if fut is not None and not fut.done():
                    fut.set_result(ev)

    async def attach(self, plugin: str = "janus.plugin.videoroom") -> int:
        data = await self._post(f"/{self.session_id}", {"janus": "attach", "plugin": plugin})
        return data["data"]["id"]

    async def message(self, handle: int, body: dict[str, Any],
                      jsep: dict[str, Any] | None = None, timeout: float = 15.0) -> dict[str, Any]:
        """Send a plugin message; wait for the async event when Janus only acks it."""
        tx = uuid.uuid4().hex
        fut = asyncio.get_running_loop().create_future()
        self._waiters[tx] = fut
        msg: dict[str, Any] = {"janus": "message", "body": body, "transaction": tx}
        if jsep:
            msg["jsep"] = jsep
        data = await self._post(f"/{self.session_id}/{handle}", msg)
        if data.get("janus") == "ack":
            data = await asyncio.wait_for(fut, timeout)
        else:
            self._waiters.pop(tx, None)
        plugin = data.get("plugindata", {}).get("data", {})
        if "error" in plugin:
            raise JanusError(f"{body.get('request')}: {plugin['error']}")
        return data

    async def trickle_done(self, handle: int) -> None:
        await self._post(f"/{self.session_id}/{handle}",
                         {"janus": "trickle", "candidate": {"completed": True}})

    async def close(self) -> None:
        if self._poller:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
        if self.session_id is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._post(f"/{self.session_id}", {"janus": "destroy"}), 3)
        await self.http.close()
