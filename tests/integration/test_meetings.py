"""Meetings over HTTP and Socket.IO: schedule, reschedule, cancel, invite links, guests joining.

The API tests run on SQLite and on PostgreSQL (``db_server``).
"""

from __future__ import annotations

import asyncio
import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image

from tests.support.client import TestClient
from tests.support.meetings import Api, Clock, db_server_fixture, iso, services  # noqa: F401


def _in(minutes: float, now: datetime | None = None) -> str:
    return iso((now or datetime.now(UTC)) + timedelta(minutes=minutes))


async def _client(server: Any, token: str, name: str, clients: list[TestClient]) -> TestClient:
    client = TestClient(server.url, token, name=name)
    clients.append(client)
    await client.connect()
    return client


async def _record(api: Api, mid: str, ok: Any, timeout: float = 5.0) -> dict[str, Any]:
    """The meeting's service record once ``ok(record)`` holds (attendance is written async)."""
    record: dict[str, Any] | None = None
    for _ in range(int(timeout / 0.05)):
        records = await api("GET", "/api/v1/meetings", expect=200)
        record = next((r for r in records["meetings"] if r["id"] == mid), None)
        if record is not None and ok(record):
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"the record of {mid} never matched: {record}")


async def _join_error(client: TestClient, room_id: str) -> str:
    ack = await client.call("room:join", {"room_id": room_id})
    assert "error" in ack, ack
    return str(ack["error"]["code"])


