"""Every role against every action, over HTTP, from the table in accounts/permissions.py.

One organisation holds one member of each role (and a global admin, also a
member); each signs in, so its token acts for that organisation with its role
there. Each row below is an action performed with that token; where the action
maps to one permission, the expected cell comes from
:data:`accounts.permissions.DEFAULT_PERMISSIONS`, so a change to the table
changes the expectations here. A refused cell must answer 403 with the row's
stable code. Each cell is its own test.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from accounts.permissions import DEFAULT_PERMISSIONS, PERMISSIONS
from accounts.roles import ROLES
from carertc.app import RECORDING_PLAYBACK, RECORDINGS
from rooms.consults.models import CLINICIAN_ROLES
from tests.conftest import RunningServer, make_settings, start_server
from tests.support.client import TestClient
from tests.support.recordings import add_recording

GLOBAL_ADMIN = "global-admin"
PRINCIPALS = (*ROLES, GLOBAL_ADMIN)


@dataclass
class World:
    """The organisation, its members (one per role), their tokens and shared records."""

    server: RunningServer
    http: aiohttp.ClientSession
    org: str = ""
    ids: dict[str, str] = field(default_factory=dict)  # principal -> user id
    tokens: dict[str, str] = field(default_factory=dict)  # principal -> token
    meeting: str = ""  # hosted by the global admin, everyone invited
    conversation: str = ""

    async def call(self, who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One request as ``who`` -> (status, JSON body)."""
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        async with self.http.request(method, path, json=body, headers=headers) as res:
            data = await res.json() if res.content_type == "application/json" else None
            return res.status, data

    async def ok(self, who: str, method: str, path: str, body: Any = None) -> Any:
        """A request that must succeed."""
        status, data = await self.call(who, method, path, body)
        assert status in (200, 201), (who, method, path, status, data)
        return data


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """One server for the whole matrix; every action below leaves the others unaffected."""
    data_dir: Path = tmp_path_factory.mktemp("matrix") / "data"
    server = await start_server(make_settings(data_dir))
    root = await server.user("root", "admin", display_name="Global Admin")
    async with aiohttp.ClientSession(base_url=server.url) as http:
        w = World(server, http)
        w.tokens[GLOBAL_ADMIN] = server.token(root)
        w.org = (await w.ok(GLOBAL_ADMIN, "POST", "/api/v1/orgs", {"name": "Matrix"}))["id"]
        await w.ok(GLOBAL_ADMIN, "POST", f"/api/v1/orgs/{w.org}/members",
                   {"user_id": root.id, "role": "admin"})
        w.ids[GLOBAL_ADMIN] = root.id
        for role in ROLES:
            account = await w.ok(GLOBAL_ADMIN, "POST", "/api/v1/accounts", {
                "name": f"m-{role}", "role": role, "password": "pw", "org_id": w.org,
            })
            w.ids[role] = account["id"]
        for who in PRINCIPALS:  # signing in acts for the first (only) membership
            name = "root" if who == GLOBAL_ADMIN else f"m-{who}"
            async with http.post("/api/v1/auth/login", json={"name": name, "password": "pw"}) as r:
                login = await r.json()
            assert login["org"] == w.org, login
            assert login["role"] == ("admin" if who == GLOBAL_ADMIN else who), login
            w.tokens[who] = login["token"]
        start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        w.meeting = (await w.ok(GLOBAL_ADMIN, "POST", "/api/v1/meetings", {
            "title": "Hosted by someone else", "category": "realtime", "start_at": start,
            "invitees": [w.ids[r] for r in ROLES],
        }))["id"]
        w.conversation = (await w.ok(GLOBAL_ADMIN, "POST", "/api/v1/conversations", {
            "kind": "group", "members": [w.ids[r] for r in ROLES],
        }))["id"]
        yield w
    await server.close()


# -- the actions: each returns (status, body) of the request that decides -----------------------

Action = Callable[[World, str], Awaitable[tuple[int, Any]]]


