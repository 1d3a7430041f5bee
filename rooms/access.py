"""Who may enter which room: rules per room-id prefix, registered by the care flows.

A flow that owns rooms (``consult-<id>``, ``sos-<id>``, ``meeting-<id>``)
registers an :data:`AccessRule` for its prefix; the rule decides alone for
those rooms (staff are not let in by role). Rooms no rule claims follow the
default: staff may open and join any room, others only the room their token
grants (:func:`rooms.permissions.may_join`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from accounts.roles import STAFF_ROLES
from rooms.errors import RoomError
from rooms.permissions import Identity, MediaPermissions, may_join


@dataclass(frozen=True)
class RoomAccess:
    """What a rule grants: entry, host controls, and optionally narrower media rights."""

    host: bool = False
    media: MediaPermissions | None = None  # None: the role's defaults


# rule(identity, room_id) -> the grant, or None to refuse with ``room_forbidden``
AccessRule = Callable[[Identity, str], Awaitable[RoomAccess | None]]


class RoomAccessPolicy:
    """The registered rules, longest prefix first."""

    def __init__(self) -> None:
        self._rules: dict[str, AccessRule] = {}

    def add_rule(self, prefix: str, rule: AccessRule) -> None:
        """Let ``rule`` decide for every room id starting with ``prefix``."""
        if not prefix:
            raise ValueError("a rule needs a non-empty prefix")
        self._rules[prefix] = rule

    def rule_for(self, room_id: str) -> AccessRule | None:
        """The rule that claims ``room_id``, if any."""
        for prefix in sorted(self._rules, key=len, reverse=True):
            if room_id.startswith(prefix):
                return self._rules[prefix]
        return None

    async def check(self, identity: Identity, room_id: str) -> RoomAccess:
        """The grant for ``identity`` in ``room_id``; raise ``room_forbidden`` otherwise."""
        rule = self.rule_for(room_id)
        if rule is None:
            if not may_join(identity, room_id):
                raise RoomError("room_forbidden", "this account may not enter that room")
            return RoomAccess(host=identity.role in STAFF_ROLES)
        grant = await rule(identity, room_id)
        if grant is None:
            raise RoomError("room_forbidden", "this account may not enter that room")
        return grant
