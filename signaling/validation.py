"""Validation of request payloads at the edge: anything malformed answers ``bad_request``."""

from __future__ import annotations

import re
from typing import Any

ROOM_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MID_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
SOURCES = ("camera", "microphone", "screen")
MUTABLE_SOURCES = ("camera", "microphone")
MAX_SDP_LENGTH = 128 * 1024
MAX_TRACKS = 16


class BadRequest(Exception):
    """The request payload is missing fields or has mistyped ones."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def _object(data: Any, *, optional: bool = False) -> dict[str, Any]:
    if data is None and optional:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("the request must be a JSON object")
    return data


def _string(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"{key!r} is required and must be a string")
    return value


def _sdp(data: dict[str, Any]) -> str:
    sdp = _string(data, "sdp")
    if not sdp.strip():
        raise BadRequest("'sdp' must not be empty")
    if len(sdp) > MAX_SDP_LENGTH:
        raise BadRequest(f"'sdp' is longer than {MAX_SDP_LENGTH} characters")
    return sdp


def empty(data: Any) -> None:
    """``{}`` (or no payload at all)."""
    _object(data, optional=True)


def room_join(data: Any) -> str:
    """``{"room_id"}`` -> the room id."""
    room_id = _string(_object(data), "room_id")
    if not ROOM_ID_RE.fullmatch(room_id):
        raise BadRequest("'room_id' must match ^[A-Za-z0-9_-]{1,64}$")
    return room_id


def media_publish(data: Any) -> tuple[str, dict[str, str]]:
    """``{"sdp", "sources": {mid: source}}`` -> (sdp, sources)."""
    obj = _object(data)
    sdp = _sdp(obj)
    sources = obj.get("sources")
    if not isinstance(sources, dict):
        raise BadRequest("'sources' is required and must be an object of mid -> source")
    if len(sources) > MAX_TRACKS:
        raise BadRequest(f"at most {MAX_TRACKS} tracks")
    for mid, source in sources.items():
        if not isinstance(mid, str) or not MID_RE.fullmatch(mid):
            raise BadRequest("'sources' keys must be m-line mids")
        if source not in SOURCES:
            raise BadRequest(f"'sources' values must be one of {', '.join(SOURCES)}")
    return sdp, dict(sources)


def media_answer(data: Any) -> str:
    """``{"sdp"}`` -> the answer."""
    return _sdp(_object(data))


def media_mute(data: Any) -> str:
    """``{"source": "camera"|"microphone"}`` -> the source."""
    source = _object(data).get("source")
    if source not in MUTABLE_SOURCES:
        raise BadRequest("'source' must be camera or microphone")
    return str(source)
