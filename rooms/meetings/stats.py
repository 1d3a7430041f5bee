"""Service records (meetings with participants and duration) and statistics per organisation.

A meeting's **duration** is how long anyone was in its call: the union of the
attendance stays (a stay still open counts up to the meeting's end, or now).
Its **participants** are the distinct people who joined (users, and guests).
A meeting counts as **held** when it went live and someone joined its call;
periods are matched against when it started (``started_at``, else ``start_at``).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from accounts.orgs import PermissionDenied
from accounts.principal import Principal
from rooms.meetings import values as v
from rooms.meetings.models import CATEGORIES, Attendance, Meeting, MeetingInvitee
from rooms.meetings.service import MeetingService

MAX_RECORDS = 1000
CSV_FIELDS = (
    "meeting_id",
    "title",
    "category",
    "status",
    "org_id",
    "host",
    "start_at",
    "started_at",
    "ended_at",
    "participants",
    "duration_seconds",
)
WHEN = func.coalesce(Meeting.started_at, Meeting.start_at)


def _cell(value: Any) -> Any:
    """A CSV cell that spreadsheets will not run as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _totals(records: list[dict[str, Any]]) -> dict[str, Any]:
    meetings = len(records)
    participants = sum(r["participant_count"] for r in records)
    total = sum(r["duration_seconds"] for r in records)
    return {
        "meetings": meetings,
        "participants": participants,
        "total_duration_seconds": total,
        "average_duration_seconds": round(total / meetings, 1) if meetings else 0,
    }


class MeetingStats:
    """Records and statistics over meetings, with their visibility rules."""

    def __init__(self, meetings: MeetingService) -> None:
        self.meetings = meetings
        self.sessions = meetings.sessions

    async def org_scope(self, principal: Principal, org_id: str | None) -> tuple[bool, str | None]:
        """Check ``stats.view`` for ``org_id``: (every organisation?, the organisation)."""
        await self.meetings.orgs.require(principal, "stats.view")
        global_admin = principal.role == "admin" and principal.org is None
        if org_id is None:
            return (global_admin, principal.org)
        if not global_admin and org_id != principal.org:
            raise PermissionDenied("stats.view")
        return (False, org_id)

    async def records(
        self,
        principal: Principal,
        *,
        org_id: str | None = None,
        scope: str = "mine",
        category: str | None = None,
        status: list[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        held_only: bool = False,
    ) -> list[dict[str, Any]]:
        """Meetings with participants and duration, newest first.

        ``scope`` ``mine``: those the principal hosts or is invited to; ``org``
        (or any ``org_id``): every meeting of the organisation (``stats.view``).
        """
        query = select(Meeting)
        if scope == "org" or org_id is not None:
            every, org = await self.org_scope(principal, org_id)
            if not every:
                query = query.where(Meeting.org_id == org)
        else:
            invited = select(MeetingInvitee.meeting_id).where(
                MeetingInvitee.user_id == principal.user_id
            )
            query = query.where(or_(Meeting.host_id == principal.user_id, Meeting.id.in_(invited)))
        if category is not None:
            query = query.where(Meeting.category == v.category(category))
        if status:
            query = query.where(Meeting.status.in_(status))
        if held_only:
            query = query.where(Meeting.status.in_(("live", "ended")))
        if start is not None:
            query = query.where(WHEN >= start)
        if end is not None:
            query = query.where(WHEN < end)
        query = query.order_by(WHEN.desc(), Meeting.id).limit(MAX_RECORDS)
        async with self.sessions() as s:
            meetings = list((await s.execute(query)).scalars())
            ids = [m.id for m in meetings]
            stays: dict[str, list[Attendance]] = defaultdict(list)
            invitees: dict[str, list[MeetingInvitee]] = defaultdict(list)
            if ids:
                for row in (
                    await s.execute(select(Attendance).where(Attendance.meeting_id.in_(ids)))
                ).scalars():
                    stays[row.meeting_id].append(row)
                for inv in (
                    await s.execute(
                        select(MeetingInvitee).where(MeetingInvitee.meeting_id.in_(ids))
                    )
                ).scalars():
                    invitees[inv.meeting_id].append(inv)
        names = await self.meetings.names(
            [m.host_id for m in meetings] + [i.user_id for rows in invitees.values() for i in rows]
        )
        now = self.meetings.now()
        out = []
        for meeting in meetings:
            if held_only and not stays[meeting.id]:
                continue
            wire = v.meeting_public(meeting, invitees[meeting.id], names)
            wire.update(self._attendance(meeting, stays[meeting.id], now))
            out.append(wire)
        return out

    @staticmethod
    def _attendance(meeting: Meeting, rows: list[Attendance], now: datetime) -> dict[str, Any]:
        until = v.aware(meeting.ended_at) if meeting.status in ("ended", "cancelled") else now
        until = until or now
        grouped: dict[str, list[Attendance]] = defaultdict(list)
        for row in sorted(rows, key=lambda r: v.utc(r.joined_at)):
            grouped[v.attendee_key(row)].append(row)
        people = []
        for stays in grouped.values():
            wire = [v.attendance_public(r, until) for r in stays]
            still_in = any(w["left_at"] is None for w in wire)
            people.append(
                {
                    "user_id": wire[0]["user_id"],
                    "name": wire[-1]["name"],
                    "role": wire[0]["role"],
                    "guest": wire[0]["guest"],
                    "joined_at": wire[0]["joined_at"],
                    "left_at": None if still_in else max(str(w["left_at"]) for w in wire),
                    "seconds": sum(w["seconds"] for w in wire),
                    "stays": len(wire),
                }
            )
        return {
            "participants": people,
            "participant_count": len(people),
            "duration_seconds": v.covered_seconds(rows, until),
        }

    async def summary(
        self,
        principal: Principal,
        *,
        org_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(The statistics of meetings held in the period, the records they come from)."""
        every, org = await self.org_scope(principal, org_id)
        records = await self.records(
            principal,
            org_id=None if every else org,
            scope="org",
            start=start,
            end=end,
            held_only=True,
        )
        by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            day = (record["started_at"] or record["start_at"] or "")[:10]
            by_day[day].append(record)
        stats = {
            "org_id": None if every else org,
            "from": v.iso(start),
            "to": v.iso(end),
            **_totals(records),
            "by_category": {
                cat: _totals([r for r in records if r["category"] == cat]) for cat in CATEGORIES
            },
            "by_day": [{"date": day, **_totals(rows)} for day, rows in sorted(by_day.items())],
        }
        return stats, records

    @staticmethod
    def csv(records: list[dict[str, Any]]) -> str:
        """One CSV row per meeting (header first)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_FIELDS)
        for r in records:
            writer.writerow(
                [
                    _cell(r["id"]),
                    _cell(r["title"]),
                    r["category"],
                    r["status"],
                    _cell(r["org_id"] or ""),
                    _cell(r["host_name"]),
                    r["start_at"] or "",
                    r["started_at"] or "",
                    r["ended_at"] or "",
                    r["participant_count"],
                    r["duration_seconds"],
                ]
            )
        return out.getvalue()
