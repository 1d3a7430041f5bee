"""Consults: create (now or scheduled), start, switch text/voice/video, push cards, end, cancel.

Each consult has a room (``consult-<id>``) that only its participants may enter
(:meth:`ConsultService.room_rule`, registered for the ``consult-`` prefix) and
the conversation beside that room, made when the consult is created.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.flow_errors import FlowError
from accounts.models import User
from accounts.org_models import OrgMember
from accounts.orgs import OrgService
from accounts.principal import Principal
from im import Actor, ImService
from im.validation import SendRequest, card
from rooms.access import RoomAccess
from rooms.consults import values as v
from rooms.consults.models import (
    CLINICIAN_ROLES,
    DEFAULT_KIND,
    ROOM_PREFIX,
    Consult,
    ConsultParticipant,
)
from rooms.consults.store import ConsultStore, Notify, not_found
from rooms.errors import RoomError
from rooms.permissions import Identity
from rooms.service import RoomService

log = logging.getLogger("carertc.consults")

# Participant roles that run a consult: start it, switch its mode, push cards, end it.
RUNNERS = ("clinician", "staff")
OPEN = ("scheduled", "active")


class ConsultService(ConsultStore):
    """Consults between a clinician and a patient: the flow, the room rule, the recording check."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        im: ImService,
        orgs: OrgService,
        *,
        rooms: RoomService | None = None,
        notify: Notify | None = None,
    ) -> None:
        super().__init__(sessions, orgs, notify)
        self.im = im
        self.rooms = rooms
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    def register(self, rooms: RoomService) -> None:
        """Let :meth:`room_rule` decide who enters ``consult-*`` rooms."""
        self.rooms = rooms
        rooms.access.add_rule(ROOM_PREFIX, self.room_rule)

    # -- creating ----------------------------------------------------------------------------

    async def _user(self, s: AsyncSession, ref: str) -> User:
        user = await s.get(User, ref)
        if user is None:
            user = (await s.execute(select(User).where(User.name == ref))).scalar_one_or_none()
        if user is None or user.disabled:
            raise FlowError("user_not_found", "no active account has that id or name")
        return user

    async def _role_in(self, s: AsyncSession, user: User, org: str | None) -> str:
        """The user's role in ``org`` (their membership), else their account's role."""
        if org is not None:
            member = await s.get(OrgMember, (org, user.id))
            if member is not None:
                return member.role
        return user.role

    async def _parties(
        self, s: AsyncSession, principal: Principal, me: User, req: v.NewConsult
    ) -> tuple[User, str, User]:
        """(clinician, the clinician's role, patient) of a new consult; ``bad_request`` if wrong."""
        not_clinician = "the chosen clinician is not a doctor, nurse or psychologist"
        if principal.role in CLINICIAN_ROLES or principal.is_admin:
            clinician, role = me, principal.role
            other = await self._user(s, req.clinician) if req.clinician is not None else me
            if other.id != me.id:
                if not principal.is_admin:
                    raise v.bad("a clinician opens consults as themselves: leave out 'clinician'")
                clinician, role = other, await self._role_in(s, other, principal.org)
                if role not in CLINICIAN_ROLES:
                    raise v.bad(not_clinician)
            if req.patient is None:
                raise v.bad("'patient' is required: the patient's user id or sign-in name")
            return clinician, role, await self._user(s, req.patient)
        # a patient (an elder) books a clinician of their choice, for themselves
        if req.patient is not None and req.patient not in (me.id, me.name):
            raise v.bad("a patient books consults for themselves: leave out 'patient'")
        if req.clinician is None:
            raise v.bad("'clinician' is required: the doctor, nurse or psychologist to see")
        clinician = await self._user(s, req.clinician)
        role = await self._role_in(s, clinician, principal.org)
        if role not in CLINICIAN_ROLES:
            raise v.bad(not_clinician)
        return clinician, role, me

    async def create(self, principal: Principal, req: v.NewConsult) -> dict[str, Any]:
        """Open a consult (status ``scheduled``) with its room id, conversation and participants."""
        await self.orgs.require(principal, "consult.start")
        now = v.utcnow()
        async with self.sessions() as s:
            me = await self._user(s, principal.user_id)
            clinician, clinician_role, patient = await self._parties(s, principal, me, req)
        if patient.id == clinician.id:
            raise v.bad("the patient and the clinician must be two different people")
        kind = req.kind or DEFAULT_KIND.get(clinician_role, "medical")
        roles = {clinician.id: "clinician", patient.id: "patient"}
        if me.id not in roles:
            roles[me.id] = "staff"
        consult_id = str(uuid.uuid4())
        room_id = f"{ROOM_PREFIX}{consult_id}"
        title = req.title or (
            f"{kind.capitalize()} consult: {clinician.display_name} · {patient.display_name}"
        )
        actor = Actor(clinician.id, clinician.display_name, clinician_role)
        conversation_id, _ = await self.im.ensure_room_conversation(actor, room_id, title[:200])
        await self.im.ensure_members(
            conversation_id,
            {uid: "member" if role == "patient" else "owner" for uid, role in roles.items()},
        )
        consult = Consult(
            id=consult_id,
            org_id=principal.org,
            clinician_id=clinician.id,
            patient_id=patient.id,
            kind=kind,
            status="scheduled",
            scheduled_at=req.scheduled_at or now,
            room_id=room_id,
            conversation_id=conversation_id,
            modes_used=[],
            created_by=me.id,
            created_at=now,
        )
        parts = [
            ConsultParticipant(consult_id=consult_id, user_id=u, role=r) for u, r in roles.items()
        ]
        async with self.sessions() as s, s.begin():
            s.add(consult)
            await s.flush()
            s.add_all(parts)
        log.info(
            "consult_created",
            extra={
                "consult_id": consult_id,
                "kind": kind,
                "org_id": principal.org,
                "created_by": me.id,
                "scheduled": req.scheduled_at is not None,
            },
        )
        await self.im.post_system(
            conversation_id,
            "consult_created",
            consult_id=consult_id,
            kind=kind,
            scheduled_at=v.iso(consult.scheduled_at),
        )
        return await self._changed(consult_id, principal.user_id)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(
        self, principal: Principal, consult_id: str, mode: str | None = None
    ) -> dict[str, Any]:
        """``scheduled`` -> ``active`` in ``mode`` (text unless given); ``bad_state`` otherwise."""
        consult, _, _ = await self._mine(principal, consult_id, RUNNERS)
        now = v.utcnow()
        first = mode or "text"
        await self._transition(
            consult_id,
            ("scheduled",),
            status="active",
            started_at=now,
            current_mode=first,
            modes_used=[{"mode": first, "at": v.iso(now)}],
        )
        log.info("consult_started", extra={"consult_id": consult_id, "mode": first})
        if consult.conversation_id:
            await self.im.post_system(
                consult.conversation_id, "consult_started", consult_id=consult_id, mode=first
            )
        return await self._changed(consult_id, principal.user_id)

    @asynccontextmanager
    async def _serial(self, consult_id: str) -> AsyncIterator[None]:
        """One mode change of a consult at a time on this node (rows are locked too)."""
        lock, users = self._locks.setdefault(consult_id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                self._locks.pop(consult_id, None)

    async def set_mode(self, principal: Principal, consult_id: str, mode: str) -> dict[str, Any]:
        """Switch an active consult to text, voice or video; participants get ``consult:mode``."""
        consult, parts, _ = await self._mine(principal, consult_id, RUNNERS)
        now = v.utcnow()
        async with self._serial(consult_id), self.sessions() as s, s.begin():
            row = await s.get(Consult, consult_id, with_for_update=True, populate_existing=True)
            if row is None:
                raise not_found()
            if row.status != "active":
                raise FlowError("bad_state", f"the consult is {row.status}, not active")
            changed = row.current_mode != mode
            if changed:
                row.modes_used = [*(row.modes_used or []), {"mode": mode, "at": v.iso(now)}]
                row.current_mode = mode
        if changed:
            log.info("consult_mode", extra={"consult_id": consult_id, "mode": mode})
            payload = {
                "consult_id": consult_id,
                "mode": mode,
                "at": v.iso(now),
                "by": principal.user_id,
            }
            await self._send([p.user_id for p in parts], "consult:mode", payload)
            if consult.conversation_id:
                await self.im.post_system(
                    consult.conversation_id,
                    f"switched_to_{mode}",
                    consult_id=consult_id,
                    mode=mode,
                    user_id=principal.user_id,
                    name=principal.name,
                )
            return await self._changed(consult_id, principal.user_id)
        return await self.get(principal, consult_id)

    async def push_card(
        self,
        principal: Principal,
        consult_id: str,
        payload: dict[str, Any],
        *,
        body: str = "",
        client_msg_id: str | None = None,
    ) -> dict[str, Any]:
        """Send a card (document, audio/video material, questionnaire, link) into the chat; the ack."""
        consult, _, _ = await self._mine(principal, consult_id, RUNNERS)
        if consult.status == "cancelled" or not consult.conversation_id:
            raise FlowError("bad_state", "the consult was cancelled")
        req = SendRequest(
            consult.conversation_id, client_msg_id or uuid.uuid4().hex, "card", body, card(payload)
        )
        ack = await self.im.send(Actor(principal.user_id, principal.name, principal.role), req)
        log.info(
            "consult_card",
            extra={"consult_id": consult_id, "card_type": req.payload["card_type"]},
        )
        return {**ack, "conversation_id": consult.conversation_id}

    async def end(
        self, principal: Principal, consult_id: str, summary: str | None = None
    ) -> dict[str, Any]:
        """``active`` -> ``ended`` with the closing note; the call ends for everyone in it."""
        consult, _, _ = await self._mine(principal, consult_id, RUNNERS)
        now = v.utcnow()
        await self._transition(
            consult_id, ("active",), status="ended", ended_at=now, summary=summary
        )
        record = await self._changed(consult_id, principal.user_id)
        log.info(
            "consult_ended",
            extra={
                "consult_id": consult_id,
                "duration_seconds": record["duration_seconds"],
                "modes": record["modes_used"],
                "has_summary": summary is not None,
            },
        )
        if consult.conversation_id:
            await self.im.post_system(
                consult.conversation_id,
                "consult_ended",
                consult_id=consult_id,
                duration_seconds=record["duration_seconds"],
            )
        await self._clear_room(consult.room_id)
        return record

    async def cancel(self, principal: Principal, consult_id: str) -> dict[str, Any]:
        """``scheduled`` -> ``cancelled`` (the clinician or the patient)."""
        consult, _, _ = await self._mine(principal, consult_id)
        await self._transition(consult_id, ("scheduled",), status="cancelled")
        log.info("consult_cancelled", extra={"consult_id": consult_id, "by": principal.user_id})
        if consult.conversation_id:
            await self.im.post_system(
                consult.conversation_id,
                "consult_cancelled",
                consult_id=consult_id,
                user_id=principal.user_id,
                name=principal.name,
            )
        await self._clear_room(consult.room_id)
        return await self._changed(consult_id, principal.user_id)

    async def _clear_room(self, room_id: str) -> None:
        """Take everyone out of the consult's call (nobody may enter it any more)."""
        room = self.rooms.get_room(room_id) if self.rooms is not None else None
        if room is None or self.rooms is None:
            return
        for participant in list(room.participants.values()):
            try:
                await self.rooms.leave(participant.session, reason="removed")
            except RoomError:
                pass

    # -- rooms and recording -------------------------------------------------------------------

    async def room_rule(self, identity: Identity, room_id: str) -> RoomAccess | None:
        """Access rule for ``consult-<id>``: its participants while it is open; the clinician hosts."""
        consult_id = room_id[len(ROOM_PREFIX) :]
        if not 0 < len(consult_id) <= 36:
            return None
        async with self.sessions() as s:
            row = (
                await s.execute(
                    select(Consult.status, ConsultParticipant.role)
                    .join(ConsultParticipant, ConsultParticipant.consult_id == Consult.id)
                    .where(Consult.id == consult_id, ConsultParticipant.user_id == identity.user_id)
                )
            ).first()
        if row is None or row.status not in OPEN:
            return None
        return RoomAccess(host=row.role in RUNNERS)

    async def may_record(self, principal: Principal, consult_id: str) -> bool:
        """Whether ``principal`` may start recording the consult's call.

        Only a running participant (the clinician, or staff taking part) of an
        active consult whose role has ``recording.start``; a patient never may.
        """
        loaded = await self._load(consult_id)
        if loaded is None:
            return False
        consult, parts = loaded
        mine = next((p.role for p in parts if p.user_id == principal.user_id), None)
        if mine not in RUNNERS or consult.status != "active":
            return False
        return await self.orgs.allowed(principal, "recording.start")
