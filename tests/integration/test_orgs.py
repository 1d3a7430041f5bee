"""Organisations, memberships, switching organisation, role-permission overrides, the CLI.

Every test runs against the full app on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from accounts.org_models import OrgRolePermission
from accounts.orgs import OrgService
from accounts.principal import Principal
from carertc.app import CARE, ORGS, SESSIONS
from tests.conftest import RunningServer
from tests.support.admin_api import BACKENDS, Api, start_on

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


@pytest.fixture
async def srv(backend: str, tmp_path: Path, server_factory: Any, request: Any) -> RunningServer:
    """The full app on the backend under test."""
    return await start_on(backend, tmp_path, server_factory, request)


@pytest.fixture
async def api(srv: RunningServer) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(srv, http)


@pytest.fixture
async def root(srv: RunningServer, api: Api) -> str:
    """A global admin's token."""
    await srv.user("root", "admin")
    return await api.token("root")


async def test_org_lifecycle(srv: RunningServer, api: Api, root: str) -> None:
    org_id = await api.org(root, "St Mary", "hospital")
    await api.error("POST", "/api/v1/orgs", root, {"name": "St Mary"}, 409, "conflict")
    assert await api.call("GET", f"/api/v1/orgs/{org_id}", root) == {
        "id": org_id,
        "name": "St Mary",
        "kind": "hospital",
    }
    other = await api.org(root, "Sunny Care", "care_institution")
    listed = (await api.call("GET", "/api/v1/orgs", root))["orgs"]
    assert [o["name"] for o in listed] == ["St Mary", "Sunny Care"]

    renamed = await api.call(
        "PATCH", f"/api/v1/orgs/{org_id}", root, {"name": "St Mary's", "kind": "community_hospital"}
    )
    assert (renamed["name"], renamed["kind"]) == ("St Mary's", "community_hospital")
    await api.error(
        "PATCH", f"/api/v1/orgs/{org_id}", root, {"name": "Sunny Care"}, 409, "conflict"
    )

    ann = await srv.user("ann", "nurse", display_name="Ann")
    bob = await srv.user("bob", "staff")
    added = await api.member(root, org_id, ann.id, "nurse")
    assert added == {
        "user_id": ann.id,
        "name": "ann",
        "display_name": "Ann",
        "role": "nurse",
        "duty_desk": False,
        "disabled": False,
    }
    by_name = {"name": "bob", "role": "staff", "duty_desk": True}
    await api.call("POST", f"/api/v1/orgs/{org_id}/members", root, by_name, 201)
    await api.error("POST", f"/api/v1/orgs/{org_id}/members", root, by_name, 409, "conflict")
    members = (await api.call("GET", f"/api/v1/orgs/{org_id}/members", root))["members"]
    assert [(m["name"], m["role"], m["duty_desk"]) for m in members] == [
        ("ann", "nurse", False),
        ("bob", "staff", True),
    ]
    assert await srv.app[CARE].duty_desk(org_id) == [bob.id]

    changed = await api.call(
        "PATCH",
        f"/api/v1/orgs/{org_id}/members/{ann.id}",
        root,
        {"role": "doctor", "duty_desk": True},
    )
    assert (changed["role"], changed["duty_desk"]) == ("doctor", True)
    assert set(await srv.app[CARE].duty_desk(org_id)) == {ann.id, bob.id}
    await srv.users.set_disabled(bob.id)
    assert await srv.app[CARE].duty_desk(org_id) == [ann.id]  # disabled accounts are not rung

    await api.call("DELETE", f"/api/v1/orgs/{org_id}/members/{ann.id}", root, status=204)
    await api.error(
        "DELETE", f"/api/v1/orgs/{org_id}/members/{ann.id}", root, None, 404, "user_not_found"
    )
    await api.call("DELETE", f"/api/v1/orgs/{org_id}", root, status=204)
    await api.error("GET", f"/api/v1/orgs/{org_id}", root, None, 404, "org_not_found")
    assert [o["id"] for o in (await api.call("GET", "/api/v1/orgs", root))["orgs"]] == [other]


