"""HTTP routes for elders' care contacts: ``GET/PUT /api/v1/elders/{elder_id}/contacts``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from accounts.care import CareContacts
from api.auth import AuthRoutes
from api.errors import ApiError, parse_json


async def _read_json(request: web.Request) -> Any:
    """The body as JSON (any value); ApiError ``bad_request`` / ``payload_too_large``."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "payload_too_large", "the body is too large") from None
    return parse_json(raw)


class CareContactRoutes:
    """Read (``care.manage`` in the elder's organisation, or the elder) and replace the list."""

    def __init__(self, auth: AuthRoutes, care: CareContacts) -> None:
        self.auth = auth
        self.care = care

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        app.router.add_get("/api/v1/elders/{elder_id}/contacts", self.get)
        app.router.add_put("/api/v1/elders/{elder_id}/contacts", self.put)

    async def get(self, request: web.Request) -> web.Response:
        """``{elder_id, contacts: [{contact_id, name, display_name, relation, tier, disabled}]}``."""
        actor = await self.auth.org_actor(request)
        elder_id = request.match_info["elder_id"]
        contacts = await self.care.listing(actor, elder_id)
        return web.json_response({"elder_id": elder_id, "contacts": contacts})

    async def put(self, request: web.Request) -> web.Response:
        """Body ``[{contact_id, relation, tier}]`` (or ``{contacts: [...]}``) -> the new list."""
        actor = await self.auth.org_actor(request)
        body = await _read_json(request)
        if isinstance(body, dict):
            body = body.get("contacts")
        elder_id = request.match_info["elder_id"]
        contacts = await self.care.replace(actor, elder_id, body)
        return web.json_response({"elder_id": elder_id, "contacts": contacts})
