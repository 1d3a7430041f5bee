"""Structured logging: one JSON object per line (ts, level, event, fields).

Log with the event as the message and fields in ``extra``::

    log.info("room_joined", extra={"room_id": room_id, "user_id": user_id})

Fields whose names suggest a secret or a message body (token, password,
secret, authorization, body, text, sdp, ...) are replaced by ``"[redacted]"``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName"}

SENSITIVE_KEYS = frozenset(
    {
        "token",
        "access_token",
        "jwt",
        "password",
        "passwd",
        "secret",
        "jwt_secret",
        "credential",
        "authorization",
        "cookie",
        "body",
        "text",
        "content",
        "message_body",
        "sdp",
    }
)
REDACTED = "[redacted]"


def _redact(key: str, value: Any) -> Any:
    if key.lower() in SENSITIVE_KEYS:
        return REDACTED
    return value


class JsonFormatter(logging.Formatter):
    """Format records as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD_ATTRS or key.startswith("_") or key in out:
                continue
            out[key] = _redact(key, value)
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_type"] = record.exc_info[0].__name__
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable ``ts level event key=value ...`` lines for development."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{k}={_redact(k, v)}"
            for k, v in record.__dict__.items()
            if k not in _STANDARD_ATTRS and not k.startswith("_")
        )
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        line = f"{ts} {record.levelname:<7} {record.getMessage()} {fields}".rstrip()
        if record.exc_info and record.exc_info[0] is not None:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    """Send all logging to stderr in the chosen format (stdout stays for command output)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # chatty at INFO; aiortc/aioice may log SDP or ICE credentials at DEBUG
    quiet = max(logging.getLevelName(level), logging.WARNING)
    for name in ("aioice", "aiortc", "alembic"):
        logging.getLogger(name).setLevel(quiet)


class AccessLogger(AbstractAccessLogger):
    """One ``http_request`` event per request: method, path (no query string), status, ms."""

    def log(self, request: BaseRequest, response: StreamResponse, time_: float) -> None:
        self.logger.info(
            "http_request",
            extra={
                "method": request.method,
                "path": request.path,  # never the query string: it may carry a token
                "status": response.status,
                "duration_ms": round(time_ * 1000, 1),
                "remote": request.remote,
            },
        )

    @property
    def enabled(self) -> bool:
        """Log only if the access logger would emit INFO."""
        return self.logger.isEnabledFor(logging.INFO)
