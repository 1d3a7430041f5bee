"""The conversation beside a call: joining the call joins the chat; system messages mark the call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import make_settings
from tests.support.im_client import ImClient


async def poll(
    fetch: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], timeout: float = 5
) -> Any:
    """Fetch until ``ok(value)``; fail with the last value after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await fetch()
        if ok(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; last value {value!r}")
        await asyncio.sleep(0.05)


async def _get(url: str, token: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        resp = await http.get(url)
        return resp.status, await resp.json()


async def test_call_members_share_its_conversation(tmp_path: Path, server_factory: Any) -> None:
    srv = await server_factory(make_settings(tmp_path / "d", CARERTC_ROOMS_EMPTY_GRACE_SECONDS="0"))
    nurse = await srv.user("nina", "nurse", display_name="Nina")
    patient = await srv.user("pat", "elder", display_name="Pat")
    stranger = await srv.user("sam", "family")
    n = await ImClient(srv.url, srv.token(nurse)).connect()
    p = await ImClient(srv.url, srv.token(patient, room="visit-1")).connect()
    try:
        await n.request("room:join", {"room_id": "visit-1"})
        await p.request("room:join", {"room_id": "visit-1"})
        status, conv = await _get(
            f"{srv.url}/api/v1/rooms/visit-1/conversation", srv.token(patient, room="visit-1")
        )
        assert status == 200, conv
        assert conv["room_id"] == "visit-1"
        roles = {m["user_id"]: m["role"] for m in conv["members"]}
        assert roles == {nurse.id: "owner", patient.id: "member"}

        async def events() -> list[tuple[str, str | None]]:
            msgs = await n.sync_all(conv["id"])
            return [
                (m["payload"]["event"], m["payload"].get("user_id"))
                for m in msgs
                if m["type"] == "system"
            ]

        await poll(
            lambda: events(),
            lambda e: e == [("call_started", None), ("joined", nurse.id), ("joined", patient.id)],
        )
        await p.send_text(conv["id"], "my blood pressure is 150/95")
        await n.wait_for("im:message", lambda m: m["type"] == "text")
        # someone who may not enter the room cannot see its conversation
        status, body = await _get(
            f"{srv.url}/api/v1/rooms/visit-1/conversation", srv.token(stranger)
        )
        assert status == 403 and body["error"]["code"] == "room_forbidden"
        await p.request("room:leave", {})
        await n.request("room:leave", {})
        await poll(lambda: events(), lambda e: e[-1] == ("call_ended", None))
        assert [e for e, _ in await events()][-3:] == ["left", "left", "call_ended"]
        # the chat outlives the call: the patient still reads it
        history = await p.sync_all(conv["id"])
        assert any(m["body"] == "my blood pressure is 150/95" for m in history)
    finally:
        await n.disconnect()
        await p.disconnect()
