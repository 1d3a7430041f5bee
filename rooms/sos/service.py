"""SosService: raise, ring, accept (first wins), decline, cancel, end; every step logged.

Status: ``ringing`` -> ``answered`` -> ``ended``, or ``cancelled`` by the elder
(from ringing or answered). Each change is one conditional UPDATE
(``... WHERE status = 'ringing'``), so two accepts at the same instant have
exactly one winner on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.flow_errors import FlowError
from accounts.orgs import OrgActor, OrgService, PermissionDenied
from accounts.principal import Principal
from im import Actor, ImService
from rooms.permissions import Identity
from rooms.sos.directory import Directory
from rooms.sos.escalation import Escalation
from rooms.sos.keys import ApiKeys
from rooms.sos.log import SosLog, event_wire, iso, now, room_of, sos_wire, utc
from rooms.sos.models import SosAlert, SosRecipient
from rooms.sos.room import SosRooms
from rooms.sos.state import Active, NoNotify, Notify, Online, Tasks
from rooms.sos.validation import RaiseRequest
from rooms.sos.webhooks import Webhooks

log = logging.getLogger("carertc.sos")

LIVE = ("ringing", "answered")
WEBHOOK_KINDS = frozenset(
    {"raised", "ring_delivered", "accepted", "declined", "escalated", "joined", "cancelled",
     "ended", "unanswered"}
)


class SosAlreadyAnswered(FlowError):
    """``sos_already_answered``, naming who answered."""

    def __init__(self, answered_by: dict[str, Any] | None) -> None:
        who = (answered_by or {}).get("name") or "someone else"
        super().__init__("sos_already_answered", f"{who} has already answered this SOS")
        self.answered_by = answered_by

    def to_dict(self) -> dict[str, Any]:  # type: ignore[override]
        """The wire form, with ``answered_by``."""
        return {"error": {"code": self.code, "message": self.message,
                          "answered_by": self.answered_by}}


def principal_of(identity: Identity) -> Principal:
    """The accounts view of a signed-in identity."""
    return Principal(identity.user_id, identity.name, identity.role, identity.org,
                     identity.room_grant)


class SosService:
    """One-tap video SOS: the flow, its log, API keys and webhooks."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ring_timeout_seconds: float = 30.0,
        im: ImService | None = None,
        webhooks: Webhooks | None = None,
        orgs: OrgService | None = None,
    ) -> None:
        self.sessions = sessions
        self.ring_timeout = float(ring_timeout_seconds)
        self.orgs = orgs or OrgService(sessions)
        self.directory = Directory(sessions, self.orgs)
        self.log = SosLog(sessions)
        self.keys = ApiKeys(sessions)
        self.webhooks = webhooks or Webhooks(sessions)
        self.webhooks.outcome = self._webhook_outcome
        self.im = im
        self.notify: Notify = NoNotify()
        self.online: Online | None = None
        self.active: dict[str, Active] = {}
        self.tasks = Tasks()
        self.escalation = Escalation(self)
        self.rooms = SosRooms(self)
        self._names: dict[str, str] = {}
        self.closed = False

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start webhooks; re-arm escalation timers of alerts still ringing (after a restart)."""
        await self.webhooks.start()
        await self.escalation.rearm()

    async def running(self, _app: Any) -> AsyncIterator[None]:
        """aiohttp cleanup context: :meth:`start` on start-up, :meth:`close` on shutdown."""
        await self.start()
        yield
        await self.close()

    async def close(self) -> None:
        """Stop timers and background work."""
        self.closed = True
        for active in self.active.values():
            active.cancel_timer()
        await self.tasks.drain()
        await self.webhooks.close()

    # -- helpers ---------------------------------------------------------------------------

    async def names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Display names (cached)."""
        wanted = {u for u in user_ids if u}
        missing = wanted - self._names.keys()
        if missing:
            self._names.update(await self.directory.names(missing))
        return {u: self._names[u] for u in wanted if u in self._names}

    async def wire(self, alert: SosAlert) -> dict[str, Any]:
        """The wire form of ``alert`` with names filled in."""
        names = await self.names([alert.elder_id, alert.answered_by or ""])
        return sos_wire(alert, names)

    async def load(self, sos_id: str) -> SosAlert:
        """The alert; ``sos_not_found`` if there is none."""
        alert = await self.log.alert(sos_id)
        if alert is None:
            raise FlowError("sos_not_found", "there is no such SOS")
        return alert

    async def record(self, alert: SosAlert | Active, kind: str, user_id: str | None = None,
                     data: dict[str, Any] | None = None, *, wire: dict[str, Any] | None = None,
                     session: AsyncSession | None = None) -> None:
        """Log one step; publish it to webhooks (``alert``: the row, or this node's copy)."""
        event = await self.log.record(alert.id, kind, user_id, data, session=session)
        if kind in WEBHOOK_KINDS and alert.org_id:
            if wire is None:
                assert isinstance(alert, SosAlert)
                wire = await self.wire(alert)
            body = {"at": event.at.isoformat(), "user_id": user_id, "data": data or {},
                    "sos": wire}
            self.webhooks.publish(alert.org_id, "sos." + kind, body)

    async def _webhook_outcome(self, sos_id: str, kind: str, data: dict[str, Any]) -> None:
        if not self.closed:
            await self.log.record(sos_id, kind, None, data)

    def chat(self, sos_id: str, event: str, **data: Any) -> None:
        """Post a system line into the SOS room's conversation (in the background)."""
        if self.im is not None:
            self.tasks.spawn(self._chat(sos_id, event, data), name=f"sos.chat:{sos_id}")

    async def _chat(self, sos_id: str, event: str, data: dict[str, Any]) -> None:
        assert self.im is not None
        alert = await self.load(sos_id)
        elder = (await self.names([alert.elder_id])).get(alert.elder_id, "")
        conv_id, _ = await self.im.ensure_room_conversation(
            Actor(alert.elder_id, elder, "elder"), room_of(sos_id), title=f"SOS: {elder}"
        )
        if event == "sos_answered" and data.get("user_id"):
            await self.im.ensure_members(conv_id, {data["user_id"]: "member"})
        await self.im.post_system(conv_id, event, **data)

    # -- raising --------------------------------------------------------------------------

    async def raise_for_user(self, identity: Identity, req: RaiseRequest) -> dict[str, Any]:
        """An elder raises an SOS for themselves (app or kiosk)."""
        await self.orgs.require(principal_of(identity), "sos.raise")
        org_id = await self.directory.home_org(identity.user_id, identity.org)
        self._names[identity.user_id] = identity.name
        source = "kiosk" if req.kiosk else "app"
        return await self._raise(identity.user_id, org_id, source, req, None)

    async def raise_for_device(self, key: str | None, elder_id: str,
                               req: RaiseRequest) -> dict[str, Any]:
        """A device alarm posted by an integration with its organisation's API key."""
        api_key = await self.keys.verify(key)
        self.tasks.spawn(self.keys.touch(api_key.id), name="sos.key_touch")
        if not await self.directory.is_member(api_key.org_id, elder_id):
            raise PermissionDenied("sos.raise")
        return await self._raise(elder_id, api_key.org_id, "device", req, api_key.id)

    async def _raise(self, elder_id: str, org_id: str | None, source: str, req: RaiseRequest,
                     api_key_id: str | None) -> dict[str, Any]:
        plan = await self.directory.plan(elder_id, org_id)
        first = plan[0] if plan else None
        raised = now()
        alert = SosAlert(
            org_id=org_id, elder_id=elder_id, source=source, kind=req.kind,
            device_id=req.device_id, api_key_id=api_key_id, status="ringing", step=0,
            location=req.location, vitals=req.vitals, created_at=raised,
            escalate_at=raised + timedelta(seconds=self.ring_timeout) if first else None,
        )
        members = list(first.members) if first else []
        async with self.sessions() as s, s.begin():
            s.add(alert)
            await s.flush()
            for user_id, relation in members:
                s.add(SosRecipient(sos_id=alert.id, user_id=user_id, step=0,
                                   relation=relation, rung_at=raised))
            wire = await self.wire(alert)
            await self.record(alert, "raised", elder_id, {
                "source": source, "kind": req.kind, "device_id": req.device_id,
                "tier": first.tier if first else None, "to": [m[0] for m in members],
            }, wire=wire, session=s)
        active = Active(id=alert.id, org_id=org_id, elder_id=elder_id, status="ringing",
                        step=0, wire=wire, recipients={uid: raised for uid, _ in members})
        self.active[alert.id] = active
        log.info("sos_raised", extra={"sos_id": alert.id, "source": source, "kind": req.kind,
                                      "rung": len(members)})
        await self.notify.to_users([m[0] for m in members], "sos:ring", {"sos": wire})
        await self.notify.to_users([elder_id], "sos:start_call",
                                   {"sos_id": alert.id, "room_id": room_of(alert.id)})
        self.chat(alert.id, "sos_raised", user_id=elder_id, name=wire["elder"]["name"])
        if first is None:
            self.tasks.spawn(self.escalation.fire(alert.id, 0, "no_contacts"), name="sos.esc")
        else:
            self.escalation.after_ring(active, [m[0] for m in members])
        return wire

    # -- answering ---------------------------------------------------------------------------

    async def _recipient_alert(self, identity: Identity, sos_id: str) -> SosAlert:
        alert = await self.load(sos_id)
        if await self.log.recipient(sos_id, identity.user_id) is None:
            raise FlowError("sos_not_found", "there is no such SOS for this account")
        return alert

    async def accept(self, sid: str | None, identity: Identity, sos_id: str) -> dict[str, Any]:
        """First accept wins: ``{room_id, sos}``; later ones get ``sos_already_answered``."""
        alert = await self._recipient_alert(identity, sos_id)
        at = now()
        async with self.sessions() as s, s.begin():
            result = await s.execute(
                update(SosAlert)
                .where(SosAlert.id == sos_id, SosAlert.status == "ringing")
                .values(status="answered", answered_by=identity.user_id, answered_at=at,
                        escalate_at=None)
            )
            won = result.rowcount == 1  # type: ignore[attr-defined]
        alert = await self.load(sos_id)
        wire = await self.wire(alert)
        if not won:
            if alert.status == "answered":
                raise SosAlreadyAnswered(wire["answered_by"])
            raise FlowError("bad_state", f"this SOS is {alert.status}")
        self._names[identity.user_id] = identity.name
        delay = at - (utc(alert.created_at) or at)
        await self.record(alert, "accepted", identity.user_id,
                          {"sid": sid, "delay_ms": round(delay.total_seconds() * 1000)}, wire=wire)
        active = self.active.get(sos_id)
        if active is not None:
            active.status, active.wire = "answered", wire
            active.cancel_timer()
        recipients = [r.user_id for r in await self.log.recipients(sos_id)]
        stop = {"sos_id": sos_id, "answered_by": wire["answered_by"], "reason": "answered"}
        await self.notify.to_users(recipients, "sos:ring_stop", stop, skip=sid)
        await self.notify.to_users([alert.elder_id, *recipients], "sos:update", {"sos": wire})
        self.chat(sos_id, "sos_answered", user_id=identity.user_id, name=identity.name)
        return {"room_id": room_of(sos_id), "sos": wire}

    async def decline(self, sid: str | None, identity: Identity, sos_id: str) -> dict[str, Any]:
        """Decline ringing; when everyone rung so far declined, escalate at once."""
        alert = await self._recipient_alert(identity, sos_id)
        if alert.status != "ringing":
            return {"ok": True, "status": alert.status}
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(SosRecipient)
                .where(SosRecipient.sos_id == sos_id, SosRecipient.user_id == identity.user_id)
                .values(declined_at=now())
            )
        active = self.active.get(sos_id)
        if active is not None:
            active.declined.add(identity.user_id)
        await self.record(alert, "declined", identity.user_id, {"sid": sid})
        await self.notify.to_users([identity.user_id], "sos:ring_stop",
                                   {"sos_id": sos_id, "answered_by": None, "reason": "declined"},
                                   skip=sid)
        rows = await self.log.recipients(sos_id)
        if rows and all(r.declined_at is not None for r in rows):
            await self.escalation.fire(sos_id, alert.step, "declined")
        return {"ok": True, "status": "ringing"}

    async def ringing(self, sid: str, identity: Identity, sos_id: str) -> dict[str, Any]:
        """A device reports it is ringing: logged once per device with the delay."""
        active = self.active.get(sos_id)
        if active is None:
            alert = await self._recipient_alert(identity, sos_id)
            return {"ok": True, "status": alert.status}
        rung_at = active.recipients.get(identity.user_id)
        if rung_at is None:
            raise FlowError("sos_not_found", "there is no such SOS for this account")
        if sid not in active.delivered:
            active.delivered.add(sid)
            delay = round((now() - rung_at).total_seconds() * 1000)
            await self.record(active, "ring_delivered", identity.user_id,
                              {"sid": sid, "delay_ms": delay}, wire=active.wire)
        return {"ok": True, "status": active.status}

    # -- ending ---------------------------------------------------------------------------------

    async def cancel(self, identity: Identity | None, sos_id: str,
                     org_id: str | None = None) -> dict[str, Any]:
        """The elder (or the organisation's integration) calls off the SOS: ``cancelled``."""
        alert = await self.load(sos_id)
        allowed = (identity is not None and identity.user_id == alert.elder_id) or (
            org_id is not None and org_id == alert.org_id)
        if not allowed:
            raise FlowError("sos_not_found", "there is no such SOS for this account")
        return await self._finish(alert, "cancelled", "cancelled",
                                  identity.user_id if identity else None)

    async def end(self, identity: Identity | None, sos_id: str,
                  reason: str = "ended") -> dict[str, Any]:
        """The elder, someone rung, or the organisation's SOS desk ends it: ``ended``."""
        alert = await self.load(sos_id)
        if (
            identity is not None
            and identity.user_id != alert.elder_id
            and await self.log.recipient(sos_id, identity.user_id) is None
            and not await self.may_log(
                await self.directory.actor(identity.user_id, identity.org), alert.org_id
            )
        ):
            raise FlowError("sos_not_found", "there is no such SOS for this account")
        return await self._finish(alert, "ended", reason, identity.user_id if identity else None)

    async def _finish(self, alert: SosAlert, status: str, reason: str,
                      user_id: str | None) -> dict[str, Any]:
        async with self.sessions() as s, s.begin():
            result = await s.execute(
                update(SosAlert)
                .where(SosAlert.id == alert.id, SosAlert.status.in_(LIVE))
                .values(status=status, ended_at=now(), end_reason=reason, escalate_at=None)
            )
            changed = result.rowcount == 1  # type: ignore[attr-defined]
        was_ringing = alert.status == "ringing"
        alert = await self.load(alert.id)
        if not changed:
            raise FlowError("bad_state", f"this SOS is already {alert.status}")
        wire = await self.wire(alert)
        active = self.active.pop(alert.id, None)
        if active is not None:
            active.cancel_timer()
        await self.record(alert, status, user_id, {"reason": reason}, wire=wire)
        recipients = [r.user_id for r in await self.log.recipients(alert.id)]
        if was_ringing:
            await self.notify.to_users(recipients, "sos:ring_stop",
                                       {"sos_id": alert.id, "answered_by": None, "reason": status})
        await self.notify.to_users([alert.elder_id, *recipients], "sos:update", {"sos": wire})
        self.chat(alert.id, f"sos_{status}", user_id=user_id, reason=reason)
        return wire

    # -- reading ---------------------------------------------------------------------------------

    async def may_log(self, actor: OrgActor | None, org_id: str | None) -> bool:
        """Whether ``actor`` may read the SOS log of the organisation (``sos.log``)."""
        if actor is None or org_id is None:
            return bool(actor and actor.global_admin)
        try:
            await self.orgs.require_in(actor, org_id, "sos.log")
        except (PermissionDenied, FlowError):
            return False
        return True

    async def may_read(self, actor: OrgActor, alert: SosAlert) -> bool:
        """The elder, anyone it rang, or someone with ``sos.log`` in its organisation."""
        if actor.user_id == alert.elder_id:
            return True
        if await self.log.recipient(alert.id, actor.user_id) is not None:
            return True
        return await self.may_log(actor, alert.org_id)

    async def detail(self, actor: OrgActor, sos_id: str) -> dict[str, Any]:
        """``{sos, events, recipients}`` for someone who may read it."""
        alert = await self.load(sos_id)
        if not await self.may_read(actor, alert):
            raise FlowError("sos_not_found", "there is no such SOS for this account")
        events = await self.log.events(sos_id)
        recipients = await self.log.recipients(sos_id)
        names = await self.names([e.user_id or "" for e in events] +
                                 [r.user_id for r in recipients])
        return {
            "sos": await self.wire(alert),
            "events": [event_wire(e, names) for e in events],
            "recipients": [
                {"user": {"id": r.user_id, "name": names.get(r.user_id, "")}, "step": r.step,
                 "relation": r.relation, "rung_at": iso(r.rung_at),
                 "declined_at": iso(r.declined_at)}
                for r in recipients
            ],
        }

    async def mine(self, identity: Identity) -> list[dict[str, Any]]:
        """Live SOS alerts the caller raised or is rung by."""
        alerts = await self.log.search(user_id=identity.user_id, limit=20)
        return [await self.wire(a) for a in alerts if a.status in LIVE]

