"""Account roles."""

from __future__ import annotations

ROLES: tuple[str, ...] = (
    "admin",
    "doctor",
    "nurse",
    "psychologist",
    "staff",
    "family",
    "elder",
    "guest",
)
STAFF_ROLES: frozenset[str] = frozenset({"admin", "doctor", "nurse", "psychologist", "staff"})


def is_role(value: object) -> bool:
    """Whether ``value`` is one of :data:`ROLES`."""
    return isinstance(value, str) and value in ROLES