async def test_schedule_reschedule_invite_link_and_a_guest_joins(db_server: Any) -> None:
    server = db_server
    host = await server.user("dr-lee", "doctor", display_name="Dr Lee", organisation="org-a")
    nurse = await server.user("nina", "nurse", display_name="Nina", organisation="org-a")
    stranger = await server.user("dr-x", "doctor", organisation="org-a")
    api = Api(server.url, server.token(host))
    clients: list[TestClient] = []
    try:
        nurse_client = await _client(server, server.token(nurse), "nurse", clients)

        created = datetime.now(UTC)
        meeting = await api(
            "POST",
            "/api/v1/meetings",
            {
                "title": "Wound care follow-up",
                "category": "realtime",
                "start_at": _in(60, created),
                "end_at": _in(90, created),  # exactly 30 minutes
                "invitees": ["nina"],
            },
            expect=201,
        )
        mid, room_id = meeting["id"], meeting["room_id"]
        assert room_id == f"meeting-{mid}"
        assert meeting["status"] == "scheduled" and meeting["org_id"] == "org-a"
        assert meeting["host_name"] == "Dr Lee" and meeting["conversation_id"]
        assert [i["user_id"] for i in meeting["invitees"]] == [nurse.id]
        update = await nurse_client.wait_event("meeting:update")
        assert update["action"] == "scheduled" and update["meeting"]["id"] == mid

        # the invitee is a member of the meeting's conversation (documents go there)
        convs = await Api(server.url, server.token(nurse))(
            "GET", "/api/v1/conversations", expect=200
        )
        assert meeting["conversation_id"] in {c["id"] for c in convs["conversations"]}

        # reschedule: the invitee is told
        moved = await api(
            "PATCH",
            f"/api/v1/meetings/{mid}",
            {"start_at": _in(120), "title": "Wound care (moved)"},
            expect=200,
        )
        assert moved["title"] == "Wound care (moved)" and moved["start_at"] != meeting["start_at"]
        update = await nurse_client.wait_event(
            "meeting:update", lambda e: e["action"] == "rescheduled"
        )
        assert update["meeting"]["start_at"] == moved["start_at"]
        # the length is kept when only the start moves
        length = datetime.fromisoformat(moved["end_at"]) - datetime.fromisoformat(moved["start_at"])
        assert length == timedelta(minutes=30)

        # an invite link
        created = await api("POST", f"/api/v1/meetings/{mid}/invites", {}, expect=201)
        token = created["token"]
        assert created["url"] == f"{server.url}/join/{token}"
        expires = datetime.fromisoformat(created["invite"]["expires_at"])
        assert abs(expires - datetime.now(UTC) - timedelta(hours=24)) < timedelta(minutes=1)
        listed = await api("GET", f"/api/v1/meetings/{mid}/invites", expect=200)
        assert [i["id"] for i in listed["invites"]] == [created["invite"]["id"]]
        assert "token" not in listed["invites"][0]

        # a guest, without an account, opens the link and joins
        public = Api(server.url)
        info = await public("GET", f"/api/v1/invites/{token}", expect=200)
        assert info["meeting"]["title"] == "Wound care (moved)"
        assert info["meeting"]["host_name"] == "Dr Lee"
        joined = await public(
            "POST", f"/api/v1/invites/{token}/join", {"name": " Grace  Guest "}, expect=201
        )
        assert joined["room_id"] == room_id and joined["user"]["role"] == "guest"
        claims = server.tokens.verify(joined["token"])
        assert (claims.role, claims.room, claims.name) == ("guest", room_id, "Grace Guest")
        assert claims.exp - claims.iat <= 4 * 3600
        assert (await public("POST", f"/api/v1/invites/{token}/join", {"name": ""}))["error"][
            "code"
        ] == "bad_request"

        host_client = await _client(server, server.token(host), "host", clients)
        ack = await host_client.join(room_id)
        assert ack["self"]["host"] is True
        guest = await _client(server, joined["token"], "guest", clients)
        ack = await guest.join(room_id)
        assert ack["self"]["role"] == "guest" and ack["self"]["host"] is False
        assert ack["self"]["name"] == "Grace Guest"
        assert ack["permissions"] == {"publish": True, "screen": False}
        assert [p["id"] for p in ack["participants"]] == [host_client.participant_id]
        await host_client.wait_event("participant:joined")
        # guests: no screen share, no host controls
        assert (await guest.call("screen:start", {}))["error"]["code"] == "permission_denied"
        assert (await guest.call("room:lock", {"locked": True}))["error"]["code"] == (
            "permission_denied"
        )
        # the invitee enters; someone not invited does not
        nurse_join = await nurse_client.join(room_id)
        assert nurse_join["self"]["host"] is False
        other = await _client(server, server.token(stranger), "stranger", clients)
        assert await _join_error(other, room_id) == "room_forbidden"

        # the room opening made the meeting live
        live = await api("GET", f"/api/v1/meetings/{mid}", expect=200)
        assert live["status"] == "live" and live["started_at"]
        record = await _record(api, mid, lambda r: r["participant_count"] == 3)
        assert all(p["left_at"] is None for p in record["participants"])

        # the host ends it through the API: everyone gets room:ended, the link stops working
        ended = await api("POST", f"/api/v1/meetings/{mid}/end", expect=200)
        assert ended["status"] == "ended" and ended["ended_at"]
        for client in (guest, host_client, nurse_client):
            assert (await client.wait_event("room:ended"))["room_id"] == room_id
        assert await _join_error(guest, room_id) == "room_forbidden"
        gone = await public("POST", f"/api/v1/invites/{token}/join", {"name": "Late"})
        assert gone["error"]["code"] == "invite_invalid"
        await nurse_client.wait_event("meeting:update", lambda e: e["action"] == "ended")
        record = await _record(api, mid, lambda r: all(p["left_at"] for p in r["participants"]))
        assert record["participant_count"] == 3
        assert {p["name"] for p in record["participants"]} == {"Dr Lee", "Grace Guest", "Nina"}
        assert any(p["guest"] for p in record["participants"])
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def test_expired_revoked_and_used_up_links_are_refused(db_server: Any) -> None:
    server = db_server
    meetings, _, _, _ = services(server)
    clock = Clock()
    meetings.clock = clock
    host = await server.user("host", "nurse", organisation="org-a")
    api = Api(server.url, server.token(host))
    public = Api(server.url)
    meeting = await api("POST", "/api/v1/meetings", {"category": "quick"}, expect=201)
    mid = meeting["id"]
    assert meeting["status"] == "live" and meeting["title"] == "Quick support"

    short = await api(
        "POST", f"/api/v1/meetings/{mid}/invites", {"expires_in_seconds": 60}, expect=201
    )
    revoked = await api("POST", f"/api/v1/meetings/{mid}/invites", {}, expect=201)
    once = await api("POST", f"/api/v1/meetings/{mid}/invites", {"max_uses": 1}, expect=201)

    await public("POST", f"/api/v1/invites/{short['token']}/join", {"name": "Early"}, expect=201)
    clock.advance(61)
    for path in (f"/api/v1/invites/{short['token']}", f"/api/v1/invites/{short['token']}/join"):
        body = await public(
            "POST" if path.endswith("join") else "GET", path, {"name": "Late"}, expect=410
        )
        assert body["error"]["code"] == "invite_invalid"

    revoke = await api(
        "DELETE", f"/api/v1/meetings/{mid}/invites/{revoked['invite']['id']}", expect=200
    )
    assert revoke["revoked_at"]
    body = await public(
        "POST", f"/api/v1/invites/{revoked['token']}/join", {"name": "R"}, expect=410
    )
    assert body["error"]["code"] == "invite_invalid"

    await public("POST", f"/api/v1/invites/{once['token']}/join", {"name": "First"}, expect=201)
    body = await public(
        "POST", f"/api/v1/invites/{once['token']}/join", {"name": "Second"}, expect=410
    )
    assert body["error"]["code"] == "invite_invalid"
    listed = await api("GET", f"/api/v1/meetings/{mid}/invites", expect=200)
    uses = {i["id"]: i["uses"] for i in listed["invites"]}
    assert uses == {short["invite"]["id"]: 1, revoked["invite"]["id"]: 0, once["invite"]["id"]: 1}

    body = await public("POST", "/api/v1/invites/not-a-real-token/join", {"name": "X"}, expect=404)
    assert body["error"]["code"] == "invite_not_found"
    bad = await api("POST", f"/api/v1/meetings/{mid}/invites", {"max_uses": 0}, expect=400)
    assert bad["error"]["code"] == "bad_request"


