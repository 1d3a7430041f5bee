"""Elders' care contacts over HTTP and the CareContacts service the SOS flow reads.

Every test runs against the full app on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from accounts.care import CareContacts, Contact
from carertc.app import CARE
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


async def test_care_contacts_crud_and_access(srv: RunningServer, api: Api, root: str) -> None:
    a = await api.org(root, "A")
    b = await api.org(root, "B")
    users = {}
    for name, org, role in [
        ("elsa", a, "elder"),
        ("fred", a, "family"),
        ("dora", a, "doctor"),
        ("nina", a, "nurse"),
        ("stan", a, "staff"),
        ("nora", b, "nurse"),
        ("frank", b, "family"),
    ]:
        users[name] = await srv.user(name, "guest")
        await api.member(root, org, users[name].id, role)
    tok = {name: await api.token(name) for name in users}
    elsa, fred, dora = users["elsa"].id, users["fred"].id, users["dora"].id
    path = f"/api/v1/elders/{elsa}/contacts"

    assert (await api.call("GET", path, tok["nina"]))["contacts"] == []
    wanted = [
        {"contact_id": dora, "relation": "primary_doctor", "tier": 2},
        {"contact_id": fred, "relation": "family", "tier": 1},
    ]
    out = await api.call("PUT", path, tok["nina"], wanted)
    assert [(c["name"], c["relation"], c["tier"]) for c in out["contacts"]] == [
        ("fred", "family", 1),
        ("dora", "primary_doctor", 2),
    ]
    assert (await api.call("GET", path, tok["elsa"]))["contacts"] == out["contacts"]
    assert (await api.call("GET", path, root))["contacts"] == out["contacts"]
    care: CareContacts = srv.app[CARE]
    assert await care.contacts_of(elsa) == [
        Contact(fred, "family", 1),
        Contact(dora, "primary_doctor", 2),
    ]
    assert [tuple(c) for c in await care.contacts_of(elsa)] == [
        (fred, "family", 1),
        (dora, "primary_doctor", 2),
    ]

    # the wrapped form, by staff (care.manage too), replaces the whole list
    await api.call(
        "PUT", path, tok["stan"], {"contacts": [{"contact_id": dora, "relation": "other"}]}
    )
    assert await care.contacts_of(elsa) == [Contact(dora, "other", 1)]

    # who may not
    for who in (
        "elsa",
        "fred",
        "dora",
    ):  # the elder only reads; family and doctors lack care.manage
        await api.error("PUT", path, tok[who], wanted, 403, "permission_denied")
    for who in ("fred", "dora", "nora"):
        await api.error("GET", path, tok[who], None, 403, "permission_denied")
    await api.error("PUT", path, tok["nora"], wanted, 403, "permission_denied")  # another org

    # bad input
    frank = users["frank"].id
    bad = [
        ([{"contact_id": frank, "relation": "family"}], 404, "user_not_found"),  # not in org A
        ([{"contact_id": "ghost", "relation": "family"}], 404, "user_not_found"),
        ([{"contact_id": fred, "relation": "neighbour"}], 400, "bad_request"),
        ([{"contact_id": fred, "relation": "family", "tier": 0}], 400, "bad_request"),
        ([{"contact_id": fred, "relation": "family", "tier": True}], 400, "bad_request"),
        ([{"contact_id": fred, "relation": "family"}] * 2, 400, "bad_request"),
        ([{"contact_id": elsa, "relation": "family"}], 400, "bad_request"),
        ([{"relation": "family"}], 400, "bad_request"),
        (["fred"], 400, "bad_request"),
        ({"contacts": "fred"}, 400, "bad_request"),
        ([{"contact_id": fred, "relation": "family"}] * 51, 400, "bad_request"),
    ]
    for body, status, code in bad:
        await api.error("PUT", path, tok["nina"], body, status, code)
    await api.error(
        "GET", "/api/v1/elders/ghost/contacts", tok["nina"], None, 404, "user_not_found"
    )
    assert await care.contacts_of(elsa) == [Contact(dora, "other", 1)]  # unchanged

    # a global admin may link anyone; disabled contacts are not rung
    await api.call(
        "PUT",
        path,
        root,
        [
            {"contact_id": frank, "relation": "family", "tier": 3},
            {"contact_id": fred, "relation": "family"},
        ],
    )
    assert [c.contact_id for c in await care.contacts_of(elsa)] == [fred, frank]
    await srv.users.set_disabled(frank)
    assert [c.contact_id for c in await care.contacts_of(elsa)] == [fred]
    assert len(await care.contacts_of(elsa, include_disabled=True)) == 2

    # an override revoking care.manage for nurses in A stops the nurse
    boss_path = f"/api/v1/orgs/{a}/roles/nurse/permissions"
    await api.call("PUT", boss_path, root, {"care.manage": False})
    await api.error("PUT", path, tok["nina"], wanted, 403, "permission_denied")
