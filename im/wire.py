"""Wire forms of messages and conversations (JSON-ready dicts)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``; naive values (SQLite) are taken as UTC."""
    if value is None:
        return None
    global _last
    last = _last
    if value is last[0]:  # every message of a write batch shares one timestamp object
        return last[1]
    text = _iso(value)
    _last = (value, text)
    return text


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_last: tuple[datetime | None, str] = (None, "")


def message(row: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """A stored message row as the ``Message`` wire object (tombstone if recalled)."""
    recalled = row["recalled_at"] is not None
    sender = row["sender_id"]
    return {
        "id": row["id"],
        "conversation_id": row["conversation_id"],
        "seq": row["seq"],
        "sender_id": sender,
        "sender_name": names.get(sender, "") if sender else "",
        "client_msg_id": row["client_msg_id"],
        "type": row["type"],
        "body": "" if recalled else row["body"],
        "payload": {} if recalled else (row["payload"] or {}),
        "created_at": iso(row["created_at"]),
        "edited_at": iso(row["edited_at"]),
        "recalled": recalled,
        "recalled_by": row["recalled_by"],
    }


def ack(row: Mapping[str, Any], duplicate: bool) -> dict[str, Any]:
    """The send ack: ``{id, seq, created_at, duplicate}``."""
    return {
        "id": row["id"],
        "seq": row["seq"],
        "created_at": iso(row["created_at"]),
        "duplicate": duplicate,
    }
