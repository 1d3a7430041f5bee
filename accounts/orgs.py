"""Organisations, memberships and per-organisation role permissions.

The permission check (:meth:`OrgService.allowed` / :meth:`OrgService.require`)
is the contract the care flows code against: a role ``admin`` has every
permission; any other role has the default table
(:data:`accounts.permissions.DEFAULT_PERMISSIONS`) with the overrides of the
principal's organisation on top. Overrides are cached in memory per
organisation, shared by every OrgService on the same session factory: dropped
on every change made through any of them, and re-read after
:data:`OVERRIDE_CACHE_SECONDS` so changes made on another node show up.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Mapping

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.flow_errors import FlowError
from accounts.models import User
from accounts.org_models import Organisation, OrgMember, OrgRolePermission
from accounts.org_values import (
    Membership,
    OrgActor,
    check_id,
    check_kind,
    check_name,
    check_role,
    member_public,
    org_public,
)
from accounts.permissions import DEFAULT_PERMISSIONS, PERMISSIONS, default_allows
from accounts.principal import Principal
from accounts.roles import ROLES

log = logging.getLogger(__name__)

OVERRIDE_CACHE_SECONDS = 30.0


class PermissionDenied(Exception):
    """``permission_denied``: the principal's role lacks a permission."""

    code = "permission_denied"

    def __init__(self, permission: str) -> None:
        self.permission = permission
        self.message = f"this account may not {permission}"
        super().__init__(f"permission_denied: {self.message}")

    def to_dict(self) -> dict[str, dict[str, str]]:
        """The wire form ``{"error": {"code", "message"}}``."""
        return {"error": {"code": self.code, "message": self.message}}


