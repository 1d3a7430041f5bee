"""Shared fixtures.

``settings`` -> carertc.config.Settings
    A fresh data directory under ``tmp_path``, SQLite in it, the fixed JWT
    secret :data:`TEST_JWT_SECRET`, server host 127.0.0.1 / port 0, every
    other setting at its default. Built through
    ``load_settings`` from an explicit env (the real environment is ignored).
    Customise with ``dataclasses.replace(settings, rooms=RoomsSettings(...))``.

``server`` -> RunningServer
    The FULL application from ``carertc.app.build_app(settings)`` listening on
    127.0.0.1 on a free port, in the test's event loop (aiohttp AppRunner +
    TCPSite). Attributes: ``.url`` ("http://127.0.0.1:PORT"), ``.host``,
    ``.port``, ``.app``, ``.settings``, ``.users`` (UserService), ``.tokens``
    (TokenService), ``.rooms`` (the RoomService or None). Helpers:
    ``await server.user(name, role, password="pw", display_name=None,
    organisation=None) -> User`` and ``server.token(user, room=None, ttl=3600)
    -> str``. Stopped and cleaned up after the test.

``server_factory`` -> ``async (settings=None) -> RunningServer``
    Start more servers (or one with other settings); all stopped after the
    test. Without an argument it uses the ``settings`` fixture.

``pg_url`` -> str
    A fresh, empty PostgreSQL database for this test (created from
    ``DATABASE_URL_PG``, default postgresql+asyncpg://postgres@127.0.0.1:5432/test,
    dropped afterwards). Fails (does not skip) if PostgreSQL is unreachable.
    Use it as ``dataclasses.replace(settings, database_url=pg_url)``.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url

from accounts.models import User
from accounts.service import UserService
from accounts.tokens import TokenService
from carertc.app import ROOMS, TOKENS, USERS, build_app
from carertc.config import Settings, load_settings, normalise_database_url
from db.engine import create_engine

TEST_JWT_SECRET = "test-secret-for-carertc-tests-0123456789abcdef"
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def make_settings(data_dir: Path, **env: str) -> Settings:
    """Settings for a test: tmp data dir, SQLite in it, fixed secret, plus ``env`` overrides."""
    base = {
        "CARERTC_DATA_DIR": str(data_dir),
        "CARERTC_AUTH_JWT_SECRET": TEST_JWT_SECRET,
        "CARERTC_SERVER_HOST": "127.0.0.1",
        "CARERTC_SERVER_PORT": "0",
        "DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'carertc.db'}",
    }
    base.update(env)
    return load_settings(base)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings isolated in ``tmp_path``."""
    return make_settings(tmp_path / "data")


@dataclass
class RunningServer:
    """A started application and helpers to make users and tokens."""

    app: web.Application
    runner: web.AppRunner
    host: str
    port: int
    settings: Settings
    _closed: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def users(self) -> UserService:
        """The app's UserService."""
        return self.app[USERS]

    @property
    def tokens(self) -> TokenService:
        """The app's TokenService."""
        return self.app[TOKENS]

    @property
    def rooms(self) -> object | None:
        """The app's RoomService (None until rooms provides it)."""
        return self.app[ROOMS]

    async def user(
        self,
        name: str,
        role: str,
        password: str = "pw",
        display_name: str | None = None,
        organisation: str | None = None,
    ) -> User:
        """Create a user in the server's database."""
        return await self.users.create(
            name, role, password, display_name=display_name, organisation=organisation
        )

    def token(self, user: User, room: str | None = None, ttl: int = 3600) -> str:
        """A JWT for ``user`` signed with the server's secret."""
        return self.tokens.issue(
            user_id=user.id,
            name=user.display_name,
            role=user.role,
            org=user.organisation,
            room=room,
            ttl_seconds=ttl,
        )

    async def close(self) -> None:
        """Stop the server (idempotent)."""
        if not self._closed:
            self._closed = True
            await self.runner.cleanup()


async def start_server(settings: Settings, host: str = "127.0.0.1") -> RunningServer:
    """Build the full app and serve it on ``host`` at a free port."""
    app = await build_app(settings)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    port = runner.addresses[0][1]
    return RunningServer(app=app, runner=runner, host=host, port=port, settings=settings)


@pytest.fixture
async def server_factory(
    settings: Settings,
) -> AsyncIterator[Callable[..., Awaitable[RunningServer]]]:
    """Start servers on demand; all are stopped after the test."""
    started: list[RunningServer] = []

    async def factory(custom: Settings | None = None) -> RunningServer:
        srv = await start_server(custom or settings)
        started.append(srv)
        return srv

    yield factory
    for srv in reversed(started):
        await srv.close()


@pytest.fixture
async def server(server_factory: Callable[..., Awaitable[RunningServer]]) -> RunningServer:
    """The full app on 127.0.0.1:<free port>."""
    return await server_factory()


def _run_in_thread(make_coro: Callable[[], Awaitable[None]]) -> None:
    """Run a coroutine to completion on a private event loop in another thread."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(make_coro())  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="pg_url")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


async def _pg_admin(admin_url: str, statement: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test, dropped afterwards.

    A plain (sync) fixture, so async and sync tests and fixtures can all use it
    (also through ``request.getfixturevalue("pg_url")``).
    """
    admin_url = os.environ.get("DATABASE_URL_PG", DEFAULT_PG_URL)
    admin_url = normalise_database_url(admin_url)
    name = f"carertc_t_{uuid.uuid4().hex[:16]}"
    try:
        # template0: nobody is ever connected to it, so concurrent test runs cannot block
        create = f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"
        _run_in_thread(lambda: _pg_admin(admin_url, create))
    except Exception as exc:  # noqa: BLE001 - any failure: report and fail the test
        pytest.fail(f"PostgreSQL at {make_url(admin_url)!r} is unreachable: {exc}")
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _run_in_thread(
            lambda: _pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )


__all__ = [
    "DEFAULT_PG_URL",
    "TEST_JWT_SECRET",
    "RunningServer",
    "make_settings",
    "start_server",
]
