"""JSON errors with stable codes, and the middleware that produces them."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web

from accounts.errors import AccountError, AuthError
from accounts.flow_errors import FlowError
from accounts.orgs import PermissionDenied
from im.errors import ImError

log = logging.getLogger(__name__)

AUTH_STATUS = {
    "token_missing": 401,
    "token_invalid": 401,
    "token_expired": 401,
    "token_audience": 401,
    "bad_credentials": 401,
    "user_disabled": 403,
}
ACCOUNT_STATUS = {"user_exists": 409, "user_not_found": 404}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


class ApiError(Exception):
    """An HTTP error answered as ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON error response."""
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; ApiError ``bad_request`` / ``payload_too_large``."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(
            413, "payload_too_large", f"the body is larger than {request.client_max_size} bytes"
        ) from None
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    return body


def parse_json(raw: bytes) -> Any:
    """``raw`` as JSON whose strings can be stored; ApiError ``bad_request`` otherwise.

    Nesting too deep for the parser, NUL characters and lone surrogates (which
    neither UTF-8 nor PostgreSQL text can hold) are refused here, once for all routes.
    """
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "bad_request", "the body is not valid JSON") from None
    lowered = raw.lower()
    if b"\\u0000" in lowered or b"\\ud" in lowered:
        for text in _strings(body):
            if "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text):
                raise ApiError(
                    400, "bad_request", "strings must not contain NUL or lone surrogates"
                )
    return body


def _strings(value: Any) -> Iterator[str]:
    """Every string in a parsed JSON value, keys included."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def require_str(body: dict[str, Any], key: str, *, max_length: int = 1024) -> str:
    """``body[key]`` as a non-empty string; ApiError ``bad_request`` otherwise."""
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "bad_request", f"{key!r} must be a non-empty string")
    if len(value) > max_length:
        raise ApiError(400, "bad_request", f"{key!r} must be at most {max_length} characters")
    return value


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn errors into JSON with stable codes; never leak internals on a 500."""
    try:
        if _is_api_path(request.path) and _has_nul(request):
            # PostgreSQL text cannot hold NUL: refuse it before any query is made
            raise ApiError(400, "bad_request", "the path and query must not contain NUL")
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    except AuthError as exc:
        headers = {"WWW-Authenticate": "Bearer"} if AUTH_STATUS[exc.code] == 401 else None
        return error_response(AUTH_STATUS[exc.code], exc.code, exc.message, headers)
    except (ImError, FlowError) as exc:
        return error_response(exc.status, exc.code, exc.message)
    except PermissionDenied as exc:
        return error_response(403, exc.code, exc.message)
    except AccountError as exc:
        return error_response(ACCOUNT_STATUS.get(exc.code, 400), exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400 or not _is_api_path(request.path):
            raise
        code = HTTP_CODES.get(exc.status, "http_error")
        message = exc.reason or code
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(exc.status, code, message, headers or None)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unhandled_exception", extra={"method": request.method, "path": request.path})
        return error_response(500, "internal_error", "internal server error")


def _has_nul(request: web.Request) -> bool:
    if "\x00" in request.path:
        return True
    return any("\x00" in key or "\x00" in value for key, value in request.query.items())


def _is_api_path(path: str) -> bool:
    return path.startswith("/api/") or path in ("/health", "/ready", "/metrics")