async def test_qr_codes_are_a_png_and_an_svg_of_the_link(server: Any) -> None:
    host = await server.user("host", "doctor", organisation="org-a")
    other = await server.user("other", "doctor", organisation="org-a")
    api = Api(server.url, server.token(host))
    meeting = await api("POST", "/api/v1/meetings", {"category": "quick"}, expect=201)
    created = await api("POST", f"/api/v1/meetings/{meeting['id']}/invites", {}, expect=201)

    status, headers, png = await api.raw("GET", created["qr_png"])
    assert status == 200 and headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.size[0] == image.size[1] >= 100

    status, headers, svg = await api.raw("GET", created["qr_svg"])
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and len(list(root.iter())) > 1

    assert (await Api(server.url).raw("GET", created["qr_png"]))[0] == 401
    # a doctor of the organisation may see the meeting (stats.view) but not manage it
    assert (await Api(server.url, server.token(other)).raw("GET", created["qr_png"]))[0] == 403
    wrong = f"/api/v1/meetings/{meeting['id']}/invites/nope/qr.png"
    assert (await api.raw("GET", wrong))[0] == 404


async def test_cancel_and_who_may_do_what(db_server: Any) -> None:
    server = db_server
    host = await server.user("host", "doctor", organisation="org-a")
    invitee = await server.user("fam", "family", organisation="org-a")
    admin = await server.user("boss", "admin", organisation="org-a")
    api = Api(server.url, server.token(host))
    fam = Api(server.url, server.token(invitee))
    clients: list[TestClient] = []
    try:
        fam_client = await _client(server, server.token(invitee), "family", clients)
        # family may join meetings but not schedule them
        denied = await fam("POST", "/api/v1/meetings", {"category": "quick"}, expect=403)
        assert denied["error"]["code"] == "permission_denied"
        meeting = await api(
            "POST",
            "/api/v1/meetings",
            {"title": "Family briefing", "start_at": _in(30), "invitees": [invitee.id]},
            expect=201,
        )
        mid = meeting["id"]
        assert (await fam("GET", f"/api/v1/meetings/{mid}", expect=200))["id"] == mid
        assert (await fam("PATCH", f"/api/v1/meetings/{mid}", {"title": "x"}, expect=403))["error"][
            "code"
        ] == "permission_denied"
        stranger = Api(server.url, server.token(await server.user("s", "doctor")))
        assert (await stranger("GET", f"/api/v1/meetings/{mid}", expect=404))["error"][
            "code"
        ] == "meeting_not_found"
        await fam("POST", f"/api/v1/meetings/{mid}/respond", {"response": "accepted"}, expect=200)
        # bad input
        for body in (
            {"title": "t", "start_at": "tomorrow"},
            {"title": "t", "start_at": _in(60), "end_at": _in(30)},
            {"title": "t", "category": "other", "start_at": _in(5)},
            {"title": "t"},
        ):
            assert (await api("POST", "/api/v1/meetings", body, expect=400))["error"][
                "code"
            ] == "bad_request"
        assert (
            await api(
                "POST",
                "/api/v1/meetings",
                {"title": "t", "start_at": _in(5), "invitees": ["nobody-here"]},
                expect=404,
            )
        )["error"]["code"] == "user_not_found"

        # the organisation's admin may manage it too; invitees change
        link = await api("POST", f"/api/v1/meetings/{mid}/invites", {}, expect=201)
        boss = Api(server.url, server.token(admin))
        changed = await boss("PATCH", f"/api/v1/meetings/{mid}", {"invitees": []}, expect=200)
        assert changed["invitees"] == []
        gone = await fam_client.wait_event("meeting:update", lambda e: e["action"] == "uninvited")
        assert gone["meeting"]["id"] == mid
        await boss("PATCH", f"/api/v1/meetings/{mid}", {"invitees": ["fam"]}, expect=200)

        cancelled = await api("POST", f"/api/v1/meetings/{mid}/cancel", expect=200)
        assert cancelled["status"] == "cancelled"
        await fam_client.wait_event("meeting:update", lambda e: e["action"] == "cancelled")
        for path in (f"/api/v1/meetings/{mid}/cancel", f"/api/v1/meetings/{mid}/start"):
            assert (await api("POST", path, expect=409))["error"]["code"] == "bad_state"
        assert (await api("PATCH", f"/api/v1/meetings/{mid}", {"title": "again"}, expect=409))[
            "error"
        ]["code"] == "bad_state"
        assert (await api("POST", f"/api/v1/meetings/{mid}/invites", {}, expect=409))["error"][
            "code"
        ] == "bad_state"
        assert (
            await Api(server.url)(
                "POST", f"/api/v1/invites/{link['token']}/join", {"name": "G"}, expect=410
            )
        )["error"]["code"] == "invite_invalid"
        assert await _join_error(fam_client, f"meeting-{mid}") == "room_forbidden"
        assert (await api("GET", "/api/v1/meetings/not-a-meeting", expect=404))["error"][
            "code"
        ] == "meeting_not_found"
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def test_quick_support_ends_when_its_call_empties(db_server: Any) -> None:
    server = db_server
    host = await server.user("host", "staff", organisation="org-a")
    api = Api(server.url, server.token(host))
    clients: list[TestClient] = []
    try:
        meeting = await api("POST", "/api/v1/meetings", {"category": "quick"}, expect=201)
        room_id = meeting["room_id"]
        client = await _client(server, server.token(host), "host", clients)
        await client.join(room_id)
        await client.leave()

        async def status() -> str:
            return str((await api("GET", f"/api/v1/meetings/{meeting['id']}"))["status"])

        for _ in range(100):
            if await status() == "ended":
                break
            await asyncio.sleep(0.05)
        assert await status() == "ended"
        assert await _join_error(client, room_id) == "room_forbidden"
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def test_reminders_go_to_invitees_once_before_the_start(db_server: Any) -> None:
    server = db_server
    meetings, _, _, reminders = services(server)
    clock = Clock()
    meetings.clock = clock
    host = await server.user("host", "doctor", organisation="org-a")
    elder = await server.user("elder", "elder", organisation="org-a")
    api = Api(server.url, server.token(host))
    clients: list[TestClient] = []
    try:
        elder_client = await _client(server, server.token(elder), "elder", clients)
        start = clock.now + timedelta(minutes=30)
        meeting = await api(
            "POST",
            "/api/v1/meetings",
            {
                "title": "Check-in",
                "start_at": iso(start),
                "invitees": [elder.id],
                "reminder_minutes": 15,
            },
            expect=201,
        )
        assert await reminders.run_once(clock.now) == 0  # 30 min before: too early
        clock.advance(16 * 60)
        assert await reminders.run_once(clock.now) == 1
        reminder = await elder_client.wait_event("meeting:reminder")
        assert reminder["meeting"]["id"] == meeting["id"] and reminder["starts_in_minutes"] == 14
        assert await reminders.run_once(clock.now) == 0  # once
        got = await api("GET", f"/api/v1/meetings/{meeting['id']}", expect=200)
        assert got["invitees"][0]["reminded_at"] == iso(clock.now).replace("Z", ".000Z")

        # moved: reminded again before the new start
        await api(
            "PATCH",
            f"/api/v1/meetings/{meeting['id']}",
            {"start_at": iso(clock.now + timedelta(minutes=60))},
            expect=200,
        )
        assert await reminders.run_once(clock.now) == 0
        clock.advance(50 * 60)
        assert await reminders.run_once(clock.now) == 1
        await elder_client.wait_for(lambda: len(elder_client.events["meeting:reminder"]) == 2)

        # the server default (10 minutes) when the meeting sets none
        other = await api(
            "POST",
            "/api/v1/meetings",
            {
                "title": "Default",
                "start_at": iso(clock.now + timedelta(minutes=11)),
                "invitees": [elder.id],
            },
            expect=201,
        )
        assert other["reminder_minutes"] is None
        assert await reminders.run_once(clock.now) == 0
        clock.advance(90)
        assert await reminders.run_once(clock.now) == 1
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
