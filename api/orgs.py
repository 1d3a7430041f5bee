"""HTTP routes for organisations, memberships and role permissions (thin over OrgService).

Global admins create and delete organisations; an organisation's admin
(``orgs.manage`` acting for it) edits it, its members and its role
permissions. Errors: ``bad_request``, ``permission_denied``, ``org_not_found``,
``user_not_found``, ``conflict``.
"""

from __future__ import annotations

from aiohttp import web

from accounts.flow_errors import FlowError
from accounts.orgs import OrgActor, OrgService, PermissionDenied, check_id, org_public
from accounts.service import UserService
from api.auth import AuthRoutes
from api.errors import read_json_object


def _org_id(request: web.Request) -> str:
    return check_id(request.match_info["org_id"], "org_id")


def _user_id(request: web.Request) -> str:
    return check_id(request.match_info["user_id"], "user_id")


def _require_global(actor: OrgActor) -> None:
    if not actor.global_admin:
        raise FlowError("permission_denied", "only a global admin may do that")


def _flag(body: dict[str, object], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise FlowError("bad_request", f"{key!r} must be a boolean")
    return value


class OrgRoutes:
    """``/api/v1/orgs`` and below."""

    def __init__(self, auth: AuthRoutes, orgs: OrgService, users: UserService) -> None:
        self.auth = auth
        self.orgs = orgs
        self.users = users

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        r = app.router
        r.add_get("/api/v1/orgs", self.list_orgs)
        r.add_post("/api/v1/orgs", self.create)
        r.add_get("/api/v1/orgs/{org_id}", self.get)
        r.add_patch("/api/v1/orgs/{org_id}", self.update)
        r.add_delete("/api/v1/orgs/{org_id}", self.delete)
        r.add_get("/api/v1/orgs/{org_id}/members", self.members)
        r.add_post("/api/v1/orgs/{org_id}/members", self.add_member)
        r.add_patch("/api/v1/orgs/{org_id}/members/{user_id}", self.update_member)
        r.add_delete("/api/v1/orgs/{org_id}/members/{user_id}", self.remove_member)
        r.add_get("/api/v1/orgs/{org_id}/permissions", self.permission_table)
        r.add_get("/api/v1/orgs/{org_id}/roles/{role}/permissions", self.role_permissions)
        r.add_put("/api/v1/orgs/{org_id}/roles/{role}/permissions", self.set_permissions)

    async def list_orgs(self, request: web.Request) -> web.Response:
        """Every organisation (global admin) or the caller's own, with the caller's role."""
        actor = await self.auth.org_actor(request)
        mine = {m.org_id: m for m in await self.orgs.memberships(actor.user_id)}
        orgs = await self.orgs.list_orgs(None if actor.global_admin else list(mine))
        out = []
        for org in orgs:
            item: dict[str, object] = dict(org_public(org))
            membership = mine.get(org.id)
            item["role"] = membership.role if membership else None
            out.append(item)
        return web.json_response({"orgs": out, "global_admin": actor.global_admin})

    async def create(self, request: web.Request) -> web.Response:
        """``{name, kind?}`` -> 201 organisation (global admins only)."""
        actor = await self.auth.org_actor(request)
        _require_global(actor)
        body = await read_json_object(request)
        org = await self.orgs.create(body.get("name"), body.get("kind", "hospital"))
        return web.json_response(org_public(org), status=201)

    async def get(self, request: web.Request) -> web.Response:
        """One organisation, for its members and global admins."""
        actor = await self.auth.org_actor(request)
        org = await self.orgs.get(_org_id(request))
        if not actor.global_admin and await self.orgs.membership(org.id, actor.user_id) is None:
            raise FlowError("permission_denied", "the account is not a member of that organisation")
        return web.json_response(org_public(org))

    async def update(self, request: web.Request) -> web.Response:
        """``{name?, kind?}`` -> the organisation."""
        actor = await self.auth.org_actor(request)
        org = await self.orgs.require_in(actor, _org_id(request), "orgs.manage")
        body = await read_json_object(request)
        if not body.keys() & {"name", "kind"}:
            raise FlowError("bad_request", "give 'name' or 'kind'")
        org = await self.orgs.update(org.id, name=body.get("name"), kind=body.get("kind"))
        return web.json_response(org_public(org))

    async def delete(self, request: web.Request) -> web.Response:
        """Delete an organisation (global admins only) -> 204."""
        actor = await self.auth.org_actor(request)
        _require_global(actor)
        await self.orgs.delete(_org_id(request))
        return web.Response(status=204)

    async def members(self, request: web.Request) -> web.Response:
        """``{members: [...]}`` for ``orgs.manage`` or ``accounts.manage``."""
        actor = await self.auth.org_actor(request)
        org_id = _org_id(request)
        try:
            await self.orgs.require_in(actor, org_id, "orgs.manage")
        except PermissionDenied:
            await self.orgs.require_in(actor, org_id, "accounts.manage")
        return web.json_response({"members": await self.orgs.members(org_id)})

    async def add_member(self, request: web.Request) -> web.Response:
        """``{user_id | name, role, duty_desk?}`` -> 201 member.

        An organisation admin adds only accounts that already belong to another
        organisation (new accounts are made with ``POST /api/v1/accounts``).
        """
        actor = await self.auth.org_actor(request)
        org = await self.orgs.require_in(actor, _org_id(request), "orgs.manage")
        body = await read_json_object(request)
        if "user_id" in body:
            user_id = check_id(body["user_id"], "user_id")
        else:
            name = body.get("name")
            user = await self.users.get_by_name(name) if isinstance(name, str) else None
            if user is None:
                raise FlowError("user_not_found", "give 'user_id' or the 'name' of an account")
            user_id = user.id
        if not actor.global_admin and not await self.orgs.memberships(user_id):
            # else the organisation admin could take the account over (reset its password)
            raise FlowError(
                "permission_denied",
                "only a global admin adds an account that belongs to no organisation",
            )
        await self.orgs.add_member(
            org.id, user_id, body.get("role"), duty_desk=bool(_flag(body, "duty_desk"))
        )
        return web.json_response(await self._member(org.id, user_id), status=201)

    async def update_member(self, request: web.Request) -> web.Response:
        """``{role?, duty_desk?}`` -> the member."""
        actor = await self.auth.org_actor(request)
        org = await self.orgs.require_in(actor, _org_id(request), "orgs.manage")
        user_id = _user_id(request)
        body = await read_json_object(request)
        if not body.keys() & {"role", "duty_desk"}:
            raise FlowError("bad_request", "give 'role' or 'duty_desk'")
        await self.orgs.update_member(
            org.id,
            user_id,
            role=body.get("role"),
            duty_desk=_flag(body, "duty_desk"),
            keep_an_admin=not actor.global_admin,
        )
        return web.json_response(await self._member(org.id, user_id))

    async def remove_member(self, request: web.Request) -> web.Response:
        """Remove a member -> 204."""
        actor = await self.auth.org_actor(request)
        org = await self.orgs.require_in(actor, _org_id(request), "orgs.manage")
        await self.orgs.remove_member(
            org.id, _user_id(request), keep_an_admin=not actor.global_admin
        )
        return web.Response(status=204)

    async def permission_table(self, request: web.Request) -> web.Response:
        """``{roles: {role: {role, permissions, overrides}}}`` — the effective table."""
        actor = await self.auth.org_actor(request)
        org = await self.orgs.require_in(actor, _org_id(request), "orgs.manage")
        return web.json_response({"roles": await self.orgs.permission_table(org.id)})

    async def role_permissions(self, request: web.Request) -> web.Response:
        """``{role, permissions: {perm: bool}, overrides: {perm: bool}}``."""
        actor = await self.auth.org_actor(request)
        org = await self.orgs.require_in(actor, _org_id(request), "orgs.manage")
        return web.json_response(
            await self.orgs.role_permissions(org.id, request.match_info["role"])
        )

    async def set_permissions(self, request: web.Request) -> web.Response:
        """``{permission: true | false | null, ...}`` (null: back to the default)."""
        actor = await self.auth.org_actor(request)
        org = await self.orgs.require_in(actor, _org_id(request), "orgs.manage")
        body = await read_json_object(request)
        return web.json_response(
            await self.orgs.set_permissions(org.id, request.match_info["role"], body)
        )

    async def _member(self, org_id: str, user_id: str) -> dict[str, object]:
        for member in await self.orgs.members(org_id):
            if member["user_id"] == user_id:
                return member
        raise FlowError("user_not_found", "the user is not a member")
