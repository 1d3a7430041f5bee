"""Escalation: when nobody accepts in time, ring the next tier, then the duty desk.

Timers live on the node that raised the SOS (``asyncio`` call_later). Each
alert stores ``step`` and ``escalate_at``; moving to the next step is a
conditional UPDATE on ``(status = 'ringing', step = <current>)``, so a timer
that fires twice (or on two nodes) escalates once. At start-up every alert
still ringing is re-armed from ``escalate_at`` (:meth:`Escalation.rearm`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import update

from rooms.sos.log import now, utc
from rooms.sos.models import SosAlert, SosRecipient
from rooms.sos.state import Active

if TYPE_CHECKING:
    from rooms.sos.service import SosService

log = logging.getLogger("carertc.sos")


class Escalation:
    """Timers per ringing SOS and the step to the next group of people."""

    def __init__(self, service: SosService) -> None:
        self.svc = service

    def arm(self, active: Active, delay: float) -> None:
        """Escalate ``active`` from its current step after ``delay`` seconds."""
        active.cancel_timer()
        step = active.step
        active.timer = asyncio.get_running_loop().call_later(
            max(0.0, delay),
            lambda: self.svc.tasks.spawn(
                self.fire(active.id, step, "timeout"), name=f"sos.escalate:{active.id}"
            ),
        )

    def after_ring(self, active: Active, rung: list[str]) -> None:
        """Arm the step's timer; if nobody just rung has a device online, escalate now."""
        self.arm(active, self.svc.ring_timeout)
        if self.svc.online is not None and rung:
            self.svc.tasks.spawn(
                self._skip_if_offline(active.id, active.step, rung), name=f"sos.online:{active.id}"
            )

    async def _skip_if_offline(self, sos_id: str, step: int, rung: list[str]) -> None:
        assert self.svc.online is not None
        if not await self.svc.online.who(rung):
            await self.fire(sos_id, step, "nobody_online")

    async def fire(self, sos_id: str, from_step: int, reason: str) -> None:
        """Move the SOS from ``from_step`` to the next step that rings someone new."""
        svc = self.svc
        if svc.closed:
            return
        alert = await svc.log.alert(sos_id)
        if alert is None or alert.status != "ringing" or alert.step != from_step:
            return
        plan = await svc.directory.plan(alert.elder_id, alert.org_id)
        already = {r.user_id for r in await svc.log.recipients(sos_id)}
        step = from_step + 1
        while step < len(plan) and not [m for m in plan[step].members if m[0] not in already]:
            step += 1
        last = step >= len(plan)
        at = now()
        members = [] if last else [m for m in plan[step].members if m[0] not in already]
        async with svc.sessions() as s, s.begin():
            result = await s.execute(
                update(SosAlert)
                .where(SosAlert.id == sos_id, SosAlert.status == "ringing",
                       SosAlert.step == from_step)
                .values(step=step,
                        escalate_at=None if last else at + timedelta(seconds=svc.ring_timeout))
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return  # answered, cancelled or escalated meanwhile
            for user_id, relation in members:
                s.add(SosRecipient(sos_id=sos_id, user_id=user_id, step=step,
                                   relation=relation, rung_at=at))
        alert.step = step
        wire = await svc.wire(alert)
        active = svc.active.get(sos_id)
        if active is None:
            active = Active(id=sos_id, org_id=alert.org_id, elder_id=alert.elder_id,
                            status="ringing", step=step, wire=wire)
            svc.active[sos_id] = active
        active.step, active.wire = step, wire
        if last:
            active.cancel_timer()
            await svc.record(alert, "unanswered", None, {"reason": reason, "step": step},
                             wire=wire)
            log.warning("sos_unanswered", extra={"sos_id": sos_id, "reason": reason})
            return
        for user_id, _ in members:
            active.recipients[user_id] = at
        tier = plan[step].tier
        await svc.record(alert, "escalated", None, {
            "tier": tier, "step": step, "reason": reason, "to": [m[0] for m in members],
        }, wire=wire)
        log.info("sos_escalated", extra={"sos_id": sos_id, "tier": tier, "reason": reason})
        await svc.notify.to_users([m[0] for m in members], "sos:ring", {"sos": wire})
        await svc.notify.to_users([alert.elder_id], "sos:update", {"sos": wire})
        self.after_ring(active, [m[0] for m in members])

    async def rearm(self) -> None:
        """Load live alerts into memory and re-arm the timers of those still ringing."""
        svc = self.svc
        armed = 0
        for alert in await svc.log.active_alerts():
            rows = await svc.log.recipients(alert.id)
            active = Active(
                id=alert.id, org_id=alert.org_id, elder_id=alert.elder_id, status=alert.status,
                step=alert.step, wire=await svc.wire(alert),
                recipients={r.user_id: utc(r.rung_at) or now() for r in rows},
                declined={r.user_id for r in rows if r.declined_at is not None},
            )
            svc.active[alert.id] = active
            deadline = utc(alert.escalate_at)
            if alert.status == "ringing" and deadline is not None:
                self.arm(active, (deadline - now()).total_seconds())
                armed += 1
        if svc.active:
            log.info("sos_rearmed", extra={"live": len(svc.active), "timers": armed})
