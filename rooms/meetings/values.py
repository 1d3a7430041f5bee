"""Meeting values: request checks (``bad_request``), times, and the wire forms."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from accounts.flow_errors import FlowError
from db.times import aware, iso
from rooms.meetings.models import CATEGORIES, Attendance, InviteLink, Meeting, MeetingInvitee

MAX_TITLE = 200
MAX_NAME = 64
MAX_INVITEES = 200
MAX_LENGTH = timedelta(days=7)
DEFAULT_LENGTH = timedelta(hours=1)
MAX_REMINDER_MINUTES = 1440
_REF_RE = re.compile(r"^[A-Za-z0-9_.@+:-]{1,64}$")
# Times this far from the ends of the calendar leave room for a meeting's length (and a day).
EARLIEST = datetime.min.replace(tzinfo=UTC) + MAX_LENGTH + timedelta(days=1)
LATEST = datetime.max.replace(tzinfo=UTC) - MAX_LENGTH - timedelta(days=1)


def bad(message: str) -> FlowError:
    """A ``bad_request`` error."""
    return FlowError("bad_request", message)


def utc(value: datetime) -> datetime:
    """Like :func:`aware` for a value that is never None."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_time(value: object, key: str) -> datetime:
    """An ISO 8601 time in UTC (a time without an offset is taken as UTC)."""
    if not isinstance(value, str) or not value or len(value) > 40:
        raise bad(f"{key!r} must be an ISO 8601 time such as 2026-12-01T09:30:00Z")
    try:
        moment = utc(datetime.fromisoformat(value.replace("z", "Z")))
    except (ValueError, OverflowError):
        raise bad(f"{key!r} must be an ISO 8601 time such as 2026-12-01T09:30:00Z") from None
    return in_range(moment, key)


def in_range(moment: datetime, key: str) -> datetime:
    """``moment`` if it lies between :data:`EARLIEST` and :data:`LATEST`."""
    if not EARLIEST <= moment <= LATEST:
        raise bad(f"{key!r} is too far from today")
    return moment


def parse_bound(value: str | None, key: str, *, end: bool) -> datetime | None:
    """A period bound: a date (``to`` includes that whole day) or an ISO 8601 time."""
    if value is None or value == "":
        return None
    if len(value) == 10:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise bad(f"{key!r} must be a date (2026-12-01) or an ISO 8601 time") from None
        start = in_range(datetime.combine(day, time(0), tzinfo=UTC), key)
        return start + timedelta(days=1) if end else start
    return parse_time(value, key)


def title(value: object) -> str:
    """A meeting title: 1-200 characters."""
    if not isinstance(value, str) or not value.strip():
        raise bad("'title' must be a non-empty string")
    if len(value) > MAX_TITLE:  # counted as sent (the documented limit), then trimmed
        raise bad(f"'title' must be at most {MAX_TITLE} characters")
    return value.strip()


