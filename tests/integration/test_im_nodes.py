"""Two server processes' worth of apps sharing PostgreSQL and Redis: one conversation, one order."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import make_settings
from tests.support.im_client import ImClient

REDIS_URL = os.environ.get("REDIS_URL_TEST", "redis://127.0.0.1:6379/15")
pytestmark = pytest.mark.postgres


async def test_two_nodes_one_conversation_gap_free(
    tmp_path: Path, server_factory: Any, pg_url: str
) -> None:
    base = make_settings(tmp_path / "n1", DATABASE_URL=pg_url)
    node1 = await server_factory(dataclasses.replace(base, redis_url=REDIS_URL))
    node2 = await server_factory(
        dataclasses.replace(
            make_settings(tmp_path / "n2", DATABASE_URL=pg_url), redis_url=REDIS_URL
        )
    )
    alice = await node1.user("alice", "nurse", display_name="Alice")
    bob = await node1.user("bob", "elder", display_name="Bob")
    async with aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {node1.token(alice)}"}
    ) as http:
        resp = await http.post(
            f"{node1.url}/api/v1/conversations", json={"kind": "direct", "members": [bob.id]}
        )
        conv = (await resp.json())["id"]
    b = await ImClient(node2.url, node2.token(bob)).connect()
    a = await ImClient(node1.url, node1.token(alice)).connect()
    try:
        # presence and live delivery cross nodes
        seen = await b.wait_for("im:presence", lambda e: e["user_id"] == alice.id)
        assert seen["online"] is True
        online = await b.request("im:presence", {"conversation_id": conv})
        assert set(online["online"]) == {alice.id, bob.id}
        await a.send_text(conv, "from node 1")
        got = await b.wait_for("im:message")
        assert got["body"] == "from node 1"

        # writers on both nodes at once: one gap-free order
        async def burst(client: ImClient, prefix: str) -> list[dict[str, Any]]:
            return await asyncio.gather(
                *(client.send_text(conv, f"{prefix}{i}", f"{prefix}{i}") for i in range(150))
            )

        acks_a, acks_b = await asyncio.gather(burst(a, "a"), burst(b, "b"))
        seqs = sorted(x["seq"] for x in acks_a + acks_b)
        assert seqs == list(range(2, 302))
        history = await a.sync_all(conv)
        assert [m["seq"] for m in history] == list(range(1, 302))
        assert {m["client_msg_id"] for m in history[1:]} == {f"a{i}" for i in range(150)} | {
            f"b{i}" for i in range(150)
        }
        await a.disconnect()
        gone = await b.wait_for(
            "im:presence", lambda e: e["user_id"] == alice.id and not e["online"]
        )
        assert gone
        assert (await b.request("im:presence", {"conversation_id": conv}))["online"] == [bob.id]
    finally:
        for c in (a, b):
            if c.sio.connected:
                await c.disconnect()
