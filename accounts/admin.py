"""Account administration scoped to organisations.

A global admin manages every account. Anyone else needs ``accounts.manage``
in the organisation their token acts for, and then manages only accounts
whose every membership is in that organisation (never a global admin, never
someone who also belongs elsewhere: a password reset there would take over
their other organisations). Nobody but a global admin makes a global admin.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from sqlalchemy import func, null, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.flow_errors import FlowError
from accounts.models import User
from accounts.org_models import OrgMember
from accounts.orgs import OrgActor, OrgService, check_id, check_role
from accounts.service import UserService

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_QUERY = 100


def generated_password() -> str:
    """A random password to hand over once (16 URL-safe characters)."""
    return secrets.token_urlsafe(12)


def account_public(
    user: User, role: str | None = None, duty_desk: bool | None = None
) -> dict[str, Any]:
    """An account as the admin pages see it (no password material)."""
    out: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "display_name": user.display_name,
        "role": role if role is not None else user.role,
        "disabled": bool(user.disabled),
        "global_admin": user.role == "admin",
    }
    if duty_desk is not None:
        out["duty_desk"] = duty_desk
    return out


class AccountAdmin:
    """Create, list, disable, rename accounts and reset passwords, within an organisation."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], users: UserService, orgs: OrgService
    ) -> None:
        self.sessions = sessions
        self.users = users
        self.orgs = orgs

    async def scope(self, actor: OrgActor, org_id: object = None) -> str | None:
        """The organisation the request is about (None: every account, global admins only)."""
        if actor.global_admin:
            if org_id is None:
                return None
            return (await self.orgs.get(org_id)).id
        own = actor.principal.org
        if own is None:
            raise FlowError("permission_denied", "this account acts for no organisation")
        target = own if org_id is None else check_id(org_id, "org_id")
        await self.orgs.require_in(actor, target, "accounts.manage")
        return target

    async def list_accounts(
        self,
        actor: OrgActor,
        org_id: object = None,
        query: str | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Accounts of the organisation (or all), filtered by a name search, by name."""
        oid = await self.scope(actor, org_id)
        if query is not None and len(query) > MAX_QUERY:
            raise FlowError("bad_request", f"'q' must be at most {MAX_QUERY} characters")
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise FlowError("bad_request", f"'limit' must be 1-{MAX_LIMIT}, 'offset' >= 0")
        async with self.sessions() as session:
            stmt: Any
            if oid is None:
                stmt = select(User, null().label("role"), null().label("duty_desk"))
            else:
                stmt = select(User, OrgMember.role, OrgMember.duty_desk).join(
                    OrgMember, (OrgMember.user_id == User.id) & (OrgMember.org_id == oid)
                )
            if query:
                needle = query.strip().lower()
                stmt = stmt.where(
                    or_(
                        func.lower(User.name).contains(needle, autoescape=True),
                        func.lower(User.display_name).contains(needle, autoescape=True),
                    )
                )
            rows = await session.execute(stmt.order_by(User.name).limit(limit).offset(offset))
            return [
                account_public(u, role, None if duty is None else bool(duty))
                for u, role, duty in rows
            ]

    async def create(self, actor: OrgActor, body: dict[str, Any]) -> dict[str, Any]:
        """``{name, role, password?, display_name?, org_id?, duty_desk?, global_admin?}``.

        Without a password one is generated and returned (once) as ``password``.
        """
        role = check_role(body.get("role"))
        global_admin = body.get("global_admin", False)
        duty_desk = body.get("duty_desk", False)
        if not isinstance(global_admin, bool) or not isinstance(duty_desk, bool):
            raise FlowError("bad_request", "'global_admin' and 'duty_desk' must be booleans")
        if global_admin and not actor.global_admin:
            raise FlowError("permission_denied", "only a global admin makes a global admin")
        oid = await self.scope(actor, body.get("org_id"))
        if oid is None and role == "admin" and not global_admin:
            raise FlowError("bad_request", "an organisation admin needs 'org_id'")
        password = body.get("password")
        generated = password is None
        if generated:
            password = generated_password()
        display_name = body.get("display_name")
        if display_name is not None and not isinstance(display_name, str):
            raise FlowError("bad_request", "'display_name' must be a string")
        # users.role is the global role: "admin" there means global admin.
        user_role = "admin" if global_admin else (role if role != "admin" else "guest")
        user = await self.users.create(
            body.get("name"),  # type: ignore[arg-type]  # validated by UserService
            user_role,
            password,  # type: ignore[arg-type]
            display_name=display_name,
        )
        if oid is not None:
            await self.orgs.add_member(oid, user.id, role, duty_desk=duty_desk)
        log.info(
            "account_created",
            extra={"user_id": user.id, "org_id": oid, "role": role, "by": actor.user_id},
        )
        out = account_public(user, role if oid else None, duty_desk if oid else None)
        if generated:
            out["password"] = password
        return out

    async def target(self, actor: OrgActor, user_id: object) -> User:
        """The account ``actor`` may manage; ``user_not_found`` / ``permission_denied``."""
        uid = check_id(user_id, "user_id")
        user = await self.users.get(uid)
        if user is None:
            raise FlowError("user_not_found", "no such user")
        if actor.global_admin:
            return user
        own = await self.scope(actor)
        orgs = {m.org_id for m in await self.orgs.memberships(uid)}
        if own not in orgs:
            raise FlowError("user_not_found", "no such user in this organisation")
        if user.role == "admin" or orgs != {own}:
            raise FlowError(
                "permission_denied",
                "only a global admin manages this account (other organisations)",
            )
        return user

    async def get(self, actor: OrgActor, user_id: object) -> dict[str, Any]:
        """One account with its memberships."""
        user = await self.target(actor, user_id)
        out = account_public(user)
        out["memberships"] = [m.public() for m in await self.orgs.memberships(user.id)]
        return out

    async def update(
        self, actor: OrgActor, user_id: object, body: dict[str, Any]
    ) -> dict[str, Any]:
        """``{display_name?, disabled?}``."""
        user = await self.target(actor, user_id)
        if not body.keys() & {"display_name", "disabled"}:
            raise FlowError("bad_request", "give 'display_name' or 'disabled'")
        if "disabled" in body:
            if not isinstance(body["disabled"], bool):
                raise FlowError("bad_request", "'disabled' must be a boolean")
            await self.set_disabled(actor, user.id, body["disabled"])
        if "display_name" in body:
            display = body["display_name"]
            await self.users.set_display_name(user.id, display if isinstance(display, str) else "")
        return await self.get(actor, user.id)

    async def set_disabled(
        self, actor: OrgActor, user_id: object, disabled: bool
    ) -> dict[str, Any]:
        """Disable or re-enable an account (never one's own)."""
        user = await self.target(actor, user_id)
        if disabled and user.id == actor.user_id:
            raise FlowError("bad_request", "an account cannot disable itself")
        await self.users.set_disabled(user.id, disabled)
        log.info(
            "account_disabled" if disabled else "account_enabled",
            extra={"user_id": user.id, "by": actor.user_id},
        )
        return await self.get(actor, user.id)

    async def reset_password(
        self, actor: OrgActor, user_id: object, password: object = None
    ) -> str | None:
        """Set a new password; without one, generate it and return it (the only time it is shown)."""
        user = await self.target(actor, user_id)
        new = generated_password() if password is None else password
        if not isinstance(new, str):
            raise FlowError("bad_request", "'password' must be a string")
        await self.users.set_password(user.id, new)
        log.info("account_password_reset", extra={"user_id": user.id, "by": actor.user_id})
        return new if password is None else None