async def start_consult(w: World, who: str) -> tuple[int, Any]:
    """A clinician (or admin) names the patient; anyone else books a clinician for themselves."""
    role = "admin" if who == GLOBAL_ADMIN else who
    if role in CLINICIAN_ROLES or role == "admin":
        body = {"patient": w.ids["elder"]}
    else:
        body = {"clinician": w.ids["doctor"]}
    return await w.call(who, "POST", "/api/v1/consults", body)


async def schedule_meeting(w: World, who: str) -> tuple[int, Any]:
    """Quick support, started now."""
    return await w.call(who, "POST", "/api/v1/meetings",
                        {"category": "quick", "title": f"Support by {who}"})


async def invite_link_own_meeting(w: World, who: str) -> tuple[int, Any]:
    """Schedule a meeting, then make an invite link for it."""
    status, meeting = await schedule_meeting(w, who)
    if status != 201:
        return status, meeting
    return await w.call(who, "POST", f"/api/v1/meetings/{meeting['id']}/invites", {})


async def invite_link_other_meeting(w: World, who: str) -> tuple[int, Any]:
    """An invite link for a meeting the global admin hosts (everyone is invited to it)."""
    return await w.call(who, "POST", f"/api/v1/meetings/{w.meeting}/invites", {})


async def view_statistics(w: World, who: str) -> tuple[int, Any]:
    """The organisation's meeting statistics."""
    return await w.call(who, "GET", "/api/v1/stats/meetings")


async def read_sos_log(w: World, who: str) -> tuple[int, Any]:
    """The organisation's SOS log."""
    return await w.call(who, "GET", f"/api/v1/sos?org_id={w.org}")


async def raise_sos(w: World, who: str) -> tuple[int, Any]:
    """Raise an SOS for oneself, then call it off again."""
    status, body = await w.call(who, "POST", "/api/v1/sos", {})
    if status == 201:
        await w.ok(who, "POST", f"/api/v1/sos/{body['sos']['id']}/cancel")
    return status, body


async def create_account(w: World, who: str) -> tuple[int, Any]:
    """A new account in the organisation."""
    name = f"new-{uuid.uuid4().hex[:10]}"
    return await w.call(who, "POST", "/api/v1/accounts",
                        {"name": name, "role": "guest", "password": "pw"})


async def override_permission(w: World, who: str) -> tuple[int, Any]:
    """Set a role's permission in the organisation (to its default: nothing changes)."""
    return await w.call(who, "PUT", f"/api/v1/orgs/{w.org}/roles/guest/permissions",
                        {"recording.view": None})


async def set_care_contacts(w: World, who: str) -> tuple[int, Any]:
    """Link the elder with the family member (the same list every time)."""
    contacts = [{"contact_id": w.ids["family"], "relation": "family", "tier": 1}]
    return await w.call(who, "PUT", f"/api/v1/elders/{w.ids['elder']}/contacts", contacts)


async def record_a_call(w: World, who: str) -> tuple[int, Any]:
    """Over Socket.IO: join a room of one's own (the token grants it), start recording, stop.

    In a room no care flow claims the hosts are staff, so a role without
    ``recording.start`` is refused either way; consult and meeting rooms are
    covered by test_recording_flow.py.
    """
    role = "admin" if who == GLOBAL_ADMIN else who
    room = f"rec-matrix-{role}-{uuid.uuid4().hex[:6]}"
    token = w.server.tokens.issue(
        user_id=w.ids[who], name=who, role=role, org=w.org, room=room, ttl_seconds=600
    )
    client = TestClient(w.server.url, token, name=who)
    try:
        await client.connect()
        await client.join(room)
        ack = await client.call("recording:start", {})
        if isinstance(ack, dict) and "error" in ack:
            return (403 if ack["error"]["code"] == "permission_denied" else 500), ack
        await client.request("recording:stop", {})
        return 200, ack
    finally:
        await client.close()


async def export_conversation(w: World, who: str) -> tuple[int, Any]:
    """The conversation as a ZIP."""
    return await w.call(who, "GET", f"/api/v1/conversations/{w.conversation}/export")


