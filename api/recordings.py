"""HTTP routes for recordings: list/search, details, playback and download, delete, audit.

The media and download routes accept the token as ``?token=<jwt>`` as well as
in the ``Authorization`` header, so ``<video src>`` works in a browser (the
access log never records query strings). Authorisation and the audit log are
:class:`recording.playback.RecordingPlayback`'s; these handlers validate and
answer. The client's address is ``request.remote`` (no proxy header is trusted).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from accounts.errors import AuthError
from accounts.principal import Principal
from api.attachments import SAFE_HEADERS, content_disposition
from api.auth import AuthRoutes, bearer_token
from api.errors import ApiError
from recording.audit import AuditQuery, ClientInfo
from recording.catalog import RecordingQuery
from recording.errors import RecordingError
from recording.models import ACCESS_ACTIONS, RECORDING_STATUSES
from recording.playback import RecordingPlayback
from rooms.meetings.values import parse_bound

MAX_ID = 128
MAX_PARTICIPANT = 200
MAX_OFFSET = 1_000_000
RECORDINGS_LIMIT = (1, 100, 50)
AUDIT_LIMIT = (1, 500, 100)

def _errors(handler: Callable[[Any, web.Request], Awaitable[web.StreamResponse]]) -> Any:
    """Answer :class:`RecordingError` as ``{"error": {code, message}}`` with its status."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: web.Request) -> web.StreamResponse:
        try:
            return await handler(self, request)
        except RecordingError as exc:
            raise ApiError(exc.status, exc.code, exc.message, exc.headers) from None

    return wrapper


def bad(message: str) -> ApiError:
    """A 400 ``bad_request``."""
    return ApiError(400, "bad_request", message)


def _text(request: web.Request, key: str, max_length: int = MAX_ID) -> str | None:
    value = request.query.get(key, "")
    if value == "":
        return None
    if len(value) > max_length:
        raise bad(f"{key!r} must be at most {max_length} characters")
    return value


