"""Who may enter a room, and who may publish media or share a screen there.

The policy is a table (:data:`MEDIA_POLICY`), one row per role; docs/PROTOCOL.md
shows the same table and tests/unit/test_permissions.py checks it row by row.
"""

from __future__ import annotations

from dataclasses import dataclass

from accounts.roles import STAFF_ROLES
from rooms.errors import RoomError

# The media sources a participant may publish; ``screen`` is a screen share.
SOURCES: frozenset[str] = frozenset({"camera", "microphone", "screen"})


@dataclass(frozen=True)
class MediaPermissions:
    """What a participant may send into a room."""

    publish: bool  # camera and microphone
    screen: bool  # screen share

    def to_dict(self) -> dict[str, bool]:
        """The wire form ``{"publish", "screen"}``."""
        return {"publish": self.publish, "screen": self.screen}

    def allows(self, source: str) -> bool:
        """Whether a track of ``source`` may be published."""
        return self.screen if source == "screen" else self.publish


# role -> what it may send. Staff run consults and meetings and share screens;
# everyone else (patients, callers, family, invited guests) talks and shows
# their camera but cannot push a screen into a clinical session.
MEDIA_POLICY: dict[str, MediaPermissions] = {
    "admin": MediaPermissions(publish=True, screen=True),
    "doctor": MediaPermissions(publish=True, screen=True),
    "nurse": MediaPermissions(publish=True, screen=True),
    "psychologist": MediaPermissions(publish=True, screen=True),
    "staff": MediaPermissions(publish=True, screen=True),
    "family": MediaPermissions(publish=True, screen=False),
    "elder": MediaPermissions(publish=True, screen=False),
    "guest": MediaPermissions(publish=True, screen=False),
}
# A role missing from the table (should not happen: tokens carry known roles)
# may listen but not send.
NO_MEDIA = MediaPermissions(publish=False, screen=False)


@dataclass(frozen=True)
class Identity:
    """Who is asking: the verified parts of an access token that rooms need."""

    user_id: str
    name: str
    role: str
    room_grant: str | None = None  # the token's ``room`` claim
    org: str | None = None  # the token's ``org`` claim: the organisation acted for


def media_permissions(role: str) -> MediaPermissions:
    """The media permissions of ``role``."""
    return MEDIA_POLICY.get(role, NO_MEDIA)


def may_join(identity: Identity, room_id: str) -> bool:
    """Staff may open or join any room; others only the room their token grants."""
    return identity.role in STAFF_ROLES or identity.room_grant == room_id


def check_join(identity: Identity, room_id: str) -> None:
    """Raise ``room_forbidden`` unless :func:`may_join`."""
    if not may_join(identity, room_id):
        raise RoomError("room_forbidden", "this account may not enter that room")


def check_sources(perms: MediaPermissions, sources: set[str]) -> None:
    """Raise ``permission_denied`` if any of ``sources`` may not be published."""
    if "screen" in sources and not perms.screen:
        raise RoomError("permission_denied", "this role may not share a screen")
    if sources & {"camera", "microphone"} and not perms.publish:
        raise RoomError("permission_denied", "this role may not publish media")