async def test_login_picks_the_first_membership_and_switch_changes_role_and_permissions(
    srv: RunningServer, api: Api, root: str
) -> None:
    a = await api.org(root, "A")
    b = await api.org(root, "B")
    c = await api.org(root, "C")
    ann = await srv.user("ann", "guest", display_name="Ann")
    await api.member(root, a, ann.id, "nurse")
    await api.member(root, b, ann.id, "doctor")

    login = await api.login("ann")
    claims = srv.tokens.verify(login["token"])
    assert (claims.org, claims.role, login["org"], login["role"]) == (a, "nurse", a, "nurse")
    assert [(m["org_id"], m["role"]) for m in login["memberships"]] == [(a, "nurse"), (b, "doctor")]
    me = await api.call("GET", "/api/v1/me", login["token"])
    assert (me["session"]["org"], me["session"]["role"], me["global_admin"]) == (a, "nurse", False)
    assert [m["name"] for m in me["memberships"]] == ["A", "B"]

    orgs: OrgService = srv.app[ORGS]
    in_a = Principal(ann.id, "Ann", claims.role, claims.org)
    assert await orgs.allowed(in_a, "care.manage")
    assert not await orgs.allowed(in_a, "recording.view")

    switched = await api.call("POST", "/api/v1/auth/switch", login["token"], {"org_id": b})
    claims_b = srv.tokens.verify(switched["token"])
    assert (claims_b.org, claims_b.role, switched["role"]) == (b, "doctor", "doctor")
    in_b = Principal(ann.id, "Ann", claims_b.role, claims_b.org)
    assert await orgs.allowed(in_b, "recording.view")
    assert not await orgs.allowed(in_b, "care.manage")
    me = await api.call("GET", "/api/v1/me", switched["token"])
    assert (me["session"]["org"], me["session"]["role"]) == (b, "doctor")

    await api.error(
        "POST", "/api/v1/auth/switch", login["token"], {"org_id": c}, 403, "permission_denied"
    )
    await api.error(
        "POST", "/api/v1/auth/switch", login["token"], {"org_id": "nope"}, 404, "org_not_found"
    )
    await api.error(
        "POST", "/api/v1/auth/switch", login["token"], {"org_id": 7}, 400, "bad_request"
    )
    await api.error("POST", "/api/v1/auth/switch", None, {"org_id": a}, 401, "token_missing")
    room_token = srv.tokens.issue(user_id=ann.id, name="Ann", role="nurse", org=a, room="ward-7")
    await api.error(
        "POST", "/api/v1/auth/switch", room_token, {"org_id": b}, 403, "permission_denied"
    )

    # a global admin keeps the role admin, in its first organisation and after switching anywhere
    await api.member(root, b, (await srv.users.get_by_name("root")).id, "nurse")  # type: ignore[union-attr]
    admin_login = await api.login("root")
    assert (admin_login["org"], admin_login["role"], admin_login["global_admin"]) == (
        b,
        "admin",
        True,
    )
    to_c = await api.call("POST", "/api/v1/auth/switch", admin_login["token"], {"org_id": c})
    assert (srv.tokens.verify(to_c["token"]).org, to_c["role"]) == (c, "admin")

    # without memberships the token keeps the account's own role (and organisation label)
    await srv.user("solo", "doctor", organisation="ward-7")
    solo_login = await api.login("solo")
    assert (solo_login["org"], solo_login["role"], solo_login["memberships"]) == (
        "ward-7",
        "doctor",
        [],
    )
    # ... but a label naming a real organisation grants nothing without a membership
    labelled = await srv.user("labelled", "nurse", organisation=a)
    assert labelled.organisation == a
    assert (await api.login("labelled"))["org"] is None


