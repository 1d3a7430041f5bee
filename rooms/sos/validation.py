"""Strict checks of SOS payloads at the edge; anything malformed is ``bad_request``."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from accounts.flow_errors import FlowError
from rooms.sos.models import SOS_KINDS

ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
DEVICE_RE = re.compile(r"[\x21-\x7e]{1,128}")
VITAL_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
BP_RE = re.compile(r"\d{2,3}/\d{2,3}")
DEVICE_KINDS = ("wristband", "one_key", "fall_radar", "other")
WEBHOOK_EVENTS = (
    "sos.raised",
    "sos.ring_delivered",
    "sos.accepted",
    "sos.declined",
    "sos.escalated",
    "sos.joined",
    "sos.cancelled",
    "sos.ended",
    "sos.unanswered",
)
# vital -> (min, max, integer only)
NUMERIC_VITALS: dict[str, tuple[float, float, bool]] = {
    "heart_rate": (0, 300, True),
    "spo2": (0, 100, False),
    "temperature": (25, 45, False),
    "respiratory_rate": (0, 120, True),
    "glucose": (0, 60, False),
    "systolic": (0, 300, True),
    "diastolic": (0, 300, True),
}
MAX_VITALS = 16


def bad(message: str) -> FlowError:
    """A ``bad_request`` error."""
    return FlowError("bad_request", message)


def obj(data: Any, *, optional: bool = False) -> dict[str, Any]:
    """The payload as a JSON object."""
    if data is None and optional:
        return {}
    if not isinstance(data, dict):
        raise bad("the request must be a JSON object")
    return data


def ident(data: dict[str, Any], key: str) -> str:
    """``data[key]`` as an id (``^[A-Za-z0-9_-]{1,64}$``)."""
    value = data.get(key)
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise bad(f"{key!r} is required and must be an id")
    return value


def _number(value: Any, what: str, lo: float, hi: float, integer: bool = False) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(f"{what} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise bad(f"{what} must be finite")
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        raise bad(f"{what} must be a whole number")
    if not lo <= value <= hi:
        raise bad(f"{what} must be between {lo:g} and {hi:g}")
    return int(value) if integer else value


def _text(value: Any, what: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise bad(f"{what} must be a non-empty string of at most {max_length} characters")
    return value.strip()


def location(value: Any) -> dict[str, Any] | None:
    """``{lat, lon, address?, accuracy_m?}`` or None."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad("'location' must be an object {lat, lon, address?}")
    unknown = set(value) - {"lat", "lon", "address", "accuracy_m"}
    if unknown:
        raise bad(f"'location' has unknown field(s): {', '.join(sorted(unknown))[:100]}")
    out: dict[str, Any] = {
        "lat": _number(value.get("lat"), "'location.lat'", -90, 90),
        "lon": _number(value.get("lon"), "'location.lon'", -180, 180),
    }
    if value.get("address") is not None:
        out["address"] = _text(value["address"], "'location.address'", 300)
    if value.get("accuracy_m") is not None:
        out["accuracy_m"] = _number(value["accuracy_m"], "'location.accuracy_m'", 0, 100_000)
    return out


def vitals(value: Any) -> dict[str, Any] | None:
    """Readings such as ``{heart_rate, spo2, bp: "120/80"}`` or None."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad("'vitals' must be an object")
    if len(value) > MAX_VITALS:
        raise bad(f"'vitals' has more than {MAX_VITALS} readings")
    out: dict[str, Any] = {}
    for key, reading in value.items():
        if not isinstance(key, str) or not VITAL_KEY_RE.fullmatch(key):
            raise bad("'vitals' keys must be lower-case names")
        what = f"'vitals.{key}'"
        if key in NUMERIC_VITALS:
            lo, hi, integer = NUMERIC_VITALS[key]
            out[key] = _number(reading, what, lo, hi, integer)
        elif key == "bp":
            if not isinstance(reading, str) or not BP_RE.fullmatch(reading):
                raise bad("'vitals.bp' must look like \"120/80\"")
            out[key] = reading
        elif isinstance(reading, (int, float)) and not isinstance(reading, bool):
            out[key] = _number(reading, what, -1e6, 1e6)
        else:
            out[key] = _text(reading, what, 64)
    return out


@dataclass(frozen=True)
class RaiseRequest:
    """What an SOS carries besides who raised it."""

    kind: str = "button"
    location: dict[str, Any] | None = None
    vitals: dict[str, Any] | None = None
    device_id: str | None = None
    kiosk: bool = False


def raise_request(data: Any) -> RaiseRequest:
    """``sos:raise`` / ``POST /sos`` with an elder's token: ``{location?, vitals?, kiosk?}``."""
    body = obj(data, optional=True)
    kiosk = body.get("kiosk", False)
    if not isinstance(kiosk, bool):
        raise bad("'kiosk' must be true or false")
    return RaiseRequest(
        kind="button", location=location(body.get("location")),
        vitals=vitals(body.get("vitals")), kiosk=kiosk,
    )


def device_request(data: Any) -> tuple[str, RaiseRequest]:
    """``POST /sos`` with an API key: ``{elder_id, device_id?, kind, location?, vitals?}``."""
    body = obj(data)
    elder_id = ident(body, "elder_id")
    kind = body.get("kind")
    if kind not in DEVICE_KINDS:
        raise bad(f"'kind' must be one of {', '.join(DEVICE_KINDS)}")
    device_id = body.get("device_id")
    if device_id is not None and (not isinstance(device_id, str) or not DEVICE_RE.fullmatch(device_id)):
        raise bad("'device_id' must be 1 to 128 printable characters")
    assert kind in SOS_KINDS
    return elder_id, RaiseRequest(
        kind=kind, location=location(body.get("location")),
        vitals=vitals(body.get("vitals")), device_id=device_id,
    )


def sos_id(data: Any) -> str:
    """``{sos_id}`` -> the id."""
    return ident(obj(data), "sos_id")


def timestamp(value: str | None, what: str) -> datetime | None:
    """An ISO 8601 time (naive means UTC), or None."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise bad(f"{what!r} must be an ISO 8601 time") from None


def webhook_request(data: Any) -> tuple[str, list[str], str]:
    """``{url, events[], secret}`` -> the checked values."""
    body = obj(data)
    url = body.get("url")
    if not isinstance(url, str) or len(url) > 2048:
        raise bad("'url' must be an http(s) URL of at most 2048 characters")
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # raises on a bad port
    except ValueError:
        valid = False
    if not valid or any(ch.isspace() for ch in url):
        raise bad("'url' must be an http:// or https:// URL")
    events = body.get("events")
    if (
        not isinstance(events, list)
        or not events
        or len(events) > len(WEBHOOK_EVENTS) + 1
        or not all(isinstance(e, str) and (e in WEBHOOK_EVENTS or e == "sos.*") for e in events)
    ):
        raise bad(f"'events' must be a non-empty list of {', '.join(WEBHOOK_EVENTS)} or sos.*")
    secret = body.get("secret")
    if not isinstance(secret, str) or not 16 <= len(secret) <= 256:
        raise bad("'secret' must be a string of 16 to 256 characters")
    return url, sorted(set(events)), secret


def key_name(data: Any) -> str:
    """``{name?}`` of a new API key."""
    body = obj(data, optional=True)
    name = body.get("name", "integration")
    return _text(name, "'name'", 100)
