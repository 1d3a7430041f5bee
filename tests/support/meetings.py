"""Helpers for meeting tests: an HTTP client, a settable clock, and servers on SQLite or PostgreSQL.

Use the fixtures by importing them into a test module::

    from tests.support.meetings import db_server_fixture  # noqa: F401  (named ``db_server``)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from api.meeting_setup import INVITES, MEETING_REMINDERS, MEETING_STATS, MEETINGS
from carertc.config import Settings
from tests.support.calls import call_settings


class Api:
    """JSON over HTTP with one bearer token (or none)."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        self.token = token

    async def raw(
        self, method: str, path: str, json: Any = None
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body bytes)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.base_url + path, json=json, headers=headers) as res,
        ):
            return res.status, dict(res.headers), await res.read()

    async def __call__(
        self, method: str, path: str, json: Any = None, *, expect: int | None = None
    ) -> Any:
        """The decoded JSON body; asserts the status when ``expect`` is given."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.base_url + path, json=json, headers=headers) as res,
        ):
            body = await res.json(content_type=None)
            if expect is not None:
                assert res.status == expect, (method, path, res.status, body)
            return body


class Clock:
    """A clock tests move by hand (installed as the meeting service's clock)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        """Move forward; returns the new time."""
        self.now += timedelta(seconds=seconds)
        return self.now


def iso(moment: datetime) -> str:
    """``...Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def services(server: Any) -> tuple[Any, Any, Any, Any]:
    """(MeetingService, InviteService, MeetingStats, ReminderService) of a running server."""
    app = server.app
    return app[MEETINGS], app[INVITES], app[MEETING_STATS], app[MEETING_REMINDERS]


@pytest.fixture(name="db_server", params=["sqlite", "postgres"])
async def db_server_fixture(
    request: pytest.FixtureRequest,
    settings: Settings,
    server_factory: Callable[..., Awaitable[Any]],
) -> Any:
    """The full app (short empty-room grace) on SQLite, then on a fresh PostgreSQL database."""
    custom = call_settings(settings)
    if request.param == "postgres":
        custom = dataclasses.replace(custom, database_url=request.getfixturevalue("pg_url"))
    return await server_factory(custom)
