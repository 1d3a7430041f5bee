"""Who is acting: the verified user, the organisation they act for, and their role there."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """A verified caller. ``role`` is the role in ``org`` (the token's claims)."""

    user_id: str
    name: str
    role: str
    org: str | None = None
    room_grant: str | None = None

    @property
    def is_admin(self) -> bool:
        """An admin (of ``org``, or a global admin when ``org`` is None)."""
        return self.role == "admin"
