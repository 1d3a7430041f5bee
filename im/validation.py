"""Wire-format checks shared by the Socket.IO and HTTP edges; errors are ``bad_request``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from im.errors import ImError

CLIENT_TYPES = ("text", "image", "file", "audio", "video", "card")
ATTACHMENT_TYPES = ("image", "file", "audio", "video")
CARD_TYPES = ("document", "audio", "video", "questionnaire", "link")
SYSTEM_EVENTS = (
    "joined",
    "left",
    "call_started",
    "call_ended",
    "recording_started",
    "recording_stopped",
    "member_added",
    "member_removed",
    "snapshot_taken",
    "pixelation_on",
    "pixelation_off",
    # posted by the care flows into their rooms' conversations
    "consult_created",
    "consult_started",
    "switched_to_text",
    "switched_to_voice",
    "switched_to_video",
    "consult_ended",
    "consult_cancelled",
    "sos_raised",
    "sos_answered",
    "sos_cancelled",
    "sos_ended",
    "sos_unanswered",
)
MAX_LIMIT = 500
DEFAULT_LIMIT = 200
_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def bad(message: str) -> ImError:
    """A ``bad_request`` error."""
    return ImError("bad_request", message)


def obj(data: Any) -> dict[str, Any]:
    """The payload as a dict (``None`` counts as empty)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise bad("the payload must be an object")
    return data


def ident(data: dict[str, Any], key: str) -> str:
    """An id field: 1-64 characters of ``[A-Za-z0-9_.:-]``."""
    value = data.get(key)
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise bad(f"{key!r} must be an id of 1-64 letters, digits or _.:-")
    return value


def seq(data: dict[str, Any], key: str, *, default: int | None = None) -> int:
    """A non-negative integer sequence number."""
    value = data.get(key, default)
    if value is None:
        raise bad(f"{key!r} is required")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 2**62:
        raise bad(f"{key!r} must be a non-negative integer")
    return value


def limit(data: dict[str, Any]) -> int:
    """``limit`` between 1 and :data:`MAX_LIMIT` (default :data:`DEFAULT_LIMIT`)."""
    value = seq(data, "limit", default=DEFAULT_LIMIT)
    if not 1 <= value <= MAX_LIMIT:
        raise bad(f"'limit' must be between 1 and {MAX_LIMIT}")
    return value


@dataclass(frozen=True)
class SendRequest:
    """A validated ``im:send``."""

    conversation_id: str
    client_msg_id: str
    type: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)


def send_request(
    data: Any, *, max_text_length: int, conversation_id: str | None = None
) -> SendRequest:
    """Check an ``im:send`` payload (``conversation_id`` may come from the URL instead)."""
    data = obj(data)
    conv = conversation_id if conversation_id is not None else ident(data, "conversation_id")
    client_msg_id = ident(data, "client_msg_id")
    mtype = data.get("type", "text")
    if mtype == "system":
        raise ImError("not_allowed", "only the server sends system messages")
    if mtype not in CLIENT_TYPES:
        raise bad(f"'type' must be one of {', '.join(CLIENT_TYPES)}")
    body = data.get("body", "")
    if body is None:
        body = ""
    if not isinstance(body, str):
        raise bad("'body' must be a string")
    if len(body) > max_text_length:
        raise bad(f"'body' must be at most {max_text_length} characters")
    if "\x00" in body:
        raise bad("'body' must not contain NUL characters")
    raw_payload = obj(data.get("payload"))
    if "attachment_id" in raw_payload:
        ident(raw_payload, "attachment_id")  # wrong types are refused whatever the message type
    if mtype == "text":
        if not body.strip():
            raise bad("a text message needs a non-empty 'body'")
        payload: dict[str, Any] = {}
    elif mtype in ATTACHMENT_TYPES:
        payload = {"attachment_id": ident(raw_payload, "attachment_id")}
    else:
        payload = card(raw_payload)
    return SendRequest(conv, client_msg_id, mtype, body, payload)


def card(data: dict[str, Any]) -> dict[str, Any]:
    """A card payload: ``{card_type, title, description?, url?}``."""
    card_type = data.get("card_type")
    if card_type not in CARD_TYPES:
        raise bad(f"'payload.card_type' must be one of {', '.join(CARD_TYPES)}")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        raise bad("'payload.title' must be a non-empty string of at most 200 characters")
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        raise bad("'payload.description' must be a string of at most 2000 characters")
    url = data.get("url")
    out: dict[str, Any] = {"card_type": card_type, "title": title, "description": description}
    if url is not None:
        if not isinstance(url, str) or len(url) > 2000:
            raise bad("'payload.url' must be a string of at most 2000 characters")
        try:
            parts = urlsplit(url)
        except ValueError:  # e.g. an unclosed "[" in the host
            raise bad("'payload.url' must be an http(s) URL or a path on this server") from None
        relative = url.startswith("/") and not url.startswith("//")
        if not relative and (parts.scheme not in ("http", "https") or not parts.netloc):
            raise bad("'payload.url' must be an http(s) URL or a path on this server")
        out["url"] = url
    elif card_type in ("questionnaire", "link"):
        raise bad(f"a {card_type} card needs 'payload.url'")
    attachment_id = data.get("attachment_id")
    if attachment_id is not None:
        out["attachment_id"] = ident(data, "attachment_id")
    return out


def text_body(data: dict[str, Any], *, max_text_length: int) -> str:
    """A non-empty text body (for edits)."""
    body = data.get("body")
    if not isinstance(body, str) or not body.strip():
        raise bad("'body' must be a non-empty string")
    if len(body) > max_text_length or "\x00" in body:
        raise bad(f"'body' must be at most {max_text_length} characters, without NUL")
    return body
