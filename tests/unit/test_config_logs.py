"""carertc.logs: one JSON object per line, secrets and bodies redacted."""

from __future__ import annotations

import json
import logging
import sys

from carertc.logs import REDACTED, JsonFormatter, TextFormatter


def record(event: str, **fields: object) -> logging.LogRecord:
    rec = logging.LogRecord("carertc.test", logging.INFO, __file__, 1, event, None, None)
    rec.__dict__.update(fields)
    return rec


def test_json_line_has_ts_level_event_and_fields() -> None:
    line = JsonFormatter().format(record("room_joined", room_id="ward-7", user_id="u1", count=3))
    assert "\n" not in line
    data = json.loads(line)
    assert data["event"] == "room_joined" and data["level"] == "info"
    assert (data["room_id"], data["user_id"], data["count"]) == ("ward-7", "u1", 3)
    assert data["ts"].endswith("+00:00")


def test_sensitive_fields_are_redacted() -> None:
    fields = {
        "token": "eyJhbGciOi.x.y",
        "password": "hunter2",
        "Authorization": "Bearer abc",
        "sdp": "v=0 ...",
        "text": "my diagnosis",
        "body": "message body",
    }
    for formatter in (JsonFormatter(), TextFormatter()):
        out = formatter.format(record("login", user_id="u1", **fields))
        for value in fields.values():
            assert value not in out
        assert REDACTED in out and "u1" in out


def test_exceptions_are_one_line_of_json() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = record("failed")
        rec.exc_info = sys.exc_info()
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    data = json.loads(line)
    assert data["exc_type"] == "ValueError" and "boom" in data["exc"]
