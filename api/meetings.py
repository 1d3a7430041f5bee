"""HTTP routes for remote-support meetings (thin over :class:`MeetingService`).

``/api/v1/meetings`` (list = service records, create), ``/api/v1/meetings/{id}``
(get, PATCH reschedules), ``/api/v1/meetings/{id}/cancel|start|end|respond``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from accounts.principal import Principal
from api.auth import AuthRoutes
from api.errors import read_json_object
from rooms.meetings import values as v
from rooms.meetings.models import STATUSES
from rooms.meetings.service import MeetingService
from rooms.meetings.stats import MeetingStats


async def principal_of(auth: AuthRoutes, request: web.Request) -> Principal:
    """The verified caller: the token's user, with its role in the token's organisation."""
    claims, user = await auth.authenticate(request)
    return Principal(
        user_id=user.id,
        name=user.display_name,
        role=claims.role,
        org=claims.org,
        room_grant=claims.room,
    )


def record_filters(query: Any) -> dict[str, Any]:
    """The filters of ``GET /meetings``: category, from, to, org_id, status, scope, held."""
    status = [s for s in (query.get("status") or "").split(",") if s]
    if any(s not in STATUSES for s in status):
        raise v.bad(f"'status' must be a comma-separated list of {', '.join(STATUSES)}")
    scope = query.get("scope") or "mine"
    if scope not in ("mine", "org"):
        raise v.bad("'scope' must be mine or org")
    category = query.get("category") or None
    if category is not None:
        v.category(category)
    return {
        "category": category,
        "start": v.parse_bound(query.get("from"), "from", end=False),
        "end": v.parse_bound(query.get("to"), "to", end=True),
        "org_id": query.get("org_id") or None,
        "status": status or None,
        "scope": scope,
        "held_only": query.get("held") in ("1", "true"),
    }


class MeetingRoutes:
    """Meetings: list (records), schedule, reschedule, cancel, start, end, respond."""

    def __init__(self, auth: AuthRoutes, meetings: MeetingService, stats: MeetingStats) -> None:
        self.auth = auth
        self.meetings = meetings
        self.stats = stats

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        r = app.router
        r.add_get("/api/v1/meetings", self.list)
        r.add_post("/api/v1/meetings", self.create)
        r.add_get("/api/v1/meetings/{mid}", self.get)
        r.add_patch("/api/v1/meetings/{mid}", self.reschedule)
        r.add_post("/api/v1/meetings/{mid}/cancel", self.cancel)
        r.add_post("/api/v1/meetings/{mid}/start", self.start)
        r.add_post("/api/v1/meetings/{mid}/end", self.end)
        r.add_post("/api/v1/meetings/{mid}/respond", self.respond)

    async def list(self, request: web.Request) -> web.Response:
        """Meetings with participants and duration (``scope=org`` / ``org_id``: ``stats.view``)."""
        principal = await principal_of(self.auth, request)
        records = await self.stats.records(principal, **record_filters(request.query))
        return web.json_response({"meetings": records})

    async def create(self, request: web.Request) -> web.Response:
        """``{title, category, start_at?, end_at?, invitees?, reminder_minutes?}`` -> Meeting."""
        principal = await principal_of(self.auth, request)
        body = await read_json_object(request)
        return web.json_response(await self.meetings.create(principal, body), status=201)

    async def get(self, request: web.Request) -> web.Response:
        """One meeting."""
        principal = await principal_of(self.auth, request)
        return web.json_response(await self.meetings.get(principal, request.match_info["mid"]))

    async def reschedule(self, request: web.Request) -> web.Response:
        """``{title?, start_at?, end_at?, invitees?, reminder_minutes?}`` -> Meeting."""
        principal = await principal_of(self.auth, request)
        body = await read_json_object(request)
        meeting = await self.meetings.reschedule(principal, request.match_info["mid"], body)
        return web.json_response(meeting)

    async def cancel(self, request: web.Request) -> web.Response:
        """Call off a scheduled meeting."""
        principal = await principal_of(self.auth, request)
        return web.json_response(await self.meetings.cancel(principal, request.match_info["mid"]))

    async def start(self, request: web.Request) -> web.Response:
        """Open a scheduled meeting now."""
        principal = await principal_of(self.auth, request)
        return web.json_response(await self.meetings.start(principal, request.match_info["mid"]))

    async def end(self, request: web.Request) -> web.Response:
        """End a live meeting for everyone."""
        principal = await principal_of(self.auth, request)
        return web.json_response(await self.meetings.end(principal, request.match_info["mid"]))

    async def respond(self, request: web.Request) -> web.Response:
        """An invitee's ``{response: accepted|declined}``."""
        principal = await principal_of(self.auth, request)
        body = await read_json_object(request)
        meeting = await self.meetings.respond(
            principal, request.match_info["mid"], body.get("response")
        )
        return web.json_response(meeting)
