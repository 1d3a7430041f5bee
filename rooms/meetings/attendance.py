"""Attendance of meeting calls, recorded from room events (a RoomService listener).

``joined`` opens a stay, ``left`` closes the participant's open stay, ``ended``
and ``closed`` close every open one. The room opening starts a scheduled
meeting; the host ending the room ends the meeting; the room closing (empty
past the grace period, or at shutdown) ends quick support at once and a
scheduled meeting once its ``end_at`` has passed (earlier, the meeting stays
live and may be re-entered; the reminder loop ends it later).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import select

from rooms.meetings import values as v
from rooms.meetings.models import ROOM_PREFIX, Attendance, Meeting
from rooms.meetings.service import MeetingService
from rooms.permissions import Identity

log = logging.getLogger("carertc.meetings")


class AttendanceRecorder:
    """A room listener for ``meeting-`` rooms; events of one room are handled in order."""

    def __init__(self, meetings: MeetingService) -> None:
        self.meetings = meetings
        self.sessions = meetings.sessions
        self._locks: dict[str, asyncio.Lock] = {}

    async def __call__(self, event: str, room_id: str, identity: Identity | None) -> None:
        """Handle one room event."""
        if not room_id.startswith(ROOM_PREFIX):
            return
        at = self.meetings.now()  # when it happened, not when its turn comes
        lock = self._locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            try:
                await self._handle(event, room_id[len(ROOM_PREFIX) :], identity, at)
            except Exception:
                log.exception("attendance_failed", extra={"room_id": room_id, "room_event": event})
            finally:
                if event == "closed":
                    self._locks.pop(room_id, None)

    async def _handle(
        self, event: str, meeting_id: str, identity: Identity | None, at: datetime
    ) -> None:
        if event == "opened":
            await self.meetings.mark(meeting_id, "start", at)
        elif event == "joined" and identity is not None:
            await self._joined(meeting_id, identity, at)
        elif event == "left" and identity is not None:
            await self._left(meeting_id, identity.user_id, at)
        elif event == "ended":
            await self._close_all(meeting_id, at)
            await self.meetings.mark(meeting_id, "end", at)
        elif event == "closed":
            last = await self._close_all(meeting_id, at)
            await self._maybe_end(meeting_id, last or at, at)

    async def _joined(self, meeting_id: str, identity: Identity, at: datetime) -> None:
        guest = identity.role == "guest"
        async with self.sessions() as s, s.begin():
            if await s.get(Meeting, meeting_id) is None:
                return
            s.add(
                Attendance(
                    meeting_id=meeting_id,
                    user_id=identity.user_id,
                    guest_name=identity.name if guest else None,
                    name=identity.name[:128],
                    role=identity.role,
                    joined_at=at,
                )
            )

    async def _left(self, meeting_id: str, user_id: str, at: datetime) -> None:
        async with self.sessions() as s, s.begin():
            row = (
                await s.execute(
                    select(Attendance)
                    .where(
                        Attendance.meeting_id == meeting_id,
                        Attendance.user_id == user_id,
                        Attendance.left_at.is_(None),
                    )
                    .order_by(Attendance.joined_at.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if row is not None:
                row.left_at = at

    async def _close_all(self, meeting_id: str, at: datetime) -> datetime | None:
        """Close the open stays; returns when the last stay ended."""
        async with self.sessions() as s, s.begin():
            rows = list(
                (
                    await s.execute(select(Attendance).where(Attendance.meeting_id == meeting_id))
                ).scalars()
            )
            for row in rows:
                if row.left_at is None:
                    row.left_at = at
            ends = [v.utc(r.left_at) for r in rows if r.left_at is not None]
        return max(ends) if ends else None

    async def _maybe_end(self, meeting_id: str, last: datetime, at: datetime) -> None:
        async with self.sessions() as s:
            meeting = await s.get(Meeting, meeting_id)
        if meeting is None or meeting.status != "live":
            return
        if meeting.category == "quick" or at >= v.utc(meeting.end_at):
            await self.meetings.mark(meeting_id, "end", last)
