"""Fixtures and helpers for signaling and call tests against the full app.

Import the fixture into a test module: ``from tests.support.calls import call_fixture  # noqa: F401``
(it is named ``call``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from carertc.config import RoomsSettings, Settings
from tests.support.client import TestClient

GRACE_SECONDS = 0.3
MAX_PARTICIPANTS = 6

_names = itertools.count(1)


class Call:
    """A running server plus the clients a test made (all closed afterwards)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.clients: list[TestClient] = []

    @property
    def rooms(self) -> Any:
        """The server's RoomService."""
        return self.server.rooms

    async def token(self, role: str = "doctor", room: str | None = None, ttl: int = 3600,
                    name: str | None = None) -> str:
        """A token for a new user of ``role`` (``room``: the token's room grant)."""
        user = await self.server.user(name or f"{role}{next(_names)}", role)
        return self.server.token(user, room=room, ttl=ttl)

    def client(self, token: str | None, name: str = "client") -> TestClient:
        """An unconnected client (closed after the test)."""
        client = TestClient(self.server.url, token, name=name)
        self.clients.append(client)
        return client

    async def connect(self, role: str = "doctor", *, room: str | None = None,
                      name: str | None = None) -> TestClient:
        """A connected client of a new user with ``role``."""
        client = self.client(await self.token(role, room=room), name=name or role)
        await client.connect()
        return client

    async def joined(self, room_id: str, role: str = "doctor", *sources: str,
                     name: str | None = None) -> TestClient:
        """A client that has joined ``room_id`` and published ``sources``."""
        client = await self.connect(role, room=room_id, name=name)
        await client.join(room_id)
        if sources:
            await client.publish(*sources)
        return client

    async def close(self) -> None:
        """Close every client."""
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)


def call_settings(settings: Settings, **rooms: Any) -> Settings:
    """``settings`` with a short empty-room grace period (and other room limits)."""
    values = {"empty_grace_seconds": GRACE_SECONDS, "max_participants": MAX_PARTICIPANTS, **rooms}
    return dataclasses.replace(settings, rooms=RoomsSettings(**values))


@pytest.fixture(name="call")
async def call_fixture(
    settings: Settings, server_factory: Callable[..., Awaitable[Any]]
) -> AsyncIterator[Call]:
    """The full app (short grace period, at most 6 per room) and a client factory."""
    server = await server_factory(call_settings(settings))
    call = Call(server)
    try:
        yield call
    finally:
        await call.close()


async def eventually(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
    """Poll ``predicate`` every 20 ms until truthy; fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.02)
