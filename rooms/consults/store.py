"""The consult store: loading consults with their participants, listing, state changes, events.

:class:`rooms.consults.service.ConsultService` builds the flow on top of it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.flow_errors import FlowError
from accounts.models import User
from accounts.orgs import OrgService
from accounts.principal import Principal
from rooms.consults import values as v
from rooms.consults.models import Consult, ConsultParticipant

log = logging.getLogger("carertc.consults")

# (user ids, event, payload) -> delivered to every device of those users
Notify = Callable[[Iterable[str], str, dict[str, Any]], Awaitable[None]]


async def _no_notify(user_ids: Iterable[str], event: str, payload: dict[str, Any]) -> None:
    return None


def not_found() -> FlowError:
    """``consult_not_found``: no such consult, or the caller does not take part in it."""
    return FlowError("consult_not_found", "no such consult")


class ConsultStore:
    """Consults and their participants in ``consults`` / ``consult_participants``."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        orgs: OrgService,
        notify: Notify | None = None,
    ) -> None:
        self.sessions = sessions
        self.orgs = orgs
        self.notify: Notify = notify or _no_notify

    # -- reading ---------------------------------------------------------------------------

    async def _load(self, consult_id: str) -> tuple[Consult, list[ConsultParticipant]] | None:
        if not isinstance(consult_id, str) or not 0 < len(consult_id) <= 36:
            return None
        async with self.sessions() as s:
            consult = await s.get(Consult, consult_id)
            if consult is None:
                return None
            rows = await s.execute(
                select(ConsultParticipant).where(ConsultParticipant.consult_id == consult_id)
            )
            return consult, list(rows.scalars())

    async def _names(self, user_ids: Iterable[str]) -> dict[str, str]:
        wanted = set(user_ids)
        if not wanted:
            return {}
        async with self.sessions() as s:
            rows = await s.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
            return {uid: name for uid, name in rows}

    async def _record(
        self, consult: Consult, parts: list[ConsultParticipant], viewer: str | None
    ) -> dict[str, Any]:
        names = await self._names(
            [consult.clinician_id, consult.patient_id, *(p.user_id for p in parts)]
        )
        return v.record(consult, parts, names, viewer=viewer)

    async def _mine(
        self, principal: Principal, consult_id: str, roles: tuple[str, ...] | None = None
    ) -> tuple[Consult, list[ConsultParticipant], str]:
        """The consult if ``principal`` takes part (in one of ``roles``); else a FlowError."""
        loaded = await self._load(consult_id)
        if loaded is None:
            raise not_found()
        consult, parts = loaded
        mine = next((p.role for p in parts if p.user_id == principal.user_id), None)
        if mine is None:
            raise not_found()
        if roles is not None and mine not in roles:
            raise FlowError("permission_denied", "only the consult's clinician may do that")
        return consult, parts, mine

    async def get(self, principal: Principal, consult_id: str) -> dict[str, Any]:
        """The consult as its participant sees it; ``consult_not_found`` for anyone else."""
        consult, parts, _ = await self._mine(principal, consult_id)
        return await self._record(consult, parts, principal.user_id)

    async def list_consults(self, principal: Principal, query: v.ListQuery) -> list[dict[str, Any]]:
        """The caller's consults; with ``stats.view`` also the organisation's (without content)."""
        mine = select(ConsultParticipant.consult_id).where(
            ConsultParticipant.user_id == principal.user_id
        )
        condition: ColumnElement[bool] = Consult.id.in_(mine)
        if principal.org is not None and await self.orgs.allowed(principal, "stats.view"):
            condition = or_(condition, Consult.org_id == principal.org)
        stmt = select(Consult).where(condition)
        if query.statuses:
            stmt = stmt.where(Consult.status.in_(query.statuses))
        if query.start is not None:
            stmt = stmt.where(Consult.scheduled_at >= query.start)
        if query.end is not None:
            stmt = stmt.where(Consult.scheduled_at < query.end)
        when = Consult.scheduled_at.desc() if query.descending else Consult.scheduled_at.asc()
        stmt = stmt.order_by(when, Consult.id).limit(query.limit)
        async with self.sessions() as s:
            consults = list((await s.execute(stmt)).scalars())
            ids = [c.id for c in consults]
            rows = await s.execute(
                select(ConsultParticipant).where(ConsultParticipant.consult_id.in_(ids))
            )
            parts: dict[str, list[ConsultParticipant]] = {}
            for p in rows.scalars():
                parts.setdefault(p.consult_id, []).append(p)
        names = await self._names(
            {c.clinician_id for c in consults}
            | {c.patient_id for c in consults}
            | {p.user_id for ps in parts.values() for p in ps}
        )
        out = []
        for c in consults:
            ps = parts.get(c.id, [])
            full = any(p.user_id == principal.user_id for p in ps)
            out.append(v.record(c, ps, names, viewer=principal.user_id, full=full))
        return out

    async def _transition(self, consult_id: str, before: tuple[str, ...], **values: Any) -> None:
        """Move the consult out of one of the ``before`` states at once, or raise ``bad_state``."""
        async with self.sessions() as s, s.begin():
            result = cast(
                CursorResult[Any],
                await s.execute(
                    update(Consult)
                    .where(Consult.id == consult_id, Consult.status.in_(before))
                    .values(**values)
                ),
            )
            if result.rowcount == 1:
                return
            status = (
                await s.execute(select(Consult.status).where(Consult.id == consult_id))
            ).scalar_one_or_none()
        raise FlowError("bad_state", f"the consult is {status}, not {' or '.join(before)}")

    async def _changed(self, consult_id: str, viewer: str) -> dict[str, Any]:
        """Tell every participant (``consult:update``); the record as ``viewer`` sees it."""
        loaded = await self._load(consult_id)
        if loaded is None:
            raise not_found()
        consult, parts = loaded
        names = await self._names(
            [consult.clinician_id, consult.patient_id, *(p.user_id for p in parts)]
        )
        for p in parts:
            record = v.record(consult, parts, names, viewer=p.user_id)
            await self._send([p.user_id], "consult:update", {"consult": record})
        return v.record(consult, parts, names, viewer=viewer)

    async def _send(self, user_ids: list[str], event: str, payload: dict[str, Any]) -> None:
        try:
            await self.notify(user_ids, event, payload)
        except Exception:
            log.exception("consult_notify_failed", extra={"consult_event": event})