def guest_name(value: object) -> str:
    """A guest's display name: 1-64 printable characters."""
    if not isinstance(value, str):
        raise bad("'name' must be a string")
    text = " ".join(value.split())
    if not text or len(text) > MAX_NAME:
        raise bad(f"'name' must be 1-{MAX_NAME} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise bad("'name' must not contain control characters")
    return text


def category(value: object) -> str:
    """``quick`` or ``realtime``."""
    if value not in CATEGORIES:
        raise bad(f"'category' must be one of {', '.join(CATEGORIES)}")
    return str(value)


def reminder_minutes(value: object) -> int | None:
    """Minutes before the start to remind invitees (0: none; None: the server default)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad("'reminder_minutes' must be an integer")
    if not 0 <= value <= MAX_REMINDER_MINUTES:
        raise bad(f"'reminder_minutes' must be between 0 and {MAX_REMINDER_MINUTES}")
    return value


def user_refs(value: object) -> list[str]:
    """A list of user ids or sign-in names."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_INVITEES:
        raise bad(f"'invitees' must be a list of at most {MAX_INVITEES} user ids or names")
    refs: list[str] = []
    for item in value:
        if not isinstance(item, str) or not _REF_RE.match(item.strip()):
            raise bad("'invitees' must hold user ids or sign-in names")
        if item.strip() not in refs:
            refs.append(item.strip())
    return refs


def check_window(start: datetime, end: datetime) -> None:
    """``end`` after ``start``, at most a week apart."""
    if end <= start:
        raise bad("'end_at' must be after 'start_at'")
    if end - start > MAX_LENGTH:
        raise bad("a meeting may last at most 7 days")


@dataclass(frozen=True)
class NewMeeting:
    """A checked ``POST /meetings`` body."""

    title: str
    category: str
    start_at: datetime | None
    end_at: datetime | None
    invitees: list[str]
    reminder_minutes: int | None


def new_meeting(body: dict[str, Any]) -> NewMeeting:
    """Check a ``POST /meetings`` body."""
    cat = category(body.get("category", "realtime"))
    start = parse_time(body["start_at"], "start_at") if body.get("start_at") else None
    end = parse_time(body["end_at"], "end_at") if body.get("end_at") else None
    if cat == "realtime" and start is None:
        raise bad("a scheduled (realtime) meeting needs 'start_at'")
    return NewMeeting(
        title=title(body.get("title") or ("Quick support" if cat == "quick" else None)),
        category=cat,
        start_at=start,
        end_at=end,
        invitees=user_refs(body.get("invitees")),
        reminder_minutes=reminder_minutes(body.get("reminder_minutes")),
    )


def invitee_public(row: MeetingInvitee, names: dict[str, str]) -> dict[str, Any]:
    """The wire form of an invitee."""
    return {
        "user_id": row.user_id,
        "name": names.get(row.user_id, ""),
        "response": row.response,
        "reminded_at": iso(row.reminded_at),
    }


def meeting_public(
    meeting: Meeting, invitees: list[MeetingInvitee], names: dict[str, str]
) -> dict[str, Any]:
    """The wire form of a meeting (docs/CARE.md)."""
    return {
        "id": meeting.id,
        "org_id": meeting.org_id,
        "host_id": meeting.host_id,
        "host_name": names.get(meeting.host_id, ""),
        "title": meeting.title,
        "category": meeting.category,
        "status": meeting.status,
        "start_at": iso(meeting.start_at),
        "end_at": iso(meeting.end_at),
        "started_at": iso(meeting.started_at),
        "ended_at": iso(meeting.ended_at),
        "room_id": meeting.room_id,
        "conversation_id": meeting.conversation_id,
        "reminder_minutes": meeting.reminder_minutes,
        "created_at": iso(meeting.created_at),
        "join_path": f"/room/{meeting.room_id}",
        "invitees": [invitee_public(i, names) for i in invitees],
    }


def invite_public(link: InviteLink) -> dict[str, Any]:
    """The wire form of an invite link (its token is shown once, at creation)."""
    return {
        "id": link.id,
        "meeting_id": link.meeting_id,
        "created_by": link.created_by,
        "created_at": iso(link.created_at),
        "expires_at": iso(link.expires_at),
        "revoked_at": iso(link.revoked_at),
        "max_uses": link.max_uses,
        "uses": link.uses,
    }


def attendance_public(row: Attendance, until: datetime) -> dict[str, Any]:
    """One stay in a meeting's call, with its length in seconds."""
    left = aware(row.left_at) or until
    return {
        "user_id": row.user_id,
        "name": row.name,
        "role": row.role,
        "guest": row.guest_name is not None,
        "joined_at": iso(row.joined_at),
        "left_at": iso(row.left_at),
        "seconds": max(0, round((left - utc(row.joined_at)).total_seconds())),
    }


def covered_seconds(rows: list[Attendance], until: datetime) -> int:
    """How long anyone was in the call: the union of the stays (open ones end at ``until``)."""
    spans = sorted((utc(r.joined_at), aware(r.left_at) or until) for r in rows)
    total = 0.0
    cur_start: datetime | None = None
    cur_end: datetime | None = None
    for start, end in spans:
        if cur_end is None or start > cur_end:
            if cur_start is not None and cur_end is not None:
                total += max(0.0, (cur_end - cur_start).total_seconds())
            cur_start, cur_end = start, end
        elif end > cur_end:
            cur_end = end
    if cur_start is not None and cur_end is not None:
        total += max(0.0, (cur_end - cur_start).total_seconds())
    return round(total)


def attendee_key(row: Attendance) -> str:
    """Who a stay belongs to (a user, or a guest by name)."""
    return row.user_id or f"guest:{row.guest_name or row.name}"
