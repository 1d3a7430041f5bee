"""Alembic environment for CareRTC.

Used two ways: programmatically by :func:`db.migrate.upgrade`, which hands over
an open connection in ``config.attributes["connection"]``; or from the
``alembic`` command line with ``sqlalchemy.url`` set (or ``DATABASE_URL``).
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

# Import every models module here so autogenerate sees all tables on Base.metadata.
import accounts.models
import accounts.org_models  # noqa: F401
import im.models  # noqa: F401
import recording.models  # noqa: F401
import rooms.consults.models
import rooms.meetings.models
import rooms.sos.models  # noqa: F401
from db.base import Base

target_metadata = Base.metadata
config = context.config


def _include_name(name: str | None, _type: str, _parent: object) -> bool:
    """Leave the raw-SQL full-text search objects out of autogenerate."""
    from im.search import is_search_object

    return not is_search_object(name)


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    from carertc.config import normalise_database_url
    from db.engine import create_engine

    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("set sqlalchemy.url or DATABASE_URL")
    engine = create_engine(normalise_database_url(url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_configure_and_run)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    """Run against a live database."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
