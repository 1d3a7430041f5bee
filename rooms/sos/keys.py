"""Organisation API keys for device integrations: shown once, stored as a SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.flow_errors import FlowError
from rooms.sos.log import iso, now
from rooms.sos.models import ApiKey

KEY_PREFIX = "crtc_"
MAX_KEY_LENGTH = 200


def hash_key(key: str) -> str:
    """The stored form of a key: hex SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_wire(row: ApiKey) -> dict[str, Any]:
    """The listed form of a key (never the key itself)."""
    return {
        "id": row.id,
        "org_id": row.org_id,
        "name": row.name,
        "prefix": row.prefix,
        "created_at": iso(row.created_at),
        "last_used_at": iso(row.last_used_at),
        "revoked": row.revoked,
    }


class ApiKeys:
    """Create, list, revoke and check organisation API keys."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def create(self, org_id: str, name: str, created_by: str | None) -> dict[str, Any]:
        """A new key for ``org_id``: the listed form plus ``key`` (shown this once)."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(
            org_id=org_id,
            name=name,
            key_hash=hash_key(key),
            prefix=key[: len(KEY_PREFIX) + 6],
            created_by=created_by,
            created_at=now(),
        )
        async with self.sessions() as s, s.begin():
            s.add(row)
        return {**key_wire(row), "key": key}

    async def of_org(self, org_id: str) -> list[dict[str, Any]]:
        """The organisation's keys, newest first."""
        async with self.sessions() as s:
            rows = await s.execute(
                select(ApiKey).where(ApiKey.org_id == org_id).order_by(ApiKey.created_at.desc())
            )
            return [key_wire(r) for r in rows.scalars()]

    async def revoke(self, org_id: str, key_id: str) -> None:
        """Revoke one key; ``api_key_not_found`` if the organisation has no such key."""
        async with self.sessions() as s, s.begin():
            result = await s.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.org_id == org_id)
                .values(revoked=True)
            )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise FlowError("api_key_not_found", "there is no such API key")

    async def verify(self, key: str | None) -> ApiKey:
        """The live key row for ``key``; ``api_key_invalid`` otherwise."""
        if not key or len(key) > MAX_KEY_LENGTH or not key.startswith(KEY_PREFIX):
            raise FlowError("api_key_invalid", "a valid X-Api-Key header is required")
        async with self.sessions() as s:
            row = (
                await s.execute(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
            ).scalar_one_or_none()
        if row is None or row.revoked:
            raise FlowError("api_key_invalid", "a valid X-Api-Key header is required")
        return row

    async def touch(self, key_id: str) -> None:
        """Note that a key was just used."""
        async with self.sessions() as s, s.begin():
            await s.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now()))
