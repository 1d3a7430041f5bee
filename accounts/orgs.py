"""Organisations, memberships and per-organisation role permissions.

This module grows with the organisation admin API; the permission check
below is the contract the care flows code against.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.permissions import default_allows
from accounts.principal import Principal


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


class OrgService:
    """Organisations and what each role may do in each of them."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def allowed(self, principal: Principal, permission: str) -> bool:
        """Whether ``principal`` (its role in its org) has ``permission``."""
        return default_allows(principal.role, permission)

    async def require(self, principal: Principal, permission: str) -> None:
        """Raise :class:`PermissionDenied` unless :meth:`allowed`."""
        if not await self.allowed(principal, permission):
            raise PermissionDenied(permission)