async def test_an_override_revokes_consult_start_for_nurses_in_org_a_only(
    srv: RunningServer, api: Api, root: str
) -> None:
    a = await api.org(root, "A")
    b = await api.org(root, "B")
    boss = await srv.user("boss", "guest")
    await api.member(root, a, boss.id, "admin")
    boss_token = await api.token("boss")  # an organisation admin, not a global one

    path = f"/api/v1/orgs/{a}/roles/nurse/permissions"
    before = await api.call("GET", path, boss_token)
    assert before["permissions"]["consult.start"] is True and before["overrides"] == {}
    after = await api.call("PUT", path, boss_token, {"consult.start": False, "stats.view": True})
    assert after["permissions"]["consult.start"] is False
    assert after["permissions"]["stats.view"] is True
    assert after["overrides"] == {"consult.start": False, "stats.view": True}
    table = (await api.call("GET", f"/api/v1/orgs/{a}/permissions", boss_token))["roles"]
    assert table["nurse"]["permissions"]["consult.start"] is False
    assert table["doctor"]["permissions"]["consult.start"] is True
    assert all(table["admin"]["permissions"].values())

    orgs: OrgService = srv.app[ORGS]
    fresh = OrgService(srv.app[SESSIONS])  # another instance on the same database
    nurse_a = Principal("u1", "N", "nurse", a)
    nurse_b = Principal("u2", "N", "nurse", b)
    for service in (orgs, fresh):
        assert not await service.allowed(nurse_a, "consult.start")
        assert await service.allowed(nurse_b, "consult.start")
        assert await service.allowed(Principal("u3", "D", "doctor", a), "consult.start")
        assert await service.allowed(Principal("u4", "N", "nurse", None), "consult.start")
    with pytest.raises(Exception) as denied:
        await orgs.require(nurse_a, "consult.start")
    assert getattr(denied.value, "code", None) == "permission_denied"

    # a value equal to the default, or null, goes back to the default
    reset = await api.call("PUT", path, boss_token, {"consult.start": None, "stats.view": False})
    assert reset["overrides"] == {}
    assert await fresh.allowed(nurse_a, "consult.start")
    assert not await orgs.allowed(nurse_a, "stats.view")

    # a change written by another node shows up once the cached copy is older than the TTL
    async with srv.app[SESSIONS]() as session:
        session.add(OrgRolePermission(org_id=a, role="nurse", permission="sos.raise", allowed=True))
        await session.commit()
    nurse_a_sos = Principal("u1", "N", "nurse", a)
    assert not await orgs.allowed(nurse_a_sos, "sos.raise")  # cached for 30 s
    assert await OrgService(srv.app[SESSIONS], cache_seconds=0).allowed(nurse_a_sos, "sos.raise")
    with pytest.raises(ValueError):
        await orgs.allowed(nurse_a, "consult.fly")

    # bad input
    await api.error("PUT", path, boss_token, {"consult.fly": True}, 400, "bad_request")
    await api.error("PUT", path, boss_token, {"consult.start": "no"}, 400, "bad_request")
    await api.error("PUT", path, boss_token, {}, 400, "bad_request")
    await api.error(
        "PUT",
        f"/api/v1/orgs/{a}/roles/admin/permissions",
        boss_token,
        {"sos.raise": False},
        400,
        "bad_request",
    )
    await api.error(
        "GET", f"/api/v1/orgs/{a}/roles/pilot/permissions", boss_token, None, 400, "bad_request"
    )
    await api.error(
        "GET", "/api/v1/orgs/missing/roles/nurse/permissions", root, None, 404, "org_not_found"
    )


async def test_an_org_admin_is_confined_to_its_own_organisation(
    srv: RunningServer, api: Api, root: str
) -> None:
    a = await api.org(root, "A")
    b = await api.org(root, "B")
    boss = await srv.user("boss", "guest")
    other_boss = await srv.user("other-boss", "guest")
    nina = await srv.user("nina", "nurse")
    await api.member(root, a, boss.id, "admin")
    await api.member(root, b, other_boss.id, "admin")
    await api.member(root, a, nina.id, "nurse")
    boss_token = await api.token("boss")
    nina_token = await api.token("nina")

    assert [o["id"] for o in (await api.call("GET", "/api/v1/orgs", boss_token))["orgs"]] == [a]
    await api.call("PATCH", f"/api/v1/orgs/{a}", boss_token, {"name": "A2"})
    denied = [
        ("PATCH", f"/api/v1/orgs/{b}", {"name": "mine"}),
        ("GET", f"/api/v1/orgs/{b}", None),
        ("GET", f"/api/v1/orgs/{b}/members", None),
        ("POST", f"/api/v1/orgs/{b}/members", {"user_id": nina.id, "role": "nurse"}),
        ("PUT", f"/api/v1/orgs/{b}/roles/nurse/permissions", {"consult.start": False}),
        ("GET", f"/api/v1/orgs/{b}/permissions", None),
        ("POST", "/api/v1/orgs", {"name": "C"}),
        ("DELETE", f"/api/v1/orgs/{a}", None),
    ]
    for method, path, body in denied:
        await api.error(method, path, boss_token, body, 403, "permission_denied")
    # an account of no organisation is a global admin's to add; one from elsewhere may be shared
    loner = await srv.user("loner", "nurse")
    body = {"user_id": loner.id, "role": "nurse"}
    await api.error("POST", f"/api/v1/orgs/{a}/members", boss_token, body, 403, "permission_denied")
    await api.member(root, b, loner.id, "nurse")
    await api.call("POST", f"/api/v1/orgs/{a}/members", boss_token, body, 201)

    # a nurse may not manage her own organisation
    await api.error(
        "PATCH", f"/api/v1/orgs/{a}", nina_token, {"name": "x"}, 403, "permission_denied"
    )
    await api.error("GET", f"/api/v1/orgs/{a}/members", nina_token, None, 403, "permission_denied")
    assert (await api.call("GET", f"/api/v1/orgs/{a}", nina_token))["name"] == "A2"

    # the last admin cannot remove or demote itself; a second admin can be made
    await api.error(
        "DELETE", f"/api/v1/orgs/{a}/members/{boss.id}", boss_token, None, 409, "conflict"
    )
    await api.error(
        "PATCH",
        f"/api/v1/orgs/{a}/members/{boss.id}",
        boss_token,
        {"role": "nurse"},
        409,
        "conflict",
    )
    await api.call("PATCH", f"/api/v1/orgs/{a}/members/{nina.id}", boss_token, {"role": "admin"})
    await api.call("PATCH", f"/api/v1/orgs/{a}/members/{boss.id}", nina_token, {"role": "nurse"})
    # the old token of the demoted admin manages nothing any more (the role is read afresh)
    await api.error(
        "PATCH", f"/api/v1/orgs/{a}", boss_token, {"name": "x"}, 403, "permission_denied"
    )