async def list_recordings(w: World, who: str) -> tuple[int, Any]:
    """Search the organisation's recordings."""
    return await w.call(who, "GET", "/api/v1/recordings")


async def _matrix_recording(w: World) -> tuple[str, str]:
    """A finished recording of the organisation with one encrypted track (made once)."""
    made: tuple[str, str] | None = getattr(w, "recording", None)
    if made is None:
        playback = w.server.app[RECORDING_PLAYBACK]
        rid, fid, _ = await add_recording(
            w.server.app[RECORDINGS], playback.root, playback.key, org_id=w.org,
            started_by=w.ids["doctor"],
        )
        made = (rid, fid)
        w.recording = made  # type: ignore[attr-defined]
    return made


async def play_recording(w: World, who: str) -> tuple[int, Any]:
    """The first kilobyte of a recording's track."""
    rid, fid = await _matrix_recording(w)
    headers = {"Authorization": f"Bearer {w.tokens[who]}", "Range": "bytes=0-1023"}
    path = f"/api/v1/recordings/{rid}/files/{fid}/media"
    async with w.http.get(path, headers=headers) as res:
        data = await res.json() if res.content_type == "application/json" else None
        return (200 if res.status == 206 else res.status), data


@dataclass(frozen=True)
class Row:
    """One action: its permission (or explicit expectations) and its refusal code."""

    name: str
    action: Action
    permission: str | None = None
    allowed: frozenset[str] = frozenset()  # when the action maps to no single permission
    refusal: str = "permission_denied"

    def expects(self, who: str) -> bool:
        """Whether ``who`` may do it."""
        if who == GLOBAL_ADMIN:
            return True
        if self.permission is not None:
            return self.permission in DEFAULT_PERMISSIONS[who]
        return who in self.allowed


ROWS = (
    Row("start a consult", start_consult, "consult.start"),
    Row("schedule a meeting", schedule_meeting, "meeting.schedule"),
    Row("create an invite link", invite_link_own_meeting, "meeting.schedule"),
    Row("invite link, someone else's meeting", invite_link_other_meeting,
        allowed=frozenset({"admin"})),  # the host, or an admin of the meeting's organisation
    Row("view statistics", view_statistics, "stats.view"),
    Row("read the SOS log", read_sos_log, "sos.log"),
    Row("raise an SOS", raise_sos, "sos.raise"),
    Row("manage accounts", create_account, "accounts.manage"),
    Row("manage organisations", override_permission, "orgs.manage"),
    Row("manage care contacts", set_care_contacts, "care.manage"),
    Row("record a call", record_a_call, "recording.start"),
    Row("list recordings", list_recordings, "recording.view"),
    Row("play a recording", play_recording, "recording.view"),
    # global administrators only (users.role), not an organisation's admin
    Row("export a conversation", export_conversation, refusal="not_allowed"),
)
# permissions no row exercises, and why
NOT_EXERCISED = {
    "meeting.join": "entering a meeting's call is a Socket.IO room join (test_meetings.py)",
    "sos.receive": "being rung is not a request (test_sos_flows.py)",
}


def test_every_permission_is_in_the_matrix() -> None:
    """A new permission needs a row (or a reason it has none)."""
    covered = {row.permission for row in ROWS if row.permission} | set(NOT_EXERCISED)
    assert covered == set(PERMISSIONS)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    ("row", "who"),
    [pytest.param(row, who, id=f"{row.name}-{who}") for row, who in
     itertools.product(ROWS, PRINCIPALS)],
)
async def test_cell(world: World, row: Row, who: str) -> None:
    """``who`` is allowed, or refused with the row's stable code, exactly as the table says."""
    status, body = await row.action(world, who)
    if row.expects(who):
        assert status in (200, 201), (row.name, who, status, body)
    else:
        assert (status, (body or {}).get("error", {}).get("code")) == (403, row.refusal), (
            row.name, who, status, body,
        )
