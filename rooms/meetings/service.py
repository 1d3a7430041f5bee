"""Remote-support meetings: schedule, reschedule, cancel, start, end; who may enter the room.

A meeting owns the room ``meeting-<id>`` and the conversation beside it (for
documents and messages). Its status moves ``scheduled`` -> ``live`` (started
through the API or when its room opens) -> ``ended`` (ended by the host, or
through the API, or when its room closes: at once for quick support, after
``end_at`` for scheduled ones); a scheduled meeting may be ``cancelled``.
Invitees are told about changes with ``meeting:update``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.flow_errors import FlowError
from accounts.models import User
from accounts.orgs import OrgService, PermissionDenied
from accounts.principal import Principal
from im import Actor, ImService
from rooms.meetings import values as v
from rooms.meetings.models import (
    ACTIVE_STATUSES,
    Meeting,
    MeetingInvitee,
    new_id,
    room_of,
    utcnow,
)
from rooms.service import RoomService

log = logging.getLogger("carertc.meetings")

# (user ids, event, payload) -> delivered to every device of those users
Publisher = Callable[[Iterable[str], str, dict[str, Any]], Awaitable[None]]
ACTIVE = ACTIVE_STATUSES


async def _no_publish(user_ids: Iterable[str], event: str, payload: dict[str, Any]) -> None:
    return None


class MeetingService:
    """Meetings and their invitees; the access rule of ``meeting-`` rooms."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        orgs: OrgService,
        im: ImService | None = None,
        rooms: RoomService | None = None,
        default_reminder_minutes: int = 10,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.orgs = orgs
        self.im = im
        self.rooms = rooms
        self.default_reminder_minutes = default_reminder_minutes
        self.clock = clock
        self.publish: Publisher = _no_publish

    def set_publisher(self, publish: Publisher) -> None:
        """Where ``meeting:update`` / ``meeting:reminder`` go (the Socket.IO edge)."""
        self.publish = publish

    def now(self) -> datetime:
        """The service's clock, UTC."""
        return v.utc(self.clock())

    # -- reading ------------------------------------------------------------------------

    async def load(self, meeting_id: str) -> Meeting:
        """The meeting row; ``meeting_not_found``."""
        async with self.sessions() as s:
            meeting = await s.get(Meeting, meeting_id) if len(meeting_id) <= 36 else None
        if meeting is None:
            raise FlowError("meeting_not_found", "no such meeting")
        return meeting

    async def invitees(self, meeting_id: str) -> list[MeetingInvitee]:
        """The meeting's invitees."""
        async with self.sessions() as s:
            rows = await s.execute(
                select(MeetingInvitee).where(MeetingInvitee.meeting_id == meeting_id)
            )
            return list(rows.scalars())

    async def names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Display names by user id."""
        ids = {u for u in user_ids if u}
        if not ids:
            return {}
        async with self.sessions() as s:
            rows = await s.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
            return {uid: name for uid, name in rows}

    async def describe(self, meeting: Meeting) -> dict[str, Any]:
        """The wire form of ``meeting`` with its invitees."""
        invitees = await self.invitees(meeting.id)
        names = await self.names([meeting.host_id, *(i.user_id for i in invitees)])
        return v.meeting_public(meeting, invitees, names)

    def may_manage(self, principal: Principal, meeting: Meeting) -> bool:
        """The host, or an admin of the meeting's organisation (or a global admin)."""
        if principal.user_id == meeting.host_id:
            return True
        return principal.role == "admin" and principal.org in (None, meeting.org_id)

    async def may_view(self, principal: Principal, meeting: Meeting) -> bool:
        """Managers, invitees, and those with ``stats.view`` in the meeting's organisation."""
        if self.may_manage(principal, meeting):
            return True
        async with self.sessions() as s:
            if await s.get(MeetingInvitee, (meeting.id, principal.user_id)) is not None:
                return True
        return principal.org == meeting.org_id and await self.orgs.allowed(principal, "stats.view")

    async def get(self, principal: Principal, meeting_id: str) -> dict[str, Any]:
        """One meeting as ``principal`` may see it."""
        meeting = await self.load(meeting_id)
        if not await self.may_view(principal, meeting):
            raise FlowError("meeting_not_found", "no such meeting")
        return await self.describe(meeting)

    async def managed(self, principal: Principal, meeting_id: str) -> Meeting:
        """The meeting if ``principal`` may manage it (``permission_denied`` / ``meeting_not_found``)."""
        meeting = await self.load(meeting_id)
        if not self.may_manage(principal, meeting):
            if await self.may_view(principal, meeting):
                raise PermissionDenied("meeting.schedule")
            raise FlowError("meeting_not_found", "no such meeting")
        return meeting

    async def _resolve(self, s: AsyncSession, refs: list[str], exclude: str) -> list[str]:
        """User ids for ``refs`` (ids or sign-in names); ``user_not_found``."""
        if not refs:
            return []
        rows = await s.execute(
            select(User.id, User.name).where(or_(User.id.in_(refs), User.name.in_(refs)))
        )
        by_ref: dict[str, str] = {}
        for uid, name in rows:
            by_ref[uid] = uid
            by_ref[name] = uid
        missing = [r for r in refs if r not in by_ref]
        if missing:
            raise FlowError("user_not_found", f"no such user: {missing[0]}")
        ids: list[str] = []
        for ref in refs:
            uid = by_ref[ref]
            if uid != exclude and uid not in ids:
                ids.append(uid)
        return ids

    # -- changing -----------------------------------------------------------------------

    async def create(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        """Schedule a meeting (``realtime``) or start quick support now (``quick``)."""
        await self.orgs.require(principal, "meeting.schedule")
        new = v.new_meeting(body)
        now = self.now()
        start = new.start_at or now
        end = new.end_at or start + v.DEFAULT_LENGTH
        v.check_window(start, end)
        if new.category == "realtime" and end <= now:
            raise v.bad("'end_at' is in the past")
        meeting_id = new_id()
        meeting = Meeting(
            id=meeting_id,
            org_id=principal.org,
            host_id=principal.user_id,
            title=new.title,
            category=new.category,
            status="live" if new.category == "quick" else "scheduled",
            start_at=start,
            end_at=end,
            started_at=now if new.category == "quick" else None,
            room_id=room_of(meeting_id),
            reminder_minutes=new.reminder_minutes,
            created_at=now,
        )
        async with self.sessions() as s, s.begin():
            invitee_ids = await self._resolve(s, new.invitees, principal.user_id)
            s.add(meeting)
            await s.flush()
            for uid in invitee_ids:
                s.add(MeetingInvitee(meeting_id=meeting_id, user_id=uid))
        await self._ensure_conversation(meeting, principal, invitee_ids)
        log.info(
            "meeting_created",
            extra={
                "meeting_id": meeting_id,
                "category": new.category,
                "org_id": principal.org,
                "invitees": len(invitee_ids),
            },
        )
        wire = await self.describe(meeting)
        await self.notify(
            invitee_ids, "scheduled" if new.category == "realtime" else "started", wire
        )
        return wire

    async def _ensure_conversation(
        self, meeting: Meeting, principal: Principal, invitee_ids: list[str]
    ) -> None:
        """The conversation beside the meeting's call, with the host and invitees as members."""
        if self.im is None:
            return
        try:
            actor = Actor(meeting.host_id, principal.name, principal.role)
            conv_id, _ = await self.im.ensure_room_conversation(
                actor, meeting.room_id, title=meeting.title
            )
            await self.im.ensure_members(conv_id, {uid: "member" for uid in invitee_ids})
        except Exception:
            log.exception("meeting_conversation_failed", extra={"meeting_id": meeting.id})
            return
        if meeting.conversation_id != conv_id:
            async with self.sessions() as s, s.begin():
                row = await s.get(Meeting, meeting.id)
                if row is not None:
                    row.conversation_id = conv_id
            meeting.conversation_id = conv_id

    async def reschedule(
        self, principal: Principal, meeting_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Change title, start/end or invitees; invitees (old and new) get ``meeting:update``."""
        meeting = await self.managed(principal, meeting_id)
        before = {i.user_id for i in await self.invitees(meeting_id)}
        added: list[str] = []
        async with self.sessions() as s, s.begin():
            row = await s.get(Meeting, meeting_id, with_for_update=True)
            if row is None:
                raise FlowError("meeting_not_found", "no such meeting")
            if row.status not in ACTIVE:
                raise FlowError("bad_state", f"the meeting is {row.status}")
            if "title" in body:
                row.title = v.title(body["title"])
            if "reminder_minutes" in body:
                row.reminder_minutes = v.reminder_minutes(body["reminder_minutes"])
            start, end = v.utc(row.start_at), v.utc(row.end_at)
            if "start_at" in body or "end_at" in body:
                if row.status != "scheduled" and "start_at" in body:
                    raise FlowError("bad_state", "a live meeting cannot move its start")
                new_start = (
                    v.parse_time(body["start_at"], "start_at") if "start_at" in body else start
                )
                length = end - start
                new_end = (
                    v.parse_time(body["end_at"], "end_at")
                    if "end_at" in body
                    else new_start + length
                )
                v.check_window(new_start, new_end)
                row.start_at, row.end_at = new_start, new_end
                if new_start != start:  # remind again before the new start
                    for invitee in await self._invitee_rows(s, meeting_id):
                        invitee.reminded_at = None
            if "invitees" in body:
                wanted = await self._resolve(s, v.user_refs(body["invitees"]), row.host_id)
                for invitee in await self._invitee_rows(s, meeting_id):
                    if invitee.user_id not in wanted:
                        await s.delete(invitee)
                added = [uid for uid in wanted if uid not in before]
                for uid in added:
                    s.add(MeetingInvitee(meeting_id=meeting_id, user_id=uid))
            meeting = row
        if added:
            await self._ensure_conversation(meeting, principal, added)
        wire = await self.describe(meeting)
        after = {i["user_id"] for i in wire["invitees"]}
        log.info("meeting_rescheduled", extra={"meeting_id": meeting_id, "by": principal.user_id})
        await self.notify(after | before, "rescheduled", wire, removed=before - after)
        return wire

    async def _invitee_rows(self, s: AsyncSession, meeting_id: str) -> list[MeetingInvitee]:
        rows = await s.execute(
            select(MeetingInvitee).where(MeetingInvitee.meeting_id == meeting_id)
        )
        return list(rows.scalars())

    async def _transition(
        self,
        principal: Principal | None,
        meeting_id: str,
        action: str,
        *,
        at: datetime | None = None,
    ) -> tuple[Meeting, bool]:
        """Apply ``start``/``end``/``cancel``; (the meeting, whether it changed)."""
        at = at or self.now()
        async with self.sessions() as s, s.begin():
            row = await s.get(Meeting, meeting_id, with_for_update=True)
            if row is None:
                raise FlowError("meeting_not_found", "no such meeting")
            status = row.status
            if action == "start" and status == "scheduled":
                row.status, row.started_at = "live", row.started_at or at
            elif action == "end" and status == "live":
                row.status, row.ended_at = "ended", at
            elif action == "cancel" and status == "scheduled":
                row.status, row.ended_at = "cancelled", at
            elif principal is not None and not (
                (action == "start" and status == "live") or (action == "end" and status == "ended")
            ):
                raise FlowError("bad_state", f"a {status} meeting cannot be {action}ed")
            return row, row.status != status

    async def start(self, principal: Principal, meeting_id: str) -> dict[str, Any]:
        """Open a scheduled meeting now (it goes ``live``)."""
        await self.managed(principal, meeting_id)
        meeting, changed = await self._transition(principal, meeting_id, "start")
        return await self._announce(meeting, "started" if changed else None)

    async def end(self, principal: Principal, meeting_id: str) -> dict[str, Any]:
        """End a live meeting for everyone (its call closes, ``room:ended``)."""
        await self.managed(principal, meeting_id)
        meeting, changed = await self._transition(principal, meeting_id, "end")
        if self.rooms is not None:
            await self.rooms.end(meeting.room_id)
        return await self._announce(meeting, "ended" if changed else None)

    async def cancel(self, principal: Principal, meeting_id: str) -> dict[str, Any]:
        """Call off a scheduled meeting."""
        await self.managed(principal, meeting_id)
        meeting, _ = await self._transition(principal, meeting_id, "cancel")
        if self.rooms is not None:  # someone may have entered early
            await self.rooms.end(meeting.room_id)
        return await self._announce(meeting, "cancelled")

    async def mark(self, meeting_id: str, action: str, at: datetime) -> None:
        """Start or end a meeting because of its room (no permission check, never refused)."""
        meeting, changed = await self._transition(None, meeting_id, action, at=at)
        if changed:
            await self._announce(meeting, "started" if action == "start" else "ended")

    async def respond(
        self, principal: Principal, meeting_id: str, response: object
    ) -> dict[str, Any]:
        """An invitee accepts or declines."""
        if response not in ("accepted", "declined"):
            raise v.bad("'response' must be accepted or declined")
        async with self.sessions() as s, s.begin():
            row = await s.get(MeetingInvitee, (meeting_id, principal.user_id))
            if row is None:
                raise FlowError("meeting_not_found", "no such meeting")
            row.response = str(response)
        meeting = await self.load(meeting_id)
        wire = await self.describe(meeting)
        await self.notify([meeting.host_id], "responded", wire)
        return wire

    async def _announce(self, meeting: Meeting, action: str | None) -> dict[str, Any]:
        wire = await self.describe(meeting)
        if action is not None:
            log.info(f"meeting_{action}", extra={"meeting_id": meeting.id})
            recipients = [i["user_id"] for i in wire["invitees"]] + [meeting.host_id]
            await self.notify(recipients, action, wire)
        return wire

    async def notify(
        self,
        user_ids: Iterable[str],
        action: str,
        wire: dict[str, Any],
        *,
        removed: Iterable[str] = (),
    ) -> None:
        """``meeting:update {action, meeting}`` to ``user_ids`` (``uninvited`` to ``removed``)."""
        gone = set(removed)
        stay = [u for u in dict.fromkeys(user_ids) if u not in gone]
        try:
            if stay:
                await self.publish(stay, "meeting:update", {"action": action, "meeting": wire})
            if gone:
                await self.publish(
                    sorted(gone), "meeting:update", {"action": "uninvited", "meeting": wire}
                )
        except Exception:
            log.exception("meeting_notify_failed", extra={"meeting_id": wire.get("id")})