async def test_bad_input_answers_stable_codes(srv: RunningServer, api: Api, root: str) -> None:
    a = await api.org(root, "A")
    cases = [
        ("POST", "/api/v1/orgs", {"name": ""}, 400, "bad_request"),
        ("POST", "/api/v1/orgs", {"name": "x" * 201}, 400, "bad_request"),
        ("POST", "/api/v1/orgs", {"name": "Z", "kind": "castle"}, 400, "bad_request"),
        ("POST", "/api/v1/orgs", [1], 400, "bad_request"),
        ("PATCH", f"/api/v1/orgs/{a}", {}, 400, "bad_request"),
        ("PATCH", "/api/v1/orgs/missing", {"name": "x"}, 404, "org_not_found"),
        (
            "POST",
            f"/api/v1/orgs/{a}/members",
            {"user_id": "ghost", "role": "nurse"},
            404,
            "user_not_found",
        ),
        (
            "POST",
            f"/api/v1/orgs/{a}/members",
            {"name": "ghost", "role": "nurse"},
            404,
            "user_not_found",
        ),
        (
            "POST",
            f"/api/v1/orgs/{a}/members",
            {"name": "root", "role": "pilot"},
            400,
            "bad_request",
        ),
        (
            "POST",
            f"/api/v1/orgs/{a}/members",
            {"name": "root", "role": "nurse", "duty_desk": "y"},
            400,
            "bad_request",
        ),
        ("PATCH", f"/api/v1/orgs/{a}/members/ghost", {"role": "nurse"}, 404, "user_not_found"),
        ("PATCH", f"/api/v1/orgs/{a}/members/ghost", {}, 400, "bad_request"),
        ("GET", "/api/v1/orgs/missing/members", None, 404, "org_not_found"),
        ("DELETE", "/api/v1/orgs/missing", None, 404, "org_not_found"),
    ]
    for method, path, body, status, code in cases:
        await api.error(method, path, root, body, status, code)
    await api.error("GET", "/api/v1/orgs", None, None, 401, "token_missing")


async def carertc(srv: RunningServer, *argv: str) -> tuple[int, str, str]:
    """Run the ``carertc`` console script against the server's database."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CARERTC_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(
        CARERTC_DATA_DIR=str(srv.settings.data_dir),
        DATABASE_URL=srv.settings.db_url,
        CARERTC_LOG_LEVEL="WARNING",
    )
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "carertc"),
        *argv,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_adds_organisations_and_members(srv: RunningServer) -> None:
    await srv.user("ann", "nurse")
    code, out, _ = await carertc(srv, "org", "add", "CLI Hospital", "--kind", "community_hospital")
    assert code == 0 and "created organisation CLI Hospital" in out
    code, out, _ = await carertc(
        srv, "org", "member", "CLI Hospital", "ann", "--role", "staff", "--duty-desk"
    )
    assert code == 0 and "added ann in CLI Hospital as staff, duty desk" in out
    code, out, _ = await carertc(srv, "org", "member", "CLI Hospital", "ann", "--role", "nurse")
    assert code == 0 and "updated ann" in out
    code, _, err = await carertc(srv, "org", "member", "CLI Hospital", "ghost", "--role", "staff")
    assert code == 1 and "user_not_found" in err
    code, _, err = await carertc(srv, "org", "member", "Nowhere", "ann", "--role", "staff")
    assert code == 1 and "org_not_found" in err
    code, _, err = await carertc(srv, "org", "add", "CLI Hospital")
    assert code == 1 and "conflict" in err
    code, out, _ = await carertc(srv, "org", "list")
    assert code == 0 and out.startswith("CLI Hospital\tcommunity_hospital\t")

    orgs: OrgService = srv.app[ORGS]
    org = await orgs.find("CLI Hospital")
    ann = await srv.users.get_by_name("ann")
    assert ann is not None
    assert [(m.org_id, m.role, m.duty_desk) for m in await orgs.memberships(ann.id)] == [
        (org.id, "nurse", False)
    ]
