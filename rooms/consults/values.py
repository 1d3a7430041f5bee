"""Consult values: request checks (``bad_request``) and the wire form of a consult."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from accounts.flow_errors import FlowError
from db.times import aware, iso, utcnow
from rooms.consults.models import KINDS, MODES, STATUSES, Consult, ConsultParticipant

MAX_SUMMARY = 10_000
MAX_TITLE = 200
MAX_LIST = 500
DEFAULT_LIST = 100
# How far from now a consult may be scheduled.
EARLIEST = timedelta(hours=1)
LATEST = timedelta(days=366)
_ID_RE = re.compile(r"^[A-Za-z0-9_.@+:-]{1,64}$")


def bad(message: str) -> FlowError:
    """A ``bad_request`` error."""
    return FlowError("bad_request", message)


def parse_time(value: object, key: str) -> datetime:
    """An ISO 8601 time with a timezone, in UTC."""
    if not isinstance(value, str) or len(value) > 40:
        raise bad(f"{key!r} must be an ISO 8601 time such as 2026-12-01T09:30:00Z")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad(f"{key!r} must be an ISO 8601 time such as 2026-12-01T09:30:00Z") from None
    if moment.tzinfo is None:
        raise bad(f"{key!r} needs a timezone (Z or an offset such as +08:00)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        raise bad(f"{key!r} is outside the calendar once taken to UTC") from None


def user_ref(body: dict[str, Any], key: str) -> str | None:
    """``body[key]`` (or ``body[key + "_id"]``): a user id or a sign-in name, if given."""
    value = body.get(key, body.get(f"{key}_id"))
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _ID_RE.match(value.strip()):
        raise bad(f"{key!r} must be a user id or a sign-in name")
    return value.strip()


@dataclass(frozen=True)
class NewConsult:
    """A checked ``POST /consults`` body."""

    patient: str | None
    clinician: str | None
    kind: str | None
    scheduled_at: datetime | None
    title: str | None


def new_consult(body: dict[str, Any], now: datetime) -> NewConsult:
    """Check a create request."""
    kind = body.get("kind")
    if kind in (None, ""):
        kind = None
    elif kind not in KINDS:
        raise bad(f"'kind' must be one of {', '.join(KINDS)}")
    when = body.get("scheduled_at")
    scheduled_at = None if when in (None, "") else parse_time(when, "scheduled_at")
    if scheduled_at is not None and not now - EARLIEST <= scheduled_at <= now + LATEST:
        raise bad("'scheduled_at' must be between an hour ago and a year from now")
    title = body.get("title")
    if title is not None and (
        not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE
    ):
        raise bad(f"'title' must be a non-empty string of at most {MAX_TITLE} characters")
    return NewConsult(
        patient=user_ref(body, "patient"),
        clinician=user_ref(body, "clinician"),
        kind=kind,
        scheduled_at=scheduled_at,
        title=title.strip() if isinstance(title, str) else None,
    )


def mode(body: dict[str, Any]) -> str:
    """``body["mode"]``: text, voice or video."""
    value = body.get("mode")
    if value not in MODES:
        raise bad(f"'mode' must be one of {', '.join(MODES)}")
    return str(value)


def optional_mode(body: dict[str, Any]) -> str | None:
    """``body["mode"]`` if given (see :func:`mode`)."""
    return None if body.get("mode") is None else mode(body)


def summary(body: dict[str, Any]) -> str | None:
    """``body["summary"]``: the closing note (optional, at most :data:`MAX_SUMMARY` characters)."""
    value = body.get("summary")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_SUMMARY or "\x00" in value:
        raise bad(f"'summary' must be a string of at most {MAX_SUMMARY} characters")
    return value.strip() or None


@dataclass(frozen=True)
class ListQuery:
    """A checked ``GET /consults`` query."""

    statuses: tuple[str, ...]
    start: datetime | None
    end: datetime | None
    limit: int
    descending: bool


def list_query(query: dict[str, str]) -> ListQuery:
    """Check ``status`` (comma-separated), ``from``, ``to``, ``limit``, ``order``."""
    statuses = tuple(s for s in query.get("status", "").split(",") if s)
    if any(s not in STATUSES for s in statuses):
        raise bad(f"'status' must be one or more of {', '.join(STATUSES)}")
    start = parse_time(query["from"], "from") if query.get("from") else None
    end = parse_time(query["to"], "to") if query.get("to") else None
    raw = query.get("limit", str(DEFAULT_LIST))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not 1 <= int(raw) <= MAX_LIST:
        raise bad(f"'limit' must be between 1 and {MAX_LIST}")
    order = query.get("order", "asc")
    if order not in ("asc", "desc"):
        raise bad("'order' must be asc or desc")
    return ListQuery(statuses, start, end, int(raw), order == "desc")


def mode_seconds(consult: Consult, now: datetime) -> dict[str, float]:
    """Seconds spent in each mode (the last one runs until the end, or now)."""
    changes = list(consult.modes_used or [])
    stop = aware(consult.ended_at) or now
    out: dict[str, float] = {}
    for i, change in enumerate(changes):
        begin = parse_time(change["at"], "at")
        until = parse_time(changes[i + 1]["at"], "at") if i + 1 < len(changes) else stop
        out[change["mode"]] = round(
            out.get(change["mode"], 0.0) + max(0.0, (until - begin).total_seconds()), 3
        )
    return out


def record(
    consult: Consult,
    participants: list[ConsultParticipant],
    names: dict[str, str],
    *,
    viewer: str | None,
    full: bool = True,
) -> dict[str, Any]:
    """The wire form; ``full=False`` (a service record for statistics) leaves out the content."""
    now = utcnow()
    started, ended = aware(consult.started_at), aware(consult.ended_at)
    duration = (ended - started).total_seconds() if started and ended else None
    used: list[str] = []
    for change in consult.modes_used or []:
        if change["mode"] not in used:
            used.append(change["mode"])
    mine = next((p.role for p in participants if p.user_id == viewer), None)
    out: dict[str, Any] = {
        "id": consult.id,
        "org_id": consult.org_id,
        "kind": consult.kind,
        "status": consult.status,
        "clinician": {"id": consult.clinician_id, "name": names.get(consult.clinician_id, "")},
        "patient": {"id": consult.patient_id, "name": names.get(consult.patient_id, "")},
        "participants": [
            {"user_id": p.user_id, "name": names.get(p.user_id, ""), "role": p.role}
            for p in participants
        ],
        "my_role": mine,
        "scheduled_at": iso(consult.scheduled_at),
        "started_at": iso(started),
        "ended_at": iso(ended),
        "duration_seconds": None if duration is None else round(duration, 3),
        "current_mode": consult.current_mode,
        "modes_used": used,
        "mode_changes": [dict(c) for c in consult.modes_used or []],
        "mode_seconds": mode_seconds(consult, now) if started else {},
        "created_by": consult.created_by,
        "created_at": iso(consult.created_at),
    }
    if full:
        out["room_id"] = consult.room_id
        out["conversation_id"] = consult.conversation_id
        out["summary"] = consult.summary
    return out
