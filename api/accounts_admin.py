"""HTTP routes for account administration (thin over :class:`accounts.admin.AccountAdmin`).

``accounts.manage`` in the organisation the token acts for, or a global admin.
A generated password is answered once, to the admin who asked, with
``Cache-Control: no-store``; it is never logged.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from accounts.admin import DEFAULT_LIMIT, AccountAdmin
from accounts.flow_errors import FlowError
from api.auth import AuthRoutes
from api.errors import read_json_object

NO_STORE = {"Cache-Control": "no-store"}


def _int(request: web.Request, key: str, default: int) -> int:
    raw = request.query.get(key)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        raise FlowError("bad_request", f"{key!r} must be a non-negative integer")
    return int(raw)


class AccountAdminRoutes:
    """``/api/v1/accounts`` and below."""

    def __init__(self, auth: AuthRoutes, admin: AccountAdmin) -> None:
        self.auth = auth
        self.admin = admin

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        r = app.router
        r.add_get("/api/v1/accounts", self.list_accounts)
        r.add_post("/api/v1/accounts", self.create)
        r.add_get("/api/v1/accounts/{user_id}", self.get)
        r.add_patch("/api/v1/accounts/{user_id}", self.update)
        r.add_post("/api/v1/accounts/{user_id}/disable", self.disable)
        r.add_post("/api/v1/accounts/{user_id}/enable", self.enable)
        r.add_post("/api/v1/accounts/{user_id}/password", self.reset_password)

    async def list_accounts(self, request: web.Request) -> web.Response:
        """``?org_id=&q=&limit=&offset=`` -> ``{accounts: [...]}``."""
        actor = await self.auth.org_actor(request)
        accounts = await self.admin.list_accounts(
            actor,
            request.query.get("org_id") or None,
            request.query.get("q") or None,
            limit=_int(request, "limit", DEFAULT_LIMIT),
            offset=_int(request, "offset", 0),
        )
        return web.json_response({"accounts": accounts})

    async def create(self, request: web.Request) -> web.Response:
        """``{name, role, password?, display_name?, org_id?, duty_desk?, global_admin?}`` -> 201."""
        actor = await self.auth.org_actor(request)
        body = await read_json_object(request)
        account = await self.admin.create(actor, body)
        return web.json_response(account, status=201, headers=NO_STORE)

    async def get(self, request: web.Request) -> web.Response:
        """One account with its memberships."""
        actor = await self.auth.org_actor(request)
        return web.json_response(await self.admin.get(actor, request.match_info["user_id"]))

    async def update(self, request: web.Request) -> web.Response:
        """``{display_name?, disabled?}`` -> the account."""
        actor = await self.auth.org_actor(request)
        body = await read_json_object(request)
        return web.json_response(
            await self.admin.update(actor, request.match_info["user_id"], body)
        )

    async def disable(self, request: web.Request) -> web.Response:
        """Disable the account -> the account."""
        actor = await self.auth.org_actor(request)
        uid = request.match_info["user_id"]
        return web.json_response(await self.admin.set_disabled(actor, uid, True))

    async def enable(self, request: web.Request) -> web.Response:
        """Re-enable the account -> the account."""
        actor = await self.auth.org_actor(request)
        uid = request.match_info["user_id"]
        return web.json_response(await self.admin.set_disabled(actor, uid, False))

    async def reset_password(self, request: web.Request) -> web.Response:
        """``{password?}`` -> ``{reset: true}`` plus ``password`` when it was generated."""
        actor = await self.auth.org_actor(request)
        body: dict[str, Any] = {}
        if request.can_read_body:
            body = await read_json_object(request)
        generated = await self.admin.reset_password(
            actor, request.match_info["user_id"], body.get("password")
        )
        out: dict[str, Any] = {"reset": True}
        if generated is not None:
            out["password"] = generated
        return web.json_response(out, headers=NO_STORE)
