"""A messaging device that survives drops: resends unacked messages and catches up by seq.

It does what docs/IM.md asks of a client: every message has a client_msg_id,
an unacked send is resent after a reconnect (the server answers a resend with
the original), and after every reconnect the device syncs from the last seq it
holds. Live ``im:message`` events and synced pages are merged by seq.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import socketio

from tests.support.client import RequestError
from tests.support.im_client import ImClient

TRANSIENT = (
    socketio.exceptions.TimeoutError,
    socketio.exceptions.BadNamespaceError,
    socketio.exceptions.DisconnectedError,
    socketio.exceptions.ConnectionError,
    ConnectionError,
    OSError,
    TimeoutError,
)


class Dropped(Exception):
    """The connection went away while a request was in flight."""


class ReliableDevice:
    """One user's device in one conversation, with reconnects."""

    def __init__(self, url: Callable[[], str], token: str, conversation_id: str) -> None:
        self.url = url
        self.token = token
        self.conversation_id = conversation_id
        self.client: ImClient | None = None
        self.down = asyncio.Event()
        self.down.set()
        self.seen: dict[int, dict[str, Any]] = {}
        self.acked: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.reconnects = 0
        self.conflicts: list[str] = []
        self._lock = asyncio.Lock()

    @property
    def last_seq(self) -> int:
        """The highest seq held with every lower seq also held."""
        seq = 0
        while seq + 1 in self.seen:
            seq += 1
        return seq

    def _merge(self, message: dict[str, Any]) -> None:
        if message.get("conversation_id") != self.conversation_id:
            return
        old = self.seen.get(message["seq"])
        if old is not None and old["id"] != message["id"]:
            self.conflicts.append(f"seq {message['seq']}: {old['id']} != {message['id']}")
        self.seen[message["seq"]] = message

    async def ensure(self) -> ImClient:
        """Connected, and caught up from the last seq held."""
        async with self._lock:
            if self.client is not None and not self.down.is_set():
                return self.client
            client = ImClient(self.url(), self.token)
            client.sio.on("im:message", self._merge)
            client.sio.on("disconnect", self._on_drop(client))
            await client.connect()
            self.client = client
            self.down.clear()
            self.reconnects += 1
            for message in await client.sync_all(self.conversation_id, self.last_seq):
                self._merge(message)
            return client

    def _on_drop(self, client: ImClient) -> Callable[..., None]:
        def dropped(*_: Any) -> None:
            if self.client is client:
                self.down.set()

        return dropped

    async def drop(self) -> None:
        """Cut the connection now, without waiting for anything in flight."""
        client = self.client
        if client is not None and not self.down.is_set():
            self.down.set()
            with contextlib.suppress(Exception):
                await client.sio.eio.disconnect(abort=True)

    async def _call(self, event: str, data: dict[str, Any], timeout: float) -> dict[str, Any]:
        client = await self.ensure()
        call = asyncio.ensure_future(client.request(event, data, timeout=timeout))
        down = asyncio.ensure_future(self.down.wait())
        try:
            done, _ = await asyncio.wait({call, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            down.cancel()
        if call not in done:
            call.cancel()
            with contextlib.suppress(BaseException):
                await call
            raise Dropped(event)
        return call.result()

    async def send(self, client_msg_id: str, body: str, attempts: int = 50) -> dict[str, Any]:
        """Send until acked (resending the same client_msg_id after drops)."""
        for _ in range(attempts):
            try:
                ack = await self._call(
                    "im:send",
                    {
                        "conversation_id": self.conversation_id,
                        "client_msg_id": client_msg_id,
                        "type": "text",
                        "body": body,
                    },
                    timeout=10,
                )
            except (Dropped, *TRANSIENT):
                self.down.set()
                await asyncio.sleep(0.02)
                continue
            except RequestError as exc:
                if exc.code == "unavailable":
                    await asyncio.sleep(0.1)
                    continue
                raise
            if ack["duplicate"]:
                self.duplicates += 1
            self.acked[client_msg_id] = ack
            return ack
        raise AssertionError(f"{client_msg_id} never acked")

    async def catch_up(self) -> list[dict[str, Any]]:
        """Sync to the end; every message held, in seq order."""
        for _ in range(50):
            try:
                client = await self.ensure()
                for message in await client.sync_all(self.conversation_id, self.last_seq):
                    self._merge(message)
                break
            except (Dropped, *TRANSIENT):
                self.down.set()
                await asyncio.sleep(0.05)
        return [self.seen[s] for s in sorted(self.seen)]

    async def close(self) -> None:
        """Disconnect cleanly."""
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.disconnect()
