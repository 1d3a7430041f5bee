"""Migrations and the user service on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect as sa_inspect

import accounts.models  # noqa: F401  (the tables compared below)
from accounts.errors import AccountError, AuthError, UserExists
from accounts.service import UserService
from carertc.config import Settings
from db import migrate
from db.base import Base
from db.engine import create_engine, ping, session_factory
from im.search import is_search_object


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, settings: Settings) -> str:
    """Each test runs once on SQLite and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return settings.db_url
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def users(db_url: str):
    engine = create_engine(db_url)
    await migrate.upgrade(engine)
    yield UserService(session_factory(engine))
    await engine.dispose()


async def _tables(db_url: str) -> set[str]:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: sa_inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_creates_tables_and_reaches_head(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        assert await migrate.current_revision(engine) is None
        revision = await migrate.upgrade(engine)
        assert revision == migrate.head_revision() is not None
        assert await migrate.current_revision(engine) == revision
        assert await ping(engine)
    finally:
        await engine.dispose()
    assert {"users", "alembic_version"} <= await _tables(db_url)


async def test_upgrade_is_idempotent_and_serialised_within_a_process(db_url: str) -> None:
    engines = [create_engine(db_url) for _ in range(3)]
    try:
        revisions = await asyncio.gather(*(migrate.upgrade(e) for e in engines))
        assert set(revisions) == {migrate.head_revision()}
        assert await migrate.upgrade(engines[0]) == migrate.head_revision()
    finally:
        for e in engines:
            await e.dispose()


def _not_search(name: str | None, _type: str, _parent: object) -> bool:
    """Full-text search objects are made in raw SQL by the migration, not by the models."""
    return not is_search_object(name)


async def test_models_match_the_migrations(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"include_name": _not_search}),
                    Base.metadata,
                )
            )
    finally:
        await engine.dispose()
    assert diff == [], "a model changed without a migration in db/migrations/versions"


async def test_user_create_then_authenticate(users: UserService) -> None:
    created = await users.create(
        "dr.li", "doctor", "s3cret!", display_name="Dr Li", organisation="ward-7"
    )
    assert created.id and created.role == "doctor" and not created.disabled
    assert created.password_hash and "s3cret!" not in created.password_hash

    user = await users.authenticate("dr.li", "s3cret!")
    assert user.id == created.id and user.display_name == "Dr Li" and user.organisation == "ward-7"
    assert (await users.get(created.id)).name == "dr.li"  # type: ignore[union-attr]
    assert (await users.get_by_name("dr.li")).id == created.id  # type: ignore[union-attr]
    assert await users.is_active(created.id)
    assert await users.get("no-such-id") is None
    assert not await users.is_active("no-such-id")


async def test_authenticate_refuses_wrong_password_unknown_user_and_disabled(
    users: UserService,
) -> None:
    user = await users.create("nina", "nurse", "right")
    for name, password in (("nina", "wrong"), ("nobody", "right"), ("nina", "")):
        with pytest.raises(AuthError) as err:
            await users.authenticate(name, password)
        assert err.value.code == "bad_credentials"

    await users.set_disabled(user.id)
    assert not await users.is_active(user.id)
    with pytest.raises(AuthError) as err:
        await users.authenticate("nina", "right")
    assert err.value.code == "user_disabled"
    with pytest.raises(AuthError) as err:  # a wrong password does not reveal the account state
        await users.authenticate("nina", "wrong")
    assert err.value.code == "bad_credentials"


async def test_duplicate_name_is_user_exists(users: UserService) -> None:
    await users.create("fam", "family", "pw")
    with pytest.raises(UserExists) as err:
        await users.create("fam", "elder", "pw2")
    assert err.value.code == "user_exists"
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    ("name", "role", "password", "code"),
    [
        ("", "doctor", "pw", "bad_name"),
        ("has space", "doctor", "pw", "bad_name"),
        ("trailing\n", "doctor", "pw", "bad_name"),
        ("x" * 65, "doctor", "pw", "bad_name"),
        ("ok", "surgeon", "pw", "bad_role"),
        ("ok", "doctor", "", "bad_password"),
    ],
)
async def test_create_validates_name_role_password(
    users: UserService, name: str, role: str, password: str, code: str
) -> None:
    with pytest.raises(AccountError) as err:
        await users.create(name, role, password)
    assert err.value.code == code


async def test_build_app_migrates_postgres_and_creates_first_run_admin(
    settings: Settings, pg_url: str, server_factory
) -> None:
    custom = dataclasses.replace(
        settings,
        database_url=pg_url,
        auth=dataclasses.replace(settings.auth, admin_name="root", admin_password="first-run-pw"),
    )
    srv = await server_factory(custom)
    admin = await srv.users.authenticate("root", "first-run-pw")
    assert admin.role == "admin"
    await srv.close()
    # a second start keeps the existing admin (and its password) as it is
    srv2 = await server_factory(custom)
    assert (await srv2.users.authenticate("root", "first-run-pw")).id == admin.id
