"""Recall and edit, typing expiry, presence, group membership and the HTTP edge's errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import make_settings
from tests.support.client import RequestError
from tests.support.im_client import ImClient


class Http:
    """A user's view of the HTTP API."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}

    async def __call__(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        async with aiohttp.ClientSession(headers=self.headers) as http:
            resp = await http.request(method, self.url + path, **kw)
            body = (
                await resp.json() if resp.content_type == "application/json" else await resp.text()
            )
            return resp.status, body


async def test_recall_within_the_window_leaves_a_tombstone(
    tmp_path: Path, server_factory: Any
) -> None:
    srv = await server_factory(make_settings(tmp_path / "d", CARERTC_IM_RECALL_WINDOW_SECONDS="1"))
    doc = await srv.user("doc", "doctor", display_name="Dr Li")
    pat = await srv.user("pat", "elder")
    fam = await srv.user("fam", "family")
    http = Http(srv.url, srv.token(doc))
    status, conv = await http(
        "POST",
        "/api/v1/conversations",
        json={"kind": "group", "members": [pat.id, fam.id], "title": "Care team"},
    )
    assert status == 201 and conv["title"] == "Care team"
    d = await ImClient(srv.url, srv.token(doc)).connect()
    p = await ImClient(srv.url, srv.token(pat)).connect()
    try:
        mine = await p.send_text(conv["id"], "oops, wrong chat")
        recalled = await p.request("im:recall", {"message_id": mine["id"]})
        assert recalled["message"]["recalled"] and recalled["message"]["body"] == ""
        update = await d.wait_for("im:updated")
        assert update["id"] == mine["id"] and update["recalled"]
        again = await p.call("im:recall", {"message_id": mine["id"]})
        assert again["error"]["code"] == "already_recalled"
        edited_src = await p.send_text(conv["id"], "typo")
        edited = await p.request("im:edit", {"message_id": edited_src["id"], "body": "fixed"})
        assert edited["message"]["body"] == "fixed" and edited["message"]["edited_at"]
        late = await p.send_text(conv["id"], "said it")
        other = await d.send_text(conv["id"], "the doctor's message")
        not_mine = await p.call("im:recall", {"message_id": other["id"]})
        assert not_mine["error"]["code"] == "not_allowed"
        await asyncio.sleep(1.2)
        too_late = await p.call("im:recall", {"message_id": late["id"]})
        assert too_late["error"]["code"] == "recall_window_passed"
        too_late = await p.call("im:edit", {"message_id": late["id"], "body": "x"})
        assert too_late["error"]["code"] == "recall_window_passed"
        # the owner removes any message, any time
        removed = await d.request("im:recall", {"message_id": late["id"]})
        assert removed["message"]["recalled_by"] == doc.id
        history = await d.sync_all(conv["id"])
        tomb = [m["seq"] for m in history if m["recalled"]]
        assert tomb == [mine["seq"], late["seq"]]
        assert [m["seq"] for m in history] == list(range(1, len(history) + 1))
        # HTTP: a message id from a conversation the caller is not in
        outsider = await srv.user("out", "nurse")
        status, body = await Http(srv.url, srv.token(outsider))(
            "POST", f"/api/v1/messages/{other['id']}/recall"
        )
        assert status == 404 and body["error"]["code"] == "message_not_found"
    finally:
        await d.disconnect()
        await p.disconnect()


async def test_typing_expires_and_presence_follows_devices(server: Any) -> None:
    a_user = await server.user("a", "nurse", display_name="Nina")
    b_user = await server.user("b", "elder")
    status, conv = await Http(server.url, server.token(a_user))(
        "POST", "/api/v1/conversations", json={"kind": "direct", "members": [b_user.id]}
    )
    assert status == 201
    b = await ImClient(server.url, server.token(b_user)).connect()
    a = await ImClient(server.url, server.token(a_user)).connect()
    a2 = None
    try:
        online = await b.wait_for("im:presence", lambda e: e["user_id"] == a_user.id)
        assert online["online"] is True
        assert set((await b.request("im:presence", {"conversation_id": conv["id"]}))["online"]) == {
            a_user.id,
            b_user.id,
        }
        await a.request("im:typing", {"conversation_id": conv["id"], "typing": True})
        started = await b.wait_for("im:typing")
        assert started == {
            "conversation_id": conv["id"],
            "user_id": a_user.id,
            "name": "Nina",
            "typing": True,
        }
        # no refresh: it expires by itself
        stopped = await b.wait_for("im:typing", lambda e: not e["typing"], timeout=10)
        assert stopped["user_id"] == a_user.id
        # a send ends typing at once
        b.events["im:typing"].clear()
        await a.request("im:typing", {"conversation_id": conv["id"], "typing": True})
        await a.send_text(conv["id"], "hello")
        await b.wait_for("im:typing", lambda e: not e["typing"], timeout=2)
        # a second device: going offline only when the last one leaves
        a2 = await ImClient(server.url, server.token(a_user)).connect()
        await a.disconnect()
        await asyncio.sleep(0.3)
        assert not [e for e in b.events["im:presence"] if not e["online"]]
        await a2.disconnect()
        offline = await b.wait_for("im:presence", lambda e: not e["online"])
        assert offline["user_id"] == a_user.id
        bad = await b.call("im:typing", {"conversation_id": conv["id"], "typing": "yes"})
        assert bad["error"]["code"] == "bad_request"
    finally:
        await b.disconnect()
        for c in (a, a2):
            if c is not None and c.sio.connected:
                await c.disconnect()


async def test_group_membership_rules(server: Any) -> None:
    nurse = await server.user("n", "nurse")
    doc = await server.user("d", "doctor")
    pat = await server.user("p", "elder")
    as_nurse, as_pat, as_doc = (Http(server.url, server.token(u)) for u in (nurse, pat, doc))
    status, body = await as_pat(
        "POST", "/api/v1/conversations", json={"kind": "group", "members": [nurse.id]}
    )
    assert status == 403 and body["error"]["code"] == "not_allowed"
    status, conv = await as_nurse(
        "POST", "/api/v1/conversations", json={"kind": "group", "members": [pat.id]}
    )
    cid = conv["id"]
    status, body = await as_pat(
        "POST", f"/api/v1/conversations/{cid}/members", json={"user_id": doc.id}
    )
    assert status == 403 and body["error"]["code"] == "not_allowed"
    status, body = await as_doc("GET", f"/api/v1/conversations/{cid}")
    assert status == 404 and body["error"]["code"] == "conversation_not_found"
    d = await ImClient(server.url, server.token(doc)).connect()
    try:
        status, body = await as_nurse(
            "POST", f"/api/v1/conversations/{cid}/members", json={"user_id": doc.id}
        )
        assert status == 200 and {m["user_id"] for m in body["members"]} == {
            nurse.id,
            pat.id,
            doc.id,
        }
        pushed = await d.wait_for("im:conversation")
        assert pushed["id"] == cid
        status, body = await as_nurse(
            "POST", f"/api/v1/conversations/{cid}/members", json={"user_id": "no-such-user"}
        )
        assert status == 404 and body["error"]["code"] == "user_not_found"
        status, _ = await as_doc("DELETE", f"/api/v1/conversations/{cid}/members/{doc.id}")
        assert status == 200
        status, body = await as_doc("GET", f"/api/v1/conversations/{cid}/messages?since_seq=0")
        assert status == 404
        status, body = await as_nurse("GET", f"/api/v1/conversations/{cid}/messages?since_seq=0")
        events = [m["payload"]["event"] for m in body["messages"]]
        assert events == ["member_added", "member_removed"]
    finally:
        await d.disconnect()
    # a direct conversation is not created twice
    _, one = await as_nurse(
        "POST", "/api/v1/conversations", json={"kind": "direct", "members": [pat.id]}
    )
    _, two = await as_pat(
        "POST", "/api/v1/conversations", json={"kind": "direct", "members": [nurse.id]}
    )
    assert one["id"] == two["id"]


@pytest.mark.parametrize(
    "body, code",
    [
        ({"client_msg_id": "x", "type": "text", "body": ""}, "bad_request"),
        ({"client_msg_id": "x", "type": "text", "body": "a" * 4001}, "bad_request"),
        ({"client_msg_id": "../../x", "type": "text", "body": "hi"}, "bad_request"),
        ({"client_msg_id": "x", "type": "system", "body": "hi"}, "not_allowed"),
        ({"client_msg_id": "x", "type": "video", "body": ""}, "bad_request"),
        (
            {"client_msg_id": "x", "type": "image", "payload": {"attachment_id": "nope"}},
            "attachment_not_found",
        ),
        (
            {
                "client_msg_id": "x",
                "type": "card",
                "payload": {"card_type": "questionnaire", "title": "PHQ-9"},
            },
            "bad_request",
        ),
        (
            {
                "client_msg_id": "x",
                "type": "card",
                "payload": {"card_type": "link", "title": "t", "url": "javascript:alert(1)"},
            },
            "bad_request",
        ),
    ],
)
async def test_bad_sends_get_stable_codes_and_change_nothing(
    server: Any, body: dict[str, Any], code: str
) -> None:
    nurse = await server.user("n", "nurse")
    pat = await server.user("p", "elder")
    http = Http(server.url, server.token(nurse))
    _, conv = await http(
        "POST", "/api/v1/conversations", json={"kind": "direct", "members": [pat.id]}
    )
    status, _ = await http(
        "POST",
        f"/api/v1/conversations/{conv['id']}/messages",
        json={"client_msg_id": "ok-1", "body": "kept"},
    )
    assert status == 201
    status, err = await http("POST", f"/api/v1/conversations/{conv['id']}/messages", json=body)
    assert err["error"]["code"] == code, err
    assert status in (400, 403, 404)
    status, page = await http("GET", f"/api/v1/conversations/{conv['id']}/messages?since_seq=0")
    assert [m["body"] for m in page["messages"]] == ["kept"]


async def test_cards_and_malformed_socket_events(server: Any) -> None:
    nurse = await server.user("n", "psychologist")
    pat = await server.user("p", "elder")
    _, conv = await Http(server.url, server.token(nurse))(
        "POST", "/api/v1/conversations", json={"kind": "direct", "members": [pat.id]}
    )
    n = await ImClient(server.url, server.token(nurse)).connect()
    p = await ImClient(server.url, server.token(pat)).connect()
    try:
        card = {
            "card_type": "questionnaire",
            "title": "PHQ-9",
            "description": "Two minutes",
            "url": "https://forms.example.org/phq9",
        }
        await n.request(
            "im:send",
            {"conversation_id": conv["id"], "client_msg_id": "c1", "type": "card", "payload": card},
        )
        got = await p.wait_for("im:message")
        assert got["type"] == "card" and got["payload"] == card
        for event, data in [
            ("im:send", "not an object"),
            ("im:sync", {"conversation_id": conv["id"], "since_seq": -1}),
            ("im:history", {"conversation_id": conv["id"], "limit": 10_000}),
            ("im:read", {"conversation_id": conv["id"], "seq": "x"}),
            ("im:edit", {"message_id": "m"}),
        ]:
            with pytest.raises(RequestError) as err:
                await n.request(event, data)
            assert err.value.code == "bad_request", event
        # the connection still works after the bad requests
        assert (await n.send_text(conv["id"], "still here"))["seq"] == 2
        page = await p.request(
            "im:history", {"conversation_id": conv["id"], "before_seq": 2, "limit": 1}
        )
        assert [m["seq"] for m in page["messages"]] == [1] and page["has_more"] is False
    finally:
        await n.disconnect()
        await p.disconnect()
