"""Short random identifiers for media objects."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    """A random id such as `pr_3f9a0c1b2d4e` (prefix: r, t, pr, c)."""
    return f"{prefix}_{secrets.token_hex(6)}"
