"""Background work for meetings: reminders before the start, and ending abandoned live meetings.

Every ``interval_seconds`` a loop (one per server process, run by the app:
api/meeting_setup.py) calls :meth:`ReminderService.run_once`, which sends
``meeting:reminder`` to each invitee of a scheduled meeting once it is
``reminder_minutes`` (the meeting's, else the server default; 0: none) or less
before the start, and records it (``meeting_invitees.reminded_at``). A
reminder is claimed with a conditional UPDATE before it is sent, so several
server processes never send it twice. Live meetings whose call is not open and
whose ``end_at`` has passed are ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from rooms.meetings import values as v
from rooms.meetings.models import Attendance, Meeting, MeetingInvitee
from rooms.meetings.service import MeetingService

log = logging.getLogger("carertc.meetings")

DEFAULT_INTERVAL_SECONDS = 30.0


class ReminderService:
    """Sends meeting reminders and ends live meetings left behind."""

    def __init__(
        self,
        meetings: MeetingService,
        *,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
        room_open: Callable[[str], bool] | None = None,
    ) -> None:
        self.meetings = meetings
        self.sessions = meetings.sessions
        self.interval_seconds = interval_seconds
        self.room_open = room_open or (lambda room_id: False)
        self.sent = 0

    async def run_once(self, now: datetime | None = None) -> int:
        """One pass: send the reminders that are due and end overdue live meetings."""
        now = v.utc(now) if now is not None else self.meetings.now()
        sent = await self._remind(now)
        await self._end_overdue(now)
        return sent

    async def _remind(self, now: datetime) -> int:
        horizon = now + timedelta(minutes=v.MAX_REMINDER_MINUTES)
        async with self.sessions() as s:
            rows = (
                await s.execute(
                    select(Meeting, MeetingInvitee.user_id)
                    .join(MeetingInvitee, MeetingInvitee.meeting_id == Meeting.id)
                    .where(
                        Meeting.status == "scheduled",
                        MeetingInvitee.reminded_at.is_(None),
                        Meeting.start_at > now,
                        Meeting.start_at <= horizon,
                    )
                )
            ).all()
        due: dict[str, tuple[Meeting, list[str]]] = {}
        for meeting, user_id in rows:
            minutes = meeting.reminder_minutes
            if minutes is None:
                minutes = self.meetings.default_reminder_minutes
            if minutes <= 0 or v.utc(meeting.start_at) - timedelta(minutes=minutes) > now:
                continue
            due.setdefault(meeting.id, (meeting, []))[1].append(user_id)
        sent = 0
        for meeting, user_ids in due.values():
            claimed = [uid for uid in user_ids if await self._claim(meeting.id, uid, now)]
            if not claimed:
                continue
            wire = await self.meetings.describe(meeting)
            minutes_left = max(0, round((v.utc(meeting.start_at) - now).total_seconds() / 60))
            payload = {"meeting": wire, "starts_in_minutes": minutes_left}
            try:
                await self.meetings.publish(claimed, "meeting:reminder", payload)
            except Exception:
                log.exception("meeting_reminder_failed", extra={"meeting_id": meeting.id})
                continue
            sent += len(claimed)
            log.info(
                "meeting_reminded",
                extra={
                    "meeting_id": meeting.id,
                    "invitees": len(claimed),
                    "starts_in_minutes": minutes_left,
                },
            )
        self.sent += sent
        return sent

    async def _claim(self, meeting_id: str, user_id: str, now: datetime) -> bool:
        async with self.sessions() as s, s.begin():
            result: Any = await s.execute(
                update(MeetingInvitee)
                .where(
                    MeetingInvitee.meeting_id == meeting_id,
                    MeetingInvitee.user_id == user_id,
                    MeetingInvitee.reminded_at.is_(None),
                )
                .values(reminded_at=now)
            )
            return bool(result.rowcount == 1)

    async def _end_overdue(self, now: datetime) -> None:
        async with self.sessions() as s:
            rows = (
                await s.execute(
                    select(
                        Meeting.id, Meeting.room_id, Meeting.end_at, func.max(Attendance.left_at)
                    )
                    .outerjoin(Attendance, Attendance.meeting_id == Meeting.id)
                    .where(Meeting.status == "live", Meeting.end_at < now)
                    .group_by(Meeting.id, Meeting.room_id, Meeting.end_at)
                )
            ).all()
        for meeting_id, room_id, end_at, last_left in rows:
            if self.room_open(room_id):
                continue
            ended = v.aware(last_left) or v.utc(end_at)
            await self.meetings.mark(meeting_id, "end", min(ended, now))
