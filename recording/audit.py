"""The recording access log: who listed, viewed, downloaded, exported or deleted what.

Entries have no foreign key to ``recordings``: the log outlives a deleted
recording. ``org_id`` is the recording's organisation (for ``list`` without a
recording: the organisation the caller acts for), so an organisation's admins
read exactly their organisation's entries.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.principal import Principal
from recording.catalog import iso
from recording.models import ACCESS_ACTIONS, RecordingAccess, utcnow

SYSTEM = Principal(user_id="", name="system", role="system", org=None)
CSV_COLUMNS = (
    "at", "action", "user_id", "user_name", "role", "org_id", "recording_id", "file_id",
    "range", "ip", "user_agent",
)
MAX_LIMIT = 500
# a view or download of the same file by the same user is logged again after this long
# even when it does not start at byte 0 (see :meth:`AuditLog.should_log_media`)
MEDIA_SESSION_SECONDS = 300.0


@dataclass(frozen=True)
class ClientInfo:
    """Where a request came from."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class AuditQuery:
    """Filters of :meth:`AuditLog.entries` (``org_id`` always applies)."""

    org_id: str | None
    recording_id: str | None = None
    user_id: str | None = None
    action: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 100
    offset: int = 0


def entry_public(e: RecordingAccess) -> dict[str, Any]:
    """An access-log entry as the API shows it."""
    return {
        "id": e.id,
        "at": iso(e.at),
        "action": e.action,
        "user_id": e.user_id,
        "user_name": e.user_name,
        "role": e.role,
        "org_id": e.org_id,
        "recording_id": e.recording_id,
        "file_id": e.file_id,
        "range": e.range,
        "ip": e.ip,
        "user_agent": e.user_agent,
    }


class AuditLog:
    """Writes and reads ``recording_access_log``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._recent: dict[tuple[str, str, str], float] = {}

    async def record(
        self,
        who: Principal,
        action: str,
        *,
        org_id: str | None,
        recording_id: str | None = None,
        file_id: str | None = None,
        byte_range: str | None = None,
        client: ClientInfo | None = None,
    ) -> None:
        """Append one entry (``who`` is :data:`SYSTEM` for retention)."""
        if action not in ACCESS_ACTIONS:
            raise ValueError(f"unknown access action {action!r}")
        client = client or ClientInfo()
        entry = RecordingAccess(
            at=utcnow(),
            user_id=who.user_id or None,
            user_name=(who.name or "")[:200],
            role=(who.role or "")[:32],
            org_id=org_id,
            recording_id=recording_id,
            file_id=file_id,
            action=action,
            range=_clip(byte_range, 100),
            ip=_clip(client.ip, 64),
            user_agent=_clip(client.user_agent, 512),
        )
        async with self.sessions() as s, s.begin():
            s.add(entry)

    def should_log_media(self, who: Principal, file_id: str, action: str, start: int) -> bool:
        """Whether a media request opens a new playback (or download) worth an entry.

        A request without Range or whose range starts at byte 0 is always logged;
        a later range of the same file by the same user (seeking, buffering) is
        logged only if the last entry for it is older than
        :data:`MEDIA_SESSION_SECONDS`.
        """
        now = time.monotonic()
        key = (who.user_id, file_id, action)
        last = self._recent.get(key)
        if start > 0 and last is not None and now - last < MEDIA_SESSION_SECONDS:
            return False
        if len(self._recent) > 10_000:
            self._recent = {k: t for k, t in self._recent.items()
                            if now - t < MEDIA_SESSION_SECONDS}
        self._recent[key] = now
        return True

    def _select(self, q: AuditQuery) -> Any:
        e = RecordingAccess
        stmt = select(e).where(e.org_id.is_(None) if q.org_id is None else e.org_id == q.org_id)
        if q.recording_id is not None:
            stmt = stmt.where(e.recording_id == q.recording_id)
        if q.user_id is not None:
            stmt = stmt.where(e.user_id == q.user_id)
        if q.action is not None:
            stmt = stmt.where(e.action == q.action)
        if q.start is not None:
            stmt = stmt.where(e.at >= q.start)
        if q.end is not None:
            stmt = stmt.where(e.at < q.end)
        return stmt.order_by(e.at.desc(), e.id.desc())

    async def entries(self, q: AuditQuery) -> tuple[list[dict[str, Any]], bool]:
        """Entries matching ``q``, newest first, and whether more follow."""
        limit = max(1, min(q.limit, MAX_LIMIT))
        stmt = self._select(q).offset(max(0, q.offset)).limit(limit + 1)
        async with self.sessions() as s:
            rows = [entry_public(e) for e in (await s.execute(stmt)).scalars()]
        return rows[:limit], len(rows) > limit

    async def csv_chunks(self, q: AuditQuery, batch: int = 1000) -> AsyncIterator[bytes]:
        """Every entry matching ``q`` (no paging) as CSV, header first, in chunks."""
        yield _csv_line(CSV_COLUMNS)
        offset = 0
        while True:
            async with self.sessions() as s:
                stmt = self._select(q).offset(offset).limit(batch)
                rows = list((await s.execute(stmt)).scalars())
            if not rows:
                return
            out = io.StringIO()
            writer = csv.writer(out)
            for e in rows:
                d = entry_public(e)
                writer.writerow(["" if d[c] is None else _cell(str(d[c])) for c in CSV_COLUMNS])
            yield out.getvalue().encode()
            if len(rows) < batch:
                return
            offset += batch


def _clip(value: str | None, length: int) -> str | None:
    return value[:length] if value else None


def _csv_line(values: tuple[str, ...]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue().encode()


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas (a user agent is chosen by the client)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
