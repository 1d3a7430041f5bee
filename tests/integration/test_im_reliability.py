"""Acknowledged means stored, exactly once: drops, resends and a killed server.

Real python-socketio clients against the running app, on SQLite and on
PostgreSQL (``pg_url``).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from accounts.tokens import TokenService
from tests.conftest import TEST_JWT_SECRET, make_settings
from tests.support.im_client import ImClient
from tests.support.im_reliable import ReliableDevice

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
async def im_server(request: pytest.FixtureRequest, tmp_path: Path, server_factory: Any) -> Any:
    """The app on SQLite or PostgreSQL."""
    env = {}
    if request.param == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("pg_url")
    return await server_factory(make_settings(tmp_path / "data", **env))


async def _direct(url: str, token: str, other: str) -> str:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        resp = await http.post(
            f"{url}/api/v1/conversations", json={"kind": "direct", "members": [other]}
        )
        assert resp.status in (200, 201), await resp.text()
        return (await resp.json())["id"]


def _check_history(history: list[dict[str, Any]], expected_ids: set[str]) -> None:
    seqs = [m["seq"] for m in history]
    assert seqs == list(range(1, len(history) + 1)), "gaps or disorder in seq"
    cmids = [m["client_msg_id"] for m in history]
    assert len(cmids) == len(set(cmids)), "a client_msg_id stored twice"
    assert set(cmids) == expected_ids


async def test_1000_messages_with_random_drops_arrive_once_in_order(im_server: Any) -> None:
    srv = im_server
    alice = await srv.user("alice", "nurse", display_name="Alice")
    bob = await srv.user("bob", "elder", display_name="Bob")
    conv = await _direct(srv.url, srv.token(alice), bob.id)
    a = ReliableDevice(lambda: srv.url, srv.token(alice), conv)
    b = ReliableDevice(lambda: srv.url, srv.token(bob), conv)
    rng = random.Random(20261130)
    planned = {dev: [f"{name}-{i}" for i in range(500)] for dev, name in ((a, "a"), (b, "b"))}
    done = asyncio.Event()

    async def sender(dev: ReliableDevice) -> None:
        window = asyncio.Semaphore(4)

        async def one(cmid: str) -> None:
            async with window:
                await dev.send(cmid, f"{cmid} 你好 👋")
                if rng.random() < 1 / 40:  # also drop mid-stream, with sends in flight
                    await dev.drop()

        await asyncio.gather(*(one(c) for c in planned[dev]))

    async def chaos() -> None:
        while not done.is_set():
            await asyncio.sleep(rng.uniform(0.02, 0.15))
            await rng.choice([a, b]).drop()

    try:
        chaos_task = asyncio.create_task(chaos())
        await asyncio.wait_for(asyncio.gather(sender(a), sender(b)), 240)
        done.set()
        await chaos_task
        expected = set(planned[a]) | set(planned[b])
        history_a = await a.catch_up()
        history_b = await b.catch_up()
        _check_history(history_a, expected)
        assert [m["id"] for m in history_a] == [m["id"] for m in history_b]
        assert not a.conflicts and not b.conflicts
        by_cmid = {m["client_msg_id"]: m for m in history_a}
        for dev in (a, b):
            for cmid, ack in dev.acked.items():
                assert by_cmid[cmid]["id"] == ack["id"] and by_cmid[cmid]["seq"] == ack["seq"]
        assert a.reconnects + b.reconnects >= 10
        # a fresh device sees the same 1,000, in order
        fresh = ImClient(srv.url, srv.token(bob))
        await fresh.connect()
        try:
            assert [m["id"] for m in await fresh.sync_all(conv)] == [m["id"] for m in history_a]
            listed = await fresh.request("im:conversations", {})
            assert listed["conversations"][0]["last_seq"] == 1000
        finally:
            await fresh.disconnect()
    finally:
        done.set()
        await a.close()
        await b.close()


async def test_resend_after_a_lost_ack_returns_the_original(im_server: Any) -> None:
    srv = im_server
    alice = await srv.user("alice", "nurse")
    bob = await srv.user("bob", "elder")
    conv = await _direct(srv.url, srv.token(alice), bob.id)
    a = await ImClient(srv.url, srv.token(alice)).connect()
    b = await ImClient(srv.url, srv.token(bob)).connect()
    try:
        msg = {"conversation_id": conv, "client_msg_id": "lost-ack", "type": "text", "body": "hi"}
        await a.sio.emit("im:send", msg)  # no ack requested: as if the ack were lost
        first = await b.wait_for("im:message")
        await a.disconnect()
        a = await ImClient(srv.url, srv.token(alice)).connect()
        again = await a.request("im:send", msg)
        assert again["duplicate"] is True
        assert (again["id"], again["seq"]) == (first["id"], first["seq"])
        # concurrent resends of one id (one batch or several) also make one message
        twin = {**msg, "client_msg_id": "twin"}
        acks = await asyncio.gather(*(a.request("im:send", twin) for _ in range(5)))
        assert len({x["id"] for x in acks}) == 1
        assert sum(not x["duplicate"] for x in acks) == 1
        # the same id in another conversation is a conflict, not a silent duplicate
        carol = await srv.user("carol", "family")
        other = await _direct(srv.url, srv.token(alice), carol.id)
        conflict = await a.call("im:send", {**msg, "conversation_id": other})
        assert conflict["error"]["code"] == "client_msg_id_conflict"
        history = await b.sync_all(conv)
        assert [m["client_msg_id"] for m in history] == ["lost-ack", "twin"]
        await asyncio.sleep(0.2)
        assert len(b.events["im:message"]) == 2  # resends are not delivered again
    finally:
        await a.disconnect()
        await b.disconnect()


# ---------------------------------------------------------------- SIGKILL

CARERTC = Path(sys.executable).parent / "carertc"


def _serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    out = open(log, "ab")  # noqa: SIM115 - the process owns it
    proc = subprocess.Popen(
        [str(CARERTC), "serve", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=out,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            break
    raise AssertionError(f"server did not start: {log.read_text()[-2000:]}")


@pytest.mark.parametrize("backend", BACKENDS)
async def test_acked_messages_survive_sigkill(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = tmp_path / "data"
    db = (
        request.getfixturevalue("pg_url")
        if backend == "postgres"
        else f"sqlite:///{data / 'carertc.db'}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARERTC_")}
    env.update(
        CARERTC_DATA_DIR=str(data),
        CARERTC_AUTH_JWT_SECRET=TEST_JWT_SECRET,
        CARERTC_LOG_LEVEL="WARNING",
        DATABASE_URL=db,
    )
    env.pop("REDIS_URL", None)
    ids = {}
    for name, role in (("alice", "nurse"), ("bob", "elder")):
        out = subprocess.run(  # noqa: ASYNC221 - setup before the server starts
            [str(CARERTC), "user", "add", name, "--role", role, "--password", "pw"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        ids[name] = re.search(r"[0-9a-f-]{36}", out.stdout + out.stderr).group(0)  # type: ignore[union-attr]
    tokens = TokenService(TEST_JWT_SECRET, "carertc", "carertc")
    tok = {
        n: tokens.issue(
            user_id=i, name=n, role="nurse" if n == "alice" else "elder", ttl_seconds=3600
        )
        for n, i in ids.items()
    }
    proc, url = _serve(env, tmp_path / "server.log")
    current = {"url": url}
    try:
        conv = await _direct(url, tok["alice"], ids["bob"])
        a = ReliableDevice(lambda: current["url"], tok["alice"], conv)
        b = ReliableDevice(lambda: current["url"], tok["bob"], conv)
        acked_before: dict[str, dict[str, Any]] = {}
        stop = asyncio.Event()
        attempted: list[str] = []

        async def pump(dev: ReliableDevice, prefix: str) -> None:
            i = 0
            while not stop.is_set():
                cmid = f"{prefix}-{i}"
                i += 1
                attempted.append(cmid)
                client = await dev.ensure()
                try:
                    ack = await client.request(
                        "im:send",
                        {
                            "conversation_id": conv,
                            "client_msg_id": cmid,
                            "type": "text",
                            "body": cmid,
                        },
                        timeout=3,
                    )
                except Exception:  # noqa: BLE001 - the server died mid-request
                    return
                acked_before[cmid] = ack

        async def writer(prefix: str, dev: ReliableDevice) -> None:
            await asyncio.gather(*(pump(dev, f"{prefix}{w}") for w in range(4)))

        pumps = asyncio.gather(writer("a", a), writer("b", b))
        while len(acked_before) < 300:
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # while sends are in flight
        proc.wait(timeout=10)
        stop.set()
        await asyncio.wait_for(pumps, 30)
        a.down.set()
        b.down.set()
        in_flight = [c for c in attempted if c not in acked_before]
        assert in_flight, "the kill should interrupt some sends"

        proc, current["url"] = _serve(env, tmp_path / "server.log")
        history = await a.catch_up()
        by_cmid = {m["client_msg_id"]: m for m in history}
        for cmid, ack in acked_before.items():
            assert cmid in by_cmid, f"acked {cmid} lost by the kill"
            assert (by_cmid[cmid]["id"], by_cmid[cmid]["seq"]) == (ack["id"], ack["seq"])
        # the clients resend what had no ack: each lands exactly once
        for cmid in in_flight:
            dev = a if cmid.startswith("a") else b
            await dev.send(cmid, cmid)
        _check_history(await b.catch_up(), set(attempted))
        await a.close()
        await b.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
