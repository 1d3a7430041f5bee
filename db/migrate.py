"""Alembic migrations, applied programmatically (no alembic.ini needed).

The scripts live in ``db/migrations`` inside the package. :func:`upgrade`
runs them on the application's own async engine; on PostgreSQL an advisory
lock makes concurrent starts of several server processes safe.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# An arbitrary constant: pg_advisory_lock key for "carertc migrations".
_PG_LOCK_KEY = 0x0CA4E47C
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged scripts."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _process_lock() -> asyncio.Lock:
    # Alembic keeps its running context in module globals, so two upgrades may
    # not interleave in one process; one lock per event loop.
    loop = asyncio.get_running_loop()
    lock = _LOCKS.get(loop)
    if lock is None:
        lock = _LOCKS[loop] = asyncio.Lock()
    return lock


async def upgrade(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision``; return the database's revision afterwards."""
    async with _process_lock(), engine.begin() as conn:
        return await conn.run_sync(_upgrade_sync, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None if never migrated)."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def _upgrade_sync(conn: Connection, revision: str) -> str | None:
    is_pg = conn.dialect.name == "postgresql"
    if is_pg:
        # transaction-scoped: released when engine.begin() commits or rolls back
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)
    return MigrationContext.configure(conn).get_current_revision()
