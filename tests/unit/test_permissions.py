"""The room permission matrix, checked row by row from tables (docs/PROTOCOL.md *Permissions*)."""

from __future__ import annotations

import pytest

from accounts.roles import ROLES, STAFF_ROLES
from rooms.errors import RoomError
from rooms.permissions import (
    MEDIA_POLICY,
    Identity,
    check_join,
    check_sources,
    may_join,
    media_permissions,
)

# role: (may publish camera/microphone, may share a screen)
MEDIA_TABLE = {
    "admin": (True, True),
    "doctor": (True, True),
    "nurse": (True, True),
    "psychologist": (True, True),
    "staff": (True, True),
    "family": (True, False),
    "elder": (True, False),
    "guest": (True, False),
}

# (role, token's room grant, room asked for) -> may join
JOIN_TABLE = [
    *[(role, None, "ward-7", True) for role in sorted(STAFF_ROLES)],
    *[(role, "other", "ward-7", True) for role in sorted(STAFF_ROLES)],
    *[(role, "ward-7", "ward-7", True) for role in ROLES],
    *[(role, None, "ward-7", False) for role in ROLES if role not in STAFF_ROLES],
    *[(role, "ward-8", "ward-7", False) for role in ROLES if role not in STAFF_ROLES],
    ("guest", "Ward-7", "ward-7", False),  # room ids are case-sensitive
]


def test_every_role_has_a_media_policy_row() -> None:
    assert set(MEDIA_POLICY) == set(ROLES) == set(MEDIA_TABLE)


@pytest.mark.parametrize(("role", "expected"), sorted(MEDIA_TABLE.items()))
def test_media_permissions_follow_the_role_table(role: str, expected: tuple[bool, bool]) -> None:
    perms = media_permissions(role)
    assert (perms.publish, perms.screen) == expected
    assert perms.to_dict() == {"publish": expected[0], "screen": expected[1]}
    assert perms.allows("camera") is expected[0]
    assert perms.allows("microphone") is expected[0]
    assert perms.allows("screen") is expected[1]


def test_unknown_role_may_neither_publish_nor_share() -> None:
    perms = media_permissions("robot")
    assert (perms.publish, perms.screen) == (False, False)
    with pytest.raises(RoomError) as err:
        check_sources(perms, {"microphone"})
    assert err.value.code == "permission_denied"


@pytest.mark.parametrize(("role", "grant", "room_id", "allowed"), JOIN_TABLE)
def test_join_follows_the_room_table(role: str, grant: str | None, room_id: str, allowed: bool) -> None:
    identity = Identity(user_id="u1", name="U", role=role, room_grant=grant)
    assert may_join(identity, room_id) is allowed
    if allowed:
        check_join(identity, room_id)
    else:
        with pytest.raises(RoomError) as err:
            check_join(identity, room_id)
        assert err.value.code == "room_forbidden"


@pytest.mark.parametrize(("role", "expected"), sorted(MEDIA_TABLE.items()))
@pytest.mark.parametrize(
    "sources",
    [{"camera"}, {"microphone"}, {"camera", "microphone"}, {"screen"}, {"camera", "screen"}, set()],
    ids=lambda s: "+".join(sorted(s)) or "nothing",
)
def test_publishing_sources_is_checked_against_the_table(
    role: str, expected: tuple[bool, bool], sources: set[str]
) -> None:
    publish, screen = expected
    allowed = (publish or not sources & {"camera", "microphone"}) and (screen or "screen" not in sources)
    if allowed:
        check_sources(media_permissions(role), sources)
    else:
        with pytest.raises(RoomError) as err:
            check_sources(media_permissions(role), sources)
        assert err.value.code == "permission_denied"
