"""Messaging over Socket.IO and HTTP against the running app (SQLite)."""

from __future__ import annotations

import aiohttp
import pytest

from tests.support.client import RequestError
from tests.support.im_client import ImClient


async def test_send_is_acked_after_commit_delivered_and_idempotent(server) -> None:
    nurse = await server.user("nina", "nurse", display_name="Nurse Nina")
    patient = await server.user("pat", "elder", display_name="Pat")
    a = await ImClient(server.url, server.token(nurse)).connect()
    a2 = await ImClient(server.url, server.token(nurse)).connect()
    b = await ImClient(server.url, server.token(patient)).connect()
    try:
        async with aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {server.token(nurse)}"}
        ) as http:
            resp = await http.post(
                f"{server.url}/api/v1/conversations", json={"kind": "direct", "members": [patient.id]}
            )
            assert resp.status == 201, await resp.text()
            conv = await resp.json()
        ack = await a.send_text(conv["id"], "你好 👋", client_msg_id="m-1")
        assert ack["seq"] == 1 and not ack["duplicate"]
        again = await a.send_text(conv["id"], "你好 👋", client_msg_id="m-1")
        assert again == {**ack, "duplicate": True}
        got = await b.wait_for("im:message")
        assert got["body"] == "你好 👋" and got["sender_name"] == "Nurse Nina"
        await a2.wait_for("im:message")
        assert a.events["im:message"] == []
        history = await b.sync_all(conv["id"])
        assert [m["seq"] for m in history] == [1]
        listed = await b.request("im:conversations", {})
        assert listed["conversations"][0]["unread"] == 1
        read = await b.request("im:read", {"conversation_id": conv["id"], "seq": 1})
        assert read == {"read_seq": 1}
        receipt = await a.wait_for("im:read")
        assert receipt["read_seq"] == 1 and receipt["user_id"] == patient.id
        back = await b.request("im:read", {"conversation_id": conv["id"], "seq": 0})
        assert back == {"read_seq": 1}
    finally:
        for c in (a, a2, b):
            await c.disconnect()


async def test_non_member_cannot_see_a_conversation(server) -> None:
    nurse = await server.user("nina", "nurse")
    patient = await server.user("pat", "elder")
    stranger = await server.user("x", "family")
    a = await ImClient(server.url, server.token(nurse)).connect()
    s = await ImClient(server.url, server.token(stranger)).connect()
    try:
        conv = await a.call("im:conversations", {})
        assert conv == {"conversations": []}
        async with aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {server.token(nurse)}"}
        ) as http:
            resp = await http.post(
                f"{server.url}/api/v1/conversations", json={"kind": "direct", "members": [patient.id]}
            )
            cid = (await resp.json())["id"]
        await a.send_text(cid, "private")
        for event, data in [
            ("im:send", {"conversation_id": cid, "client_msg_id": "z", "type": "text", "body": "hi"}),
            ("im:sync", {"conversation_id": cid, "since_seq": 0}),
            ("im:history", {"conversation_id": cid}),
            ("im:read", {"conversation_id": cid, "seq": 1}),
        ]:
            with pytest.raises(RequestError) as err:
                await s.request(event, data)
            assert err.value.code == "conversation_not_found"
        with pytest.raises(RequestError) as err:
            await s.request("im:sync", {"conversation_id": "nope", "since_seq": 0})
        assert err.value.code == "conversation_not_found"
        with pytest.raises(RequestError) as err:
            await s.request("im:send", {"conversation_id": cid})
        assert err.value.code == "bad_request"
    finally:
        await a.disconnect()
        await s.disconnect()


async def test_metrics_count_stored_messages(server) -> None:
    nurse = await server.user("nina", "nurse")
    patient = await server.user("pat", "elder")
    a = await ImClient(server.url, server.token(nurse)).connect()
    try:
        conv = await a.request("im:conversations", {})
        assert conv == {"conversations": []}
        async with aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {server.token(nurse)}"}
        ) as http:
            resp = await http.post(
                f"{server.url}/api/v1/conversations", json={"kind": "direct", "members": [patient.id]}
            )
            cid = (await resp.json())["id"]
            for i in range(3):
                await a.send_text(cid, f"m{i}", client_msg_id=f"m{i}")
            await a.send_text(cid, "m0", client_msg_id="m0")  # a resend is not counted
            text = await (await http.get(f"{server.url}/metrics")).text()
        assert "carertc_im_messages_written_total 3" in text
    finally:
        await a.disconnect()


async def test_unread_counts_others_messages_only(server) -> None:
    nurse = await server.user("nina", "nurse")
    patient = await server.user("pat", "elder")
    a = await ImClient(server.url, server.token(nurse)).connect()
    b = await ImClient(server.url, server.token(patient)).connect()
    try:
        async with aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {server.token(nurse)}"}
        ) as http:
            resp = await http.post(
                f"{server.url}/api/v1/conversations", json={"kind": "direct", "members": [patient.id]}
            )
            cid = (await resp.json())["id"]
        for i in range(3):
            await a.send_text(cid, f"from nurse {i}")
        recalled = await a.send_text(cid, "oops")
        await a.request("im:recall", {"message_id": recalled["id"]})
        await b.send_text(cid, "from patient")
        mine = (await a.request("im:conversations", {}))["conversations"][0]
        theirs = (await b.request("im:conversations", {}))["conversations"][0]
        assert (mine["unread"], theirs["unread"]) == (1, 3)
        await b.request("im:read", {"conversation_id": cid, "seq": theirs["last_seq"]})
        assert (await b.request("im:conversations", {}))["conversations"][0]["unread"] == 0
    finally:
        await a.disconnect()
        await b.disconnect()
