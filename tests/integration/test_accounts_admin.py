"""Account administration: create, list/search, disable/enable, reset password, rename, scope.

Every test runs against the full app on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

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
async def world(srv: RunningServer, api: Api) -> dict[str, str]:
    """Two organisations A and B, each with an admin; tokens and ids by name."""
    await srv.user("root", "admin")
    root = await api.token("root")
    a = await api.org(root, "A")
    b = await api.org(root, "B")
    for name, org in (("boss-a", a), ("boss-b", b)):
        user = await srv.user(name, "guest")
        await api.member(root, org, user.id, "admin")
    return {
        "root": root,
        "a": a,
        "b": b,
        "boss_a": await api.token("boss-a"),
        "boss_b": await api.token("boss-b"),
    }


async def test_an_org_admin_creates_accounts_in_its_organisation(
    srv: RunningServer, api: Api, world: dict[str, str]
) -> None:
    boss = world["boss_a"]
    body = {"name": "nina", "role": "nurse", "password": "Secret-1", "display_name": "Nina N"}
    created = await api.call("POST", "/api/v1/accounts", boss, body, 201)
    assert created["name"] == "nina" and created["role"] == "nurse"
    assert "password" not in created and "Secret-1" not in str(created)
    login = await api.login("nina", "Secret-1")
    claims = srv.tokens.verify(login["token"])
    assert (claims.org, claims.role, claims.name) == (world["a"], "nurse", "Nina N")

    # without a password one is generated and shown once, not cached
    async with api.http.post(
        f"{srv.url}/api/v1/accounts",
        json={"name": "olga", "role": "elder", "duty_desk": False},
        headers={"Authorization": f"Bearer {boss}"},
    ) as res:
        assert res.status == 201
        assert res.headers["Cache-Control"] == "no-store"
        olga = await res.json()
    assert len(olga["password"]) >= 12
    assert (await api.login("olga", olga["password"]))["role"] == "elder"
    shown = await api.call("GET", f"/api/v1/accounts/{olga['id']}", boss)
    assert "password" not in shown
    assert [(m["org_id"], m["role"]) for m in shown["memberships"]] == [(world["a"], "elder")]

    # an organisation admin made by an org admin is not a global admin
    sub = await api.call(
        "POST", "/api/v1/accounts", boss, {"name": "sub", "role": "admin", "password": "x"}, 201
    )
    assert sub["global_admin"] is False
    sub_login = await api.login("sub", "x")
    assert (sub_login["role"], sub_login["global_admin"]) == ("admin", False)
    assert sub_login["user"]["role"] != "admin"

    await api.error("POST", "/api/v1/accounts", boss, body, 409, "user_exists")


async def test_listing_and_searching_stay_within_the_organisation(
    srv: RunningServer, api: Api, world: dict[str, str]
) -> None:
    boss_a, boss_b, root = world["boss_a"], world["boss_b"], world["root"]
    for name, display in (("nina", "Nina Nurse"), ("nils", "Nils"), ("anna", "Anna Smith")):
        body = {"name": name, "role": "nurse", "password": "pw", "display_name": display}
        await api.call("POST", "/api/v1/accounts", boss_a, body, 201)
    body = {"name": "bert", "role": "doctor", "password": "pw", "display_name": "Bert"}
    await api.call("POST", "/api/v1/accounts", boss_b, body, 201)

    names = [a["name"] for a in (await api.call("GET", "/api/v1/accounts", boss_a))["accounts"]]
    assert names == ["anna", "boss-a", "nils", "nina"]
    found = await api.call("GET", "/api/v1/accounts?q=NI", boss_a)
    assert [a["name"] for a in found["accounts"]] == ["nils", "nina"]
    found = await api.call("GET", "/api/v1/accounts?q=smith", boss_a)
    assert [a["name"] for a in found["accounts"]] == ["anna"]
    assert (await api.call("GET", "/api/v1/accounts?q=%25", boss_a))["accounts"] == []
    page = await api.call("GET", "/api/v1/accounts?limit=2&offset=1", boss_a)
    assert [a["name"] for a in page["accounts"]] == ["boss-a", "nils"]
    b_names = [a["name"] for a in (await api.call("GET", "/api/v1/accounts", boss_b))["accounts"]]
    assert b_names == ["bert", "boss-b"]
    await api.error(
        "GET", f"/api/v1/accounts?org_id={world['b']}", boss_a, None, 403, "permission_denied"
    )

    # a global admin sees everyone, or one organisation
    everyone = [a["name"] for a in (await api.call("GET", "/api/v1/accounts", root))["accounts"]]
    assert everyone == ["anna", "bert", "boss-a", "boss-b", "nils", "nina", "root"]
    in_b = await api.call("GET", f"/api/v1/accounts?org_id={world['b']}", root)
    assert [(a["name"], a["role"]) for a in in_b["accounts"]] == [
        ("bert", "doctor"),
        ("boss-b", "admin"),
    ]
    for query, code in (("limit=0", "bad_request"), ("limit=x", "bad_request")):
        await api.error("GET", f"/api/v1/accounts?{query}", root, None, 400, code)
    await api.error("GET", "/api/v1/accounts?org_id=nope", root, None, 404, "org_not_found")


async def test_a_disabled_account_cannot_sign_in_until_enabled(
    srv: RunningServer, api: Api, world: dict[str, str]
) -> None:
    boss = world["boss_a"]
    body = {"name": "nina", "role": "nurse", "password": "pw"}
    nina = await api.call("POST", "/api/v1/accounts", boss, body, 201)
    nina_token = await api.token("nina")

    out = await api.call("POST", f"/api/v1/accounts/{nina['id']}/disable", boss)
    assert out["disabled"] is True
    await api.error(
        "POST", "/api/v1/auth/login", None, {"name": "nina", "password": "pw"}, 403, "user_disabled"
    )
    await api.error("GET", "/api/v1/me", nina_token, None, 403, "user_disabled")
    listed = (await api.call("GET", "/api/v1/accounts?q=nina", boss))["accounts"]
    assert listed[0]["disabled"] is True

    await api.call("POST", f"/api/v1/accounts/{nina['id']}/enable", boss)
    await api.token("nina")
    await api.call("PATCH", f"/api/v1/accounts/{nina['id']}", boss, {"disabled": True})
    await api.login("nina", status=403)
    await api.call("PATCH", f"/api/v1/accounts/{nina['id']}", boss, {"disabled": False})
    await api.token("nina")

    # nobody disables their own account
    boss_id = srv.tokens.verify(boss).sub
    await api.error("POST", f"/api/v1/accounts/{boss_id}/disable", boss, None, 400, "bad_request")


async def test_reset_password_and_rename(
    srv: RunningServer, api: Api, world: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    boss = world["boss_a"]
    nina = await api.call(
        "POST", "/api/v1/accounts", boss, {"name": "nina", "role": "nurse", "password": "old"}, 201
    )
    path = f"/api/v1/accounts/{nina['id']}/password"
    assert await api.call("POST", path, boss, {"password": "New-pass-2"}) == {"reset": True}
    await api.login("nina", "old", status=401)
    await api.token("nina", "New-pass-2")

    generated = (await api.call("POST", path, boss))["password"]
    await api.login("nina", "New-pass-2", status=401)
    await api.token("nina", generated)
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert generated not in logged and "New-pass-2" not in logged

    await api.error("POST", path, boss, {"password": ""}, 400, "bad_password")
    await api.error("POST", path, boss, {"password": 5}, 400, "bad_request")

    renamed = await api.call(
        "PATCH", f"/api/v1/accounts/{nina['id']}", boss, {"display_name": "  Nina N  "}
    )
    assert renamed["display_name"] == "Nina N"
    assert srv.tokens.verify(await api.token("nina", generated)).name == "Nina N"
    await api.error(
        "PATCH",
        f"/api/v1/accounts/{nina['id']}",
        boss,
        {"display_name": ""},
        400,
        "bad_display_name",
    )
    await api.error("PATCH", f"/api/v1/accounts/{nina['id']}", boss, {}, 400, "bad_request")
    await api.error(
        "PATCH", f"/api/v1/accounts/{nina['id']}", boss, {"disabled": "yes"}, 400, "bad_request"
    )


async def test_an_org_admin_cannot_reach_other_organisations_or_make_global_admins(
    srv: RunningServer, api: Api, world: dict[str, str]
) -> None:
    boss_a, root = world["boss_a"], world["root"]
    bert = await api.call(
        "POST", "/api/v1/accounts", world["boss_b"], {"name": "bert", "role": "doctor"}, 201
    )
    for method, suffix, body in (
        ("GET", "", None),
        ("PATCH", "", {"display_name": "x"}),
        ("POST", "/disable", None),
        ("POST", "/password", {"password": "mine-now"}),
    ):
        await api.error(
            method, f"/api/v1/accounts/{bert['id']}{suffix}", boss_a, body, 404, "user_not_found"
        )
    await api.error(
        "POST",
        "/api/v1/accounts",
        boss_a,
        {"name": "x1", "role": "nurse", "org_id": world["b"]},
        403,
        "permission_denied",
    )
    await api.error(
        "POST",
        "/api/v1/accounts",
        boss_a,
        {"name": "x2", "role": "admin", "global_admin": True},
        403,
        "permission_denied",
    )
    assert await srv.users.get_by_name("x2") is None

    # someone who also belongs to B is managed by a global admin only
    nina = await api.call(
        "POST", "/api/v1/accounts", boss_a, {"name": "nina", "role": "nurse"}, 201
    )
    await api.member(root, world["b"], nina["id"], "nurse")
    await api.error(
        "POST", f"/api/v1/accounts/{nina['id']}/password", boss_a, None, 403, "permission_denied"
    )
    # and so is a global admin who joins the organisation
    root_id = srv.tokens.verify(root).sub
    await api.member(root, world["a"], root_id, "doctor")
    await api.error(
        "POST", f"/api/v1/accounts/{root_id}/disable", boss_a, None, 403, "permission_denied"
    )
    assert (await api.call("POST", f"/api/v1/accounts/{nina['id']}/disable", root))["disabled"]

    # a global admin may make a global admin
    made = await api.call(
        "POST",
        "/api/v1/accounts",
        root,
        {"name": "root2", "role": "admin", "global_admin": True, "password": "pw"},
        201,
    )
    assert made["global_admin"] is True
    assert (await api.login("root2"))["global_admin"] is True


async def test_accounts_manage_is_needed_and_can_be_granted_per_organisation(
    srv: RunningServer, api: Api, world: dict[str, str]
) -> None:
    boss = world["boss_a"]
    await api.call(
        "POST", "/api/v1/accounts", boss, {"name": "stan", "role": "staff", "password": "pw"}, 201
    )
    stan = await api.token("stan")
    await api.error("GET", "/api/v1/accounts", stan, None, 403, "permission_denied")
    await api.error(
        "POST", "/api/v1/accounts", stan, {"name": "x", "role": "guest"}, 403, "permission_denied"
    )
    await api.call(
        "PUT", f"/api/v1/orgs/{world['a']}/roles/staff/permissions", boss, {"accounts.manage": True}
    )
    assert len((await api.call("GET", "/api/v1/accounts", stan))["accounts"]) == 2
    # an account without any organisation manages nothing
    await srv.user("loner", "staff")
    loner = await api.token("loner")
    await api.error("GET", "/api/v1/accounts", loner, None, 403, "permission_denied")


async def test_bad_account_input_answers_stable_codes(
    srv: RunningServer, api: Api, world: dict[str, str]
) -> None:
    root, boss = world["root"], world["boss_a"]
    cases = [
        ({"name": "ok", "role": "pilot"}, 400, "bad_request"),
        ({"name": "bad name!", "role": "nurse"}, 400, "bad_name"),
        ({"name": "ok", "role": "nurse", "duty_desk": "yes"}, 400, "bad_request"),
        ({"name": "ok", "role": "nurse", "display_name": 5}, 400, "bad_request"),
        ({"name": "ok", "role": "nurse", "org_id": "nope"}, 404, "org_not_found"),
    ]
    for body, status, code in cases:
        await api.error("POST", "/api/v1/accounts", root, body, status, code)
    # a global admin making an organisation admin must name the organisation
    await api.error(
        "POST", "/api/v1/accounts", root, {"name": "ok", "role": "admin"}, 400, "bad_request"
    )
    await api.error("GET", "/api/v1/accounts/ghost", boss, None, 404, "user_not_found")
    await api.error("GET", "/api/v1/accounts/ghost", root, None, 404, "user_not_found")
    await api.error("POST", "/api/v1/accounts", None, {"name": "x"}, 401, "token_missing")
    assert await srv.users.get_by_name("ok") is None
