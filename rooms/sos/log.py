"""The SOS log: wire forms of alerts and events, recording steps, reading them back."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.times import iso
from rooms.sos.models import SosAlert, SosEvent, SosRecipient

log = logging.getLogger("carertc.sos")

ROOM_PREFIX = "sos-"


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def utc(value: datetime | None) -> datetime | None:
    """``value`` as an aware UTC datetime (SQLite hands back naive ones)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def room_of(sos_id: str) -> str:
    """The call room of an SOS."""
    return ROOM_PREFIX + sos_id


def sos_wire(alert: SosAlert, names: dict[str, str]) -> dict[str, Any]:
    """The wire form of an SOS (``names``: user id -> display name)."""
    answered = (
        {"id": alert.answered_by, "name": names.get(alert.answered_by, "")}
        if alert.answered_by
        else None
    )
    return {
        "id": alert.id,
        "org_id": alert.org_id,
        "elder": {"id": alert.elder_id, "name": names.get(alert.elder_id, "")},
        "source": alert.source,
        "kind": alert.kind,
        "device_id": alert.device_id,
        "status": alert.status,
        "step": alert.step,
        "location": alert.location,
        "vitals": alert.vitals,
        "room_id": room_of(alert.id),
        "answered_by": answered,
        "answered_at": iso(alert.answered_at),
        "created_at": iso(alert.created_at),
        "ended_at": iso(alert.ended_at),
        "end_reason": alert.end_reason,
    }


def event_wire(event: SosEvent, names: dict[str, str] | None = None) -> dict[str, Any]:
    """The wire form of one logged step."""
    return {
        "id": event.id,
        "sos_id": event.sos_id,
        "kind": event.kind,
        "at": iso(event.at),
        "user": (
            {"id": event.user_id, "name": (names or {}).get(event.user_id, "")}
            if event.user_id
            else None
        ),
        "data": event.data or {},
    }


class SosLog:
    """Stores steps of SOS alerts and answers questions about them."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def record(
        self,
        sos_id: str,
        kind: str,
        user_id: str | None = None,
        data: dict[str, Any] | None = None,
        *,
        session: AsyncSession | None = None,
        at: datetime | None = None,
    ) -> SosEvent:
        """Store one step (in ``session`` if given, else in its own transaction)."""
        event = SosEvent(sos_id=sos_id, kind=kind, user_id=user_id, data=data, at=at or now())
        if session is not None:
            session.add(event)
            await session.flush()
        else:
            async with self.sessions() as s, s.begin():
                s.add(event)
        log.info("sos_step", extra={"sos_id": sos_id, "step": kind, "user_id": user_id})
        return event

    async def alert(self, sos_id: str) -> SosAlert | None:
        """The SOS row, or None."""
        async with self.sessions() as s:
            return await s.get(SosAlert, sos_id)

    async def recipients(self, sos_id: str) -> list[SosRecipient]:
        """Everyone the SOS rang, in the order they were rung."""
        async with self.sessions() as s:
            rows = await s.execute(
                select(SosRecipient)
                .where(SosRecipient.sos_id == sos_id)
                .order_by(SosRecipient.step, SosRecipient.rung_at)
            )
            return list(rows.scalars())

    async def recipient(self, sos_id: str, user_id: str) -> SosRecipient | None:
        """The user's recipient row for this SOS, or None if it did not ring them."""
        async with self.sessions() as s:
            return await s.get(SosRecipient, (sos_id, user_id))

    async def events(self, sos_id: str) -> list[SosEvent]:
        """Every step of one SOS, oldest first."""
        async with self.sessions() as s:
            rows = await s.execute(
                select(SosEvent).where(SosEvent.sos_id == sos_id).order_by(SosEvent.id)
            )
            return list(rows.scalars())

    async def search(
        self,
        *,
        org_id: str | None = None,
        user_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> list[SosAlert]:
        """SOS alerts of an organisation, or those raised by or ringing ``user_id``; newest first."""
        query = select(SosAlert)
        if org_id is not None:
            query = query.where(SosAlert.org_id == org_id)
        if user_id is not None:
            rung = select(SosRecipient.sos_id).where(SosRecipient.user_id == user_id)
            query = query.where(or_(SosAlert.elder_id == user_id, SosAlert.id.in_(rung)))
        if since is not None:
            query = query.where(SosAlert.created_at >= since)
        if until is not None:
            query = query.where(SosAlert.created_at < until)
        query = query.order_by(SosAlert.created_at.desc()).limit(limit)
        async with self.sessions() as s:
            return list((await s.execute(query)).scalars())

    async def active_alerts(self) -> list[SosAlert]:
        """Alerts still ringing or in a call (to re-arm after a restart)."""
        async with self.sessions() as s:
            rows = await s.execute(
                select(SosAlert).where(SosAlert.status.in_(("ringing", "answered")))
            )
            return list(rows.scalars())