class _OverrideCache:
    """Overrides per organisation: ``entries[org] = (read at, {(role, perm): allowed})``."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[float, dict[tuple[str, str], bool]]] = {}
        self.generation: dict[str, int] = {}


_SHARED: weakref.WeakKeyDictionary[async_sessionmaker[AsyncSession], _OverrideCache] = (
    weakref.WeakKeyDictionary()
)


class OrgService:
    """Organisations and what each role may do in each of them."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        cache_seconds: float = OVERRIDE_CACHE_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.cache_seconds = cache_seconds
        # Shared by every OrgService on the same database in this process, so a change
        # made through one is seen at once by all of them.
        self._shared = _SHARED.setdefault(sessions, _OverrideCache())

    # ------------------------------------------------------------ permissions

    async def allowed(self, principal: Principal, permission: str) -> bool:
        """Whether ``principal`` (its role in its org) has ``permission``."""
        if permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")
        if principal.role == "admin":
            return True
        base = default_allows(principal.role, permission)
        if principal.org is None:
            return base
        overrides = await self._overrides(principal.org)
        return overrides.get((principal.role, permission), base)

    async def require(self, principal: Principal, permission: str) -> None:
        """Raise :class:`PermissionDenied` unless :meth:`allowed`."""
        if not await self.allowed(principal, permission):
            raise PermissionDenied(permission)

    async def _overrides(self, org_id: str) -> dict[tuple[str, str], bool]:
        shared = self._shared
        now = time.monotonic()
        cached = shared.entries.get(org_id)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        generation = shared.generation.get(org_id, 0)
        async with self.sessions() as session:
            rows = await session.execute(
                select(
                    OrgRolePermission.role, OrgRolePermission.permission, OrgRolePermission.allowed
                ).where(OrgRolePermission.org_id == org_id)
            )
            table = {(role, perm): bool(ok) for role, perm, ok in rows}
        if shared.generation.get(org_id, 0) == generation:  # no change raced with the read
            if len(shared.entries) > 10_000:
                shared.entries.clear()
            shared.entries[org_id] = (now, table)
        return table

    def invalidate(self, org_id: str) -> None:
        """Forget the cached overrides of ``org_id``."""
        shared = self._shared
        shared.entries.pop(org_id, None)
        shared.generation[org_id] = shared.generation.get(org_id, 0) + 1

    async def role_permissions(self, org_id: str, role: str) -> dict[str, object]:
        """``{role, permissions: {perm: bool}, overrides: {perm: bool}}`` for ``role`` in ``org_id``."""
        await self.get(org_id)
        check_role(role)
        overrides = await self._overrides(org_id)
        effective = {}
        for perm in PERMISSIONS:
            principal = Principal(user_id="-", name="-", role=role, org=org_id)
            effective[perm] = await self.allowed(principal, perm)
        own = {p: ok for (r, p), ok in overrides.items() if r == role}
        return {"role": role, "permissions": effective, "overrides": own}

    async def permission_table(self, org_id: str) -> dict[str, dict[str, object]]:
        """Every role's :meth:`role_permissions` in ``org_id``."""
        return {role: await self.role_permissions(org_id, role) for role in ROLES}

    async def set_permissions(
        self, org_id: str, role: str, changes: Mapping[str, bool | None]
    ) -> dict[str, object]:
        """Grant (True), revoke (False) or reset to the default (None) permissions of ``role``."""
        await self.get(org_id)
        check_role(role)
        if role == "admin":
            raise FlowError("bad_request", "the admin role always has every permission")
        if not changes:
            raise FlowError("bad_request", "give at least one permission")
        for perm, value in changes.items():
            if perm not in PERMISSIONS:
                raise FlowError("bad_request", f"unknown permission {perm!r}")
            if value is not None and not isinstance(value, bool):
                raise FlowError("bad_request", f"{perm!r} must be true, false or null")
        async with self.sessions() as session:
            for perm, value in changes.items():
                await session.execute(
                    delete(OrgRolePermission).where(
                        OrgRolePermission.org_id == org_id,
                        OrgRolePermission.role == role,
                        OrgRolePermission.permission == perm,
                    )
                )
                if value is not None and value != (perm in DEFAULT_PERMISSIONS[role]):
                    session.add(
                        OrgRolePermission(org_id=org_id, role=role, permission=perm, allowed=value)
                    )
            await session.commit()
        self.invalidate(org_id)
        log.info(
            "org_permissions_changed",
            extra={"org_id": org_id, "role": role, "changes": dict(changes)},
        )
        return await self.role_permissions(org_id, role)

    # ---------------------------------------------------------- organisations

    async def create(self, name: object, kind: object = "hospital") -> Organisation:
        """A new organisation; FlowError ``bad_request`` / ``conflict`` (name taken)."""
        org = Organisation(name=check_name(name), kind=check_kind(kind))
        async with self.sessions() as session:
            session.add(org)
            try:
                await session.commit()
            except IntegrityError:
                raise FlowError("conflict", "an organisation with that name exists") from None
        log.info("org_created", extra={"org_id": org.id, "kind": org.kind})
        return org

    async def get(self, org_id: object) -> Organisation:
        """The organisation; FlowError ``org_not_found``."""
        oid = check_id(org_id, "org_id")
        async with self.sessions() as session:
            org = await session.get(Organisation, oid)
        if org is None:
            raise FlowError("org_not_found", "no such organisation")
        return org

    async def find(self, ref: str) -> Organisation:
        """The organisation with this id or name; FlowError ``org_not_found``."""
        async with self.sessions() as session:
            org = await session.get(Organisation, ref) if len(ref) <= 36 else None
            if org is None:
                org = (
                    await session.execute(select(Organisation).where(Organisation.name == ref))
                ).scalar_one_or_none()
        if org is None:
            raise FlowError("org_not_found", f"no organisation {ref!r}")
        return org

    async def list_orgs(self, ids: list[str] | None = None) -> list[Organisation]:
        """All organisations (or those in ``ids``), by name."""
        query = select(Organisation).order_by(Organisation.name)
        if ids is not None:
            query = query.where(Organisation.id.in_(ids))
        async with self.sessions() as session:
            return list((await session.execute(query)).scalars())

    async def update(
        self, org_id: str, *, name: object = None, kind: object = None
    ) -> Organisation:
        """Rename or re-kind an organisation; FlowError ``org_not_found`` / ``conflict``."""
        new_name = None if name is None else check_name(name)
        new_kind = None if kind is None else check_kind(kind)
        async with self.sessions() as session:
            org = await session.get(Organisation, check_id(org_id, "org_id"))
            if org is None:
                raise FlowError("org_not_found", "no such organisation")
            if new_name is not None:
                org.name = new_name
            if new_kind is not None:
                org.kind = new_kind
            try:
                await session.commit()
            except IntegrityError:
                raise FlowError("conflict", "an organisation with that name exists") from None
        log.info("org_updated", extra={"org_id": org.id})
        return org

    async def delete(self, org_id: str) -> None:
        """Delete an organisation with its memberships and overrides; ``conflict`` if still used."""
        org = await self.get(org_id)
        async with self.sessions() as session:
            await session.execute(delete(OrgMember).where(OrgMember.org_id == org.id))
            await session.execute(
                delete(OrgRolePermission).where(OrgRolePermission.org_id == org.id)
            )
            await session.execute(delete(Organisation).where(Organisation.id == org.id))
            try:
                await session.commit()
            except IntegrityError:
                raise FlowError("conflict", "the organisation still has records") from None
        self.invalidate(org.id)
        log.info("org_deleted", extra={"org_id": org.id})

    # ------------------------------------------------------------ memberships

    async def memberships(self, user_id: str) -> list[Membership]:
        """The user's organisations, oldest membership first."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(OrgMember, Organisation)
                .join(Organisation, Organisation.id == OrgMember.org_id)
                .where(OrgMember.user_id == user_id)
                .order_by(OrgMember.joined_at, OrgMember.org_id)
            )
            return [
                Membership(org.id, org.name, org.kind, m.role, bool(m.duty_desk)) for m, org in rows
            ]

    async def membership(self, org_id: str, user_id: str) -> OrgMember | None:
        """The user's membership of ``org_id``, or None."""
        async with self.sessions() as session:
            return await session.get(OrgMember, (org_id, user_id))

    async def members(self, org_id: str) -> list[dict[str, object]]:
        """The members of ``org_id`` with their accounts, by name."""
        await self.get(org_id)
        async with self.sessions() as session:
            rows = await session.execute(
                select(OrgMember, User)
                .join(User, User.id == OrgMember.user_id)
                .where(OrgMember.org_id == org_id)
                .order_by(User.name)
            )
            return [member_public(m, u) for m, u in rows]

    async def add_member(
        self, org_id: str, user_id: str, role: object, *, duty_desk: bool = False
    ) -> OrgMember:
        """Add a user to an organisation; ``user_not_found`` / ``org_not_found`` / ``conflict``."""
        await self.get(org_id)
        member = OrgMember(
            org_id=org_id, user_id=user_id, role=check_role(role), duty_desk=bool(duty_desk)
        )
        async with self.sessions() as session:
            if await session.get(User, user_id) is None:
                raise FlowError("user_not_found", "no such user")
            session.add(member)
            try:
                await session.commit()
            except IntegrityError:
                raise FlowError("conflict", "the user is already a member") from None
        log.info(
            "org_member_added",
            extra={"org_id": org_id, "user_id": user_id, "role": member.role},
        )
        return member

    async def update_member(
        self,
        org_id: str,
        user_id: str,
        *,
        role: object = None,
        duty_desk: bool | None = None,
        keep_an_admin: bool = False,
    ) -> OrgMember:
        """Change a member's role or duty-desk flag; ``keep_an_admin`` refuses demoting the last admin."""
        new_role = None if role is None else check_role(role)
        async with self.sessions() as session:
            member = await session.get(OrgMember, (org_id, user_id))
            if member is None:
                raise FlowError("user_not_found", "the user is not a member")
            if keep_an_admin and new_role not in (None, "admin") and member.role == "admin":
                await _refuse_last_admin(session, org_id)
            if new_role is not None:
                member.role = new_role
            if duty_desk is not None:
                member.duty_desk = bool(duty_desk)
            await session.commit()
        log.info(
            "org_member_changed",
            extra={"org_id": org_id, "user_id": user_id, "role": member.role},
        )
        return member

    async def remove_member(
        self, org_id: str, user_id: str, *, keep_an_admin: bool = False
    ) -> None:
        """Remove a user from an organisation; ``keep_an_admin`` refuses removing the last admin."""
        async with self.sessions() as session:
            member = await session.get(OrgMember, (org_id, user_id))
            if member is None:
                raise FlowError("user_not_found", "the user is not a member")
            if keep_an_admin and member.role == "admin":
                await _refuse_last_admin(session, org_id)
            await session.delete(member)
            await session.commit()
        log.info("org_member_removed", extra={"org_id": org_id, "user_id": user_id})

    # ------------------------------------------------------------------ scope

    async def actor(self, user: User, org: str | None, room: str | None = None) -> OrgActor:
        """The caller ``user`` acting for ``org`` (a token's claim), with its current role there.

        A global admin (``users.role == "admin"``) is admin everywhere; anyone
        else acts for ``org`` only while still a member (role read now, not
        from the token); otherwise the principal has no organisation.
        """
        if user.role == "admin":
            return OrgActor(Principal(user.id, user.display_name, "admin", org, room), True)
        member = await self.membership(org, user.id) if org else None
        if member is None:
            return OrgActor(Principal(user.id, user.display_name, user.role, None, room), False)
        return OrgActor(Principal(user.id, user.display_name, member.role, org, room), False)

    async def require_in(self, actor: OrgActor, org_id: str, permission: str) -> Organisation:
        """The organisation, if ``actor`` is a global admin or has ``permission`` acting for it."""
        org = await self.get(org_id)
        if actor.global_admin:
            return org
        if actor.principal.org != org.id:
            raise FlowError("permission_denied", "this account does not act for that organisation")
        await self.require(actor.principal, permission)
        return org


async def _refuse_last_admin(session: AsyncSession, org_id: str) -> None:
    admins = await session.scalar(
        select(func.count())
        .select_from(OrgMember)
        .where(OrgMember.org_id == org_id, OrgMember.role == "admin")
    )
    if (admins or 0) <= 1:
        raise FlowError("conflict", "the organisation would be left without an admin")


__all__ = [
    "Membership",
    "OrgActor",
    "OrgService",
    "PermissionDenied",
    "check_id",
    "check_role",
    "member_public",
    "org_public",
]
