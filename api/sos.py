"""HTTP routes of the one-tap SOS (thin over :class:`rooms.sos.SosService`).

``POST /api/v1/sos`` takes an elder's bearer token or an integration's
``X-Api-Key``; the log, answering and ending take bearer tokens; API keys and
webhooks are managed by organisation admins (``orgs.manage``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from accounts.flow_errors import FlowError
from accounts.orgs import check_id
from accounts.tokens import TokenService
from api.auth import AuthRoutes
from api.errors import read_json_object
from rooms import Identity
from rooms.sos import SosAlreadyAnswered, SosService
from rooms.sos import validation as v
from rooms.sos.log import event_wire

API_KEY_HEADER = "X-Api-Key"


def _sos_id(request: web.Request) -> str:
    sos_id = request.match_info["sos_id"]
    if not v.ID_RE.fullmatch(sos_id):
        raise FlowError("sos_not_found", "there is no such SOS")
    return sos_id


def _org_id(request: web.Request) -> str:
    return check_id(request.match_info["org_id"], "org_id")


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "200")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not 1 <= int(raw) <= 1000:
        raise FlowError("bad_request", "'limit' must be a whole number from 1 to 1000")
    return int(raw)


class SosRoutes:
    """``/api/v1/sos...``, ``/api/v1/orgs/{org_id}/api-keys`` and ``/webhooks``."""

    def __init__(
        self, auth: AuthRoutes, sos: SosService, tokens: TokenService, kiosk_ttl_days: int = 365
    ) -> None:
        self.auth = auth
        self.sos = sos
        self.tokens = tokens
        self.kiosk_ttl_days = kiosk_ttl_days

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        r = app.router
        r.add_post("/api/v1/sos", self.raise_sos)
        r.add_get("/api/v1/sos", self.search)
        r.add_get("/api/v1/sos/active", self.active)
        r.add_post("/api/v1/sos/kiosk-tokens", self.kiosk_token)
        r.add_get("/api/v1/sos/{sos_id}", self.detail)
        r.add_get("/api/v1/sos/{sos_id}/events", self.events)
        r.add_post("/api/v1/sos/{sos_id}/accept", self.accept)
        r.add_post("/api/v1/sos/{sos_id}/decline", self.decline)
        r.add_post("/api/v1/sos/{sos_id}/cancel", self.cancel)
        r.add_post("/api/v1/sos/{sos_id}/end", self.end)
        r.add_post("/api/v1/orgs/{org_id}/api-keys", self.create_key)
        r.add_get("/api/v1/orgs/{org_id}/api-keys", self.list_keys)
        r.add_delete("/api/v1/orgs/{org_id}/api-keys/{key_id}", self.revoke_key)
        r.add_post("/api/v1/orgs/{org_id}/webhooks", self.create_webhook)
        r.add_get("/api/v1/orgs/{org_id}/webhooks", self.list_webhooks)
        r.add_delete("/api/v1/orgs/{org_id}/webhooks/{webhook_id}", self.delete_webhook)
        r.add_get("/api/v1/orgs/{org_id}/webhooks/{webhook_id}/deliveries", self.deliveries)

    async def identity(self, request: web.Request) -> Identity:
        """The verified caller as the rooms see it."""
        claims, user = await self.auth.authenticate(request)
        return Identity(user.id, user.display_name, claims.role, claims.room, claims.org)

    # -- SOS ------------------------------------------------------------------------------

    async def raise_sos(self, request: web.Request) -> web.Response:
        """An elder (bearer) or a device (X-Api-Key) raises an SOS -> 201 {sos}.

        Without ``Authorization`` the request is a device's: no valid key is
        ``api_key_invalid`` (401).
        """
        if API_KEY_HEADER in request.headers or "Authorization" not in request.headers:
            key = request.headers.get(API_KEY_HEADER)
            await self.sos.keys.verify(key)  # 401 before looking at the body
            elder_id, req = v.device_request(await read_json_object(request))
            sos = await self.sos.raise_for_device(key, elder_id, req)
        else:
            identity = await self.identity(request)
            req = v.raise_request(await read_json_object(request))
            sos = await self.sos.raise_for_user(identity, req)
        return web.json_response({"sos": sos}, status=201)

    async def search(self, request: web.Request) -> web.Response:
        """``?org_id&from&to&limit&include=events`` -> {sos: [...]} (``sos.log``), or the caller's own."""
        q = request.query
        since = v.timestamp(q.get("from"), "from")
        until = v.timestamp(q.get("to"), "to")
        limit = _limit(request)
        if q.get("org_id"):
            actor = await self.auth.org_actor(request)
            org = await self.sos.orgs.require_in(actor, check_id(q["org_id"], "org_id"), "sos.log")
            alerts = await self.sos.log.search(org_id=org.id, since=since, until=until, limit=limit)
        else:
            identity = await self.identity(request)
            alerts = await self.sos.log.search(
                user_id=identity.user_id, since=since, until=until, limit=limit
            )
        out = []
        for alert in alerts:
            item = await self.sos.wire(alert)
            if q.get("include") == "events":
                events = await self.sos.log.events(alert.id)
                names = await self.sos.names({e.user_id or "" for e in events})
                item["events"] = [event_wire(e, names) for e in events]
            out.append(item)
        return web.json_response({"sos": out})

    async def active(self, request: web.Request) -> web.Response:
        """Live SOS alerts the caller raised or is rung by."""
        return web.json_response({"sos": await self.sos.mine(await self.identity(request))})

    async def detail(self, request: web.Request) -> web.Response:
        """``{sos, events, recipients}``."""
        actor = await self.auth.org_actor(request)
        return web.json_response(await self.sos.detail(actor, _sos_id(request)))

    async def events(self, request: web.Request) -> web.Response:
        """``{events}`` of one SOS."""
        actor = await self.auth.org_actor(request)
        detail = await self.sos.detail(actor, _sos_id(request))
        return web.json_response({"events": detail["events"]})

    async def accept(self, request: web.Request) -> web.Response:
        """-> {room_id, sos}; 409 ``sos_already_answered`` with ``answered_by``."""
        identity = await self.identity(request)
        try:
            return web.json_response(await self.sos.accept(None, identity, _sos_id(request)))
        except SosAlreadyAnswered as exc:
            return web.json_response(exc.to_dict(), status=409)

    async def decline(self, request: web.Request) -> web.Response:
        """-> {ok, status}."""
        identity = await self.identity(request)
        return web.json_response(await self.sos.decline(None, identity, _sos_id(request)))

    async def cancel(self, request: web.Request) -> web.Response:
        """The elder (bearer) or the organisation's integration (X-Api-Key) -> {sos}."""
        sos_id = _sos_id(request)
        if API_KEY_HEADER in request.headers:
            key = await self.sos.keys.verify(request.headers[API_KEY_HEADER])
            return web.json_response({"sos": await self.sos.cancel(None, sos_id, key.org_id)})
        identity = await self.identity(request)
        return web.json_response({"sos": await self.sos.cancel(identity, sos_id)})

    async def end(self, request: web.Request) -> web.Response:
        """-> {sos}."""
        identity = await self.identity(request)
        sos = await self.sos.end(identity, _sos_id(request), reason="ended_by_user")
        return web.json_response({"sos": sos})

    async def kiosk_token(self, request: web.Request) -> web.Response:
        """``{elder_id}`` -> {token, url}: a long-lived token for the elder's kiosk (care.manage)."""
        actor = await self.auth.org_actor(request)
        body = await read_json_object(request)
        elder_id = v.ident(body, "elder_id")
        org_id = actor.principal.org
        if actor.global_admin and org_id is None:
            org_id = await self.sos.directory.home_org(elder_id, None)
        member = await self.sos.orgs.membership(org_id, elder_id) if org_id else None
        if member is None:
            raise FlowError("user_not_found", "no such elder in this organisation")
        if member.role != "elder":
            raise FlowError("bad_request", "kiosk tokens are for elders")
        await self.sos.orgs.require_in(actor, org_id, "care.manage")  # type: ignore[arg-type]
        name = (await self.sos.names({elder_id})).get(elder_id, "")
        token = self.tokens.issue(
            user_id=elder_id, name=name, role="elder", org=org_id,
            ttl_seconds=self.kiosk_ttl_days * 86400,
        )
        return web.json_response({"token": token, "url": f"/kiosk?token={token}"}, status=201)

    # -- API keys and webhooks -------------------------------------------------------------------

    async def _admin(self, request: web.Request) -> tuple[str, str]:
        actor = await self.auth.org_actor(request)
        org = await self.sos.orgs.require_in(actor, _org_id(request), "orgs.manage")
        return org.id, actor.user_id

    async def create_key(self, request: web.Request) -> web.Response:
        """``{name?}`` -> 201 {id, name, prefix, key, ...}; the key is shown this once."""
        org_id, user_id = await self._admin(request)
        body: dict[str, Any] = await read_json_object(request) if request.can_read_body else {}
        return web.json_response(
            await self.sos.keys.create(org_id, v.key_name(body), user_id), status=201
        )

    async def list_keys(self, request: web.Request) -> web.Response:
        """{api_keys: [...]} without the keys."""
        org_id, _ = await self._admin(request)
        return web.json_response({"api_keys": await self.sos.keys.of_org(org_id)})

    async def revoke_key(self, request: web.Request) -> web.Response:
        """Revoke -> 204."""
        org_id, _ = await self._admin(request)
        await self.sos.keys.revoke(org_id, request.match_info["key_id"])
        return web.Response(status=204)

    async def create_webhook(self, request: web.Request) -> web.Response:
        """``{url, events[], secret}`` -> 201 webhook (without the secret)."""
        org_id, user_id = await self._admin(request)
        url, events, secret = v.webhook_request(await read_json_object(request))
        hook = await self.sos.webhooks.create(org_id, url, events, secret, user_id)
        return web.json_response(hook, status=201)

    async def list_webhooks(self, request: web.Request) -> web.Response:
        """{webhooks: [...]}."""
        org_id, _ = await self._admin(request)
        return web.json_response({"webhooks": await self.sos.webhooks.of_org(org_id)})

    async def delete_webhook(self, request: web.Request) -> web.Response:
        """Delete -> 204."""
        org_id, _ = await self._admin(request)
        await self.sos.webhooks.delete(org_id, request.match_info["webhook_id"])
        return web.Response(status=204)

    async def deliveries(self, request: web.Request) -> web.Response:
        """{deliveries: [...]}: the delivery log of one webhook, newest first."""
        org_id, _ = await self._admin(request)
        rows = await self.sos.webhooks.deliveries(org_id, request.match_info["webhook_id"])
        return web.json_response({"deliveries": rows})
