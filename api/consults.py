"""HTTP routes for consults (thin over :class:`rooms.consults.ConsultService`).

``GET/POST /api/v1/consults``, ``GET /api/v1/consults/{id}`` and
``POST /api/v1/consults/{id}/start|mode|cards|end|cancel``; docs/CARE.md has the details.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.orgs import OrgService
from accounts.principal import Principal
from api.auth import AuthRoutes
from api.errors import read_json_object
from im import ImService
from rooms import RoomService
from rooms.consults import ConsultService
from rooms.consults import values as v
from rooms.consults.store import Notify

CONSULTS = web.AppKey("carertc.consults", ConsultService)
MAX_CARD_TEXT = 2000


class ConsultRoutes:
    """The consult routes; every one needs a Bearer token."""

    def __init__(self, auth: AuthRoutes, consults: ConsultService) -> None:
        self.auth = auth
        self.consults = consults

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        r = app.router
        r.add_get("/api/v1/consults", self.list_consults)
        r.add_post("/api/v1/consults", self.create)
        r.add_get("/api/v1/consults/{cid}", self.get)
        r.add_post("/api/v1/consults/{cid}/start", self.start)
        r.add_post("/api/v1/consults/{cid}/mode", self.mode)
        r.add_post("/api/v1/consults/{cid}/cards", self.cards)
        r.add_post("/api/v1/consults/{cid}/end", self.end)
        r.add_post("/api/v1/consults/{cid}/cancel", self.cancel)

    async def principal(self, request: web.Request) -> Principal:
        """The verified caller (role and organisation from the token)."""
        claims, user = await self.auth.authenticate(request)
        return Principal(user.id, user.display_name, claims.role, claims.org, claims.room)

    async def list_consults(self, request: web.Request) -> web.Response:
        """``?status=&from=&to=&limit=&order=`` -> ``{consults: [...]}``."""
        principal = await self.principal(request)
        query = v.list_query(dict(request.query))
        return web.json_response({"consults": await self.consults.list_consults(principal, query)})

    async def create(self, request: web.Request) -> web.Response:
        """``{patient | clinician, kind?, scheduled_at?, title?}`` -> 201 Consult."""
        principal = await self.principal(request)
        body = await read_json_object(request)
        req = v.new_consult(body, v.utcnow())
        return web.json_response(await self.consults.create(principal, req), status=201)

    async def get(self, request: web.Request) -> web.Response:
        """One consult (its participants only)."""
        principal = await self.principal(request)
        return web.json_response(await self.consults.get(principal, _cid(request)))

    async def start(self, request: web.Request) -> web.Response:
        """``{mode?}`` -> Consult (active)."""
        principal = await self.principal(request)
        body = await _optional_body(request)
        mode = v.optional_mode(body)
        return web.json_response(await self.consults.start(principal, _cid(request), mode))

    async def mode(self, request: web.Request) -> web.Response:
        """``{mode: text|voice|video}`` -> Consult."""
        principal = await self.principal(request)
        body = await read_json_object(request)
        mode = v.mode(body)
        return web.json_response(await self.consults.set_mode(principal, _cid(request), mode))

    async def cards(self, request: web.Request) -> web.Response:
        """``{card_type, title, description?, url?, body?, client_msg_id?}`` -> 201 message ack."""
        principal = await self.principal(request)
        body = await read_json_object(request)
        text = body.get("body", "")
        if not isinstance(text, str) or len(text) > MAX_CARD_TEXT:
            raise v.bad(f"'body' must be a string of at most {MAX_CARD_TEXT} characters")
        client_msg_id = body.get("client_msg_id")
        if client_msg_id is not None and (
            not isinstance(client_msg_id, str) or not 0 < len(client_msg_id) <= 64
        ):
            raise v.bad("'client_msg_id' must be an id of at most 64 characters")
        payload: dict[str, Any] = {
            k: body[k] for k in ("card_type", "title", "description", "url") if k in body
        }
        ack = await self.consults.push_card(
            principal, _cid(request), payload, body=text, client_msg_id=client_msg_id
        )
        return web.json_response(ack, status=200 if ack.get("duplicate") else 201)

    async def end(self, request: web.Request) -> web.Response:
        """``{summary?}`` -> Consult (ended, with its duration)."""
        principal = await self.principal(request)
        body = await _optional_body(request)
        summary = v.summary(body)
        return web.json_response(await self.consults.end(principal, _cid(request), summary))

    async def cancel(self, request: web.Request) -> web.Response:
        """Cancel a scheduled consult -> Consult."""
        principal = await self.principal(request)
        return web.json_response(await self.consults.cancel(principal, _cid(request)))


def _cid(request: web.Request) -> str:
    return request.match_info["cid"]


async def _optional_body(request: web.Request) -> dict[str, Any]:
    """The JSON object body, or ``{}`` when there is none."""
    if not request.can_read_body:
        return {}
    return await read_json_object(request)


def setup_consults(
    app: web.Application,
    auth: AuthRoutes,
    *,
    sessions: async_sessionmaker[AsyncSession],
    im: ImService,
    rooms: RoomService,
    notify: Notify,
    orgs: OrgService | None = None,
) -> ConsultService:
    """Wire consults: the service (``app[CONSULTS]``), the ``consult-`` room rule, the routes."""
    service = ConsultService(sessions, im, orgs or OrgService(sessions), notify=notify)
    service.register(rooms)
    app[CONSULTS] = service
    ConsultRoutes(auth, service).register(app)
    return service