def _choice(request: web.Request, key: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(key, "")
    if value == "":
        return None
    if value not in allowed:
        raise bad(f"{key!r} must be one of {', '.join(allowed)}")
    return value


def _int(request: web.Request, key: str, lo: int, hi: int, default: int) -> int:
    raw = request.query.get(key, "")
    if raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
        raise bad(f"{key!r} must be an integer between {lo} and {hi}")
    value = int(raw)
    if not lo <= value <= hi:
        raise bad(f"{key!r} must be an integer between {lo} and {hi}")
    return value


def _path_id(request: web.Request, key: str, code: str) -> str:
    value = request.match_info[key]
    if not value or len(value) > MAX_ID:
        raise RecordingError(code, "no such recording" if code == "recording_not_found"
                             else "no such file in this recording")
    return value


def client_info(request: web.Request) -> ClientInfo:
    """The caller's address and user agent."""
    return ClientInfo(ip=request.remote, user_agent=request.headers.get("User-Agent"))


class RecordingRoutes:
    """``/api/v1/recordings`` and ``/api/v1/recordings/audit``."""

    def __init__(self, auth: AuthRoutes, playback: RecordingPlayback) -> None:
        self.auth = auth
        self.playback = playback

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app`` (the audit routes before ``{recording_id}``)."""
        r = app.router
        r.add_get("/api/v1/recordings", self.list_recordings)
        r.add_get("/api/v1/recordings/audit", self.audit)
        r.add_get("/api/v1/recordings/audit.csv", self.audit_csv)
        r.add_get("/api/v1/recordings/{recording_id}", self.get)
        r.add_delete("/api/v1/recordings/{recording_id}", self.delete)
        r.add_get("/api/v1/recordings/{recording_id}/files/{file_id}/media", self.media)
        r.add_get("/api/v1/recordings/{recording_id}/files/{file_id}/download", self.download)

    async def principal(self, request: web.Request, *, query_token: bool = False) -> Principal:
        """The verified caller with its current role in the organisation it acts for."""
        token = bearer_token(request)
        if token is None and query_token:
            token = request.query.get("token") or None
        claims = self.auth.tokens.verify(token)
        user = await self.auth.users.get(claims.sub)
        if user is None or user.disabled:
            raise AuthError("user_disabled")
        if self.auth.orgs is None:
            return Principal(user.id, user.display_name, claims.role, claims.org, claims.room)
        return (await self.auth.orgs.actor(user, claims.org, claims.room)).principal

    @_errors
    async def list_recordings(self, request: web.Request) -> web.Response:
        """``?from=&to=&room_id=&consult_id=&meeting_id=&participant=&status=&limit=&offset=``."""
        principal = await self.principal(request)
        lo, hi, default = RECORDINGS_LIMIT
        query = RecordingQuery(
            start=parse_bound(request.query.get("from"), "from", end=False),
            end=parse_bound(request.query.get("to"), "to", end=True),
            room_id=_text(request, "room_id"),
            consult_id=_text(request, "consult_id"),
            meeting_id=_text(request, "meeting_id"),
            participant=_text(request, "participant", MAX_PARTICIPANT),
            status=_choice(request, "status", RECORDING_STATUSES),
            limit=_int(request, "limit", lo, hi, default),
            offset=_int(request, "offset", 0, MAX_OFFSET, 0),
        )
        items, more = await self.playback.search(principal, query, client_info(request))
        return web.json_response({"recordings": items, "has_more": more})

    @_errors
    async def get(self, request: web.Request) -> web.Response:
        """One recording with its files (and their media URLs) and participants."""
        principal = await self.principal(request)
        rid = _path_id(request, "recording_id", "recording_not_found")
        rec = await self.playback.get(principal, rid, client_info(request))
        for f in rec["files"]:
            base = f"/api/v1/recordings/{rid}/files/{f['id']}"
            f["media_url"] = f"{base}/media"
            f["download_url"] = f"{base}/download"
        return web.json_response(rec)

    @_errors
    async def delete(self, request: web.Request) -> web.Response:
        """Delete a recording and its files (admins of its organisation)."""
        principal = await self.principal(request)
        rid = _path_id(request, "recording_id", "recording_not_found")
        removed = await self.playback.delete(principal, rid, client_info(request))
        return web.json_response({"deleted": True, "files_removed": removed})

    @_errors
    async def media(self, request: web.Request) -> web.StreamResponse:
        """Play a file inline (Range supported)."""
        return await self._file(request, download=False)

    @_errors
    async def download(self, request: web.Request) -> web.StreamResponse:
        """Download a file as an attachment (Range supported)."""
        return await self._file(request, download=True)

    async def _file(self, request: web.Request, *, download: bool) -> web.StreamResponse:
        principal = await self.principal(request, query_token=True)
        rid = _path_id(request, "recording_id", "recording_not_found")
        fid = _path_id(request, "file_id", "recording_file_not_found")
        is_head = request.method == "HEAD"
        stream = await self.playback.open_media(
            principal, rid, fid, request.headers.get("Range"), download=download,
            client=client_info(request), audit=not is_head,
        )
        response = web.StreamResponse(status=stream.status, headers={
            **SAFE_HEADERS,
            **stream.headers,
            "Content-Disposition": content_disposition(stream.filename, inline=not download),
        })
        response.content_length = stream.length
        await response.prepare(request)
        if not is_head:
            async for block in stream.chunks():
                await response.write(block)
        await response.write_eof()
        return response

    def _audit_query(self, request: web.Request, *, paged: bool) -> AuditQuery:
        lo, hi, default = AUDIT_LIMIT
        return AuditQuery(
            org_id=None,
            recording_id=_text(request, "recording_id"),
            user_id=_text(request, "user_id"),
            action=_choice(request, "action", ACCESS_ACTIONS),
            start=parse_bound(request.query.get("from"), "from", end=False),
            end=parse_bound(request.query.get("to"), "to", end=True),
            limit=_int(request, "limit", lo, hi, default) if paged else hi,
            offset=_int(request, "offset", 0, MAX_OFFSET, 0) if paged else 0,
        )

    @_errors
    async def audit(self, request: web.Request) -> web.Response:
        """The organisation's recording access log, newest first (admins)."""
        principal = await self.principal(request)
        entries, more = await self.playback.audit_entries(
            principal, self._audit_query(request, paged=True)
        )
        return web.json_response({"entries": entries, "has_more": more})

    @_errors
    async def audit_csv(self, request: web.Request) -> web.StreamResponse:
        """The organisation's recording access log as CSV (admins); logged as ``export``."""
        principal = await self.principal(request)
        query = self._audit_query(request, paged=False)
        chunks = await self.playback.audit_csv(principal, query, client_info(request))
        response = web.StreamResponse(headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": content_disposition("recording-audit.csv", inline=False),
            "Cache-Control": "private, no-cache",
            "X-Content-Type-Options": "nosniff",
        })
        await response.prepare(request)
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
        return response
