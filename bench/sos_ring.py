"""SOS ring fan-out: time from raising an SOS to ``sos:ring`` arriving on every contact's device.

Starts ``carertc serve`` as a separate process (SQLite in a temporary
directory, or ``--db-url``), creates ``--elders`` elders with ``--contacts``
tier-1 care contacts each straight in the database, connects one socket per
elder and per contact (a raw Engine.IO v4 / Socket.IO v5 websocket client,
cheap enough that one client process keeps up), then raises ``--raises``
SOS alerts at ``--rate`` per second, round robin over the elders. Each
contact device answers ``sos:ringing`` as the web client does; the elder
cancels once all its contacts rang. Prints p50/p90/p99/max of raise->ring per
device, of the raise ack, and the server's CPU time::

    .venv/bin/python bench/sos_ring.py --raises 200 --contacts 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accounts.models import User
from accounts.org_models import CareContact, Organisation, OrgMember
from accounts.tokens import TokenService
from db.engine import create_engine, session_factory

SECRET = "bench-secret-" + "0123456789abcdef" * 3
CARERTC = Path(sys.executable).with_name("carertc")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(workdir: Path, db_url: str) -> tuple[subprocess.Popen[bytes], str]:
    """``carertc serve`` on a free port; returns once it answers /health."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CARERTC_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        CARERTC_DATA_DIR=str(workdir / "data"), CARERTC_SERVER_HOST="127.0.0.1",
        CARERTC_SERVER_PORT=str(port), CARERTC_AUTH_JWT_SECRET=SECRET, DATABASE_URL=db_url,
        CARERTC_LOG_LEVEL="WARNING", CARERTC_SOS_RING_TIMEOUT_SECONDS="600",
    )
    with open(workdir / "server.log", "ab") as out:
        proc = subprocess.Popen([str(CARERTC), "serve"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((workdir / "server.log").read_text()[-2000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("carertc serve did not start within 60 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def seed(db_url: str, elders: int, contacts: int) -> list[tuple[str, list[str]]]:
    """An organisation, elders and their tier-1 contacts; [(elder id, [contact ids])]."""
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    world: list[tuple[str, list[str]]] = []
    try:
        async with sessions() as s, s.begin():
            org = Organisation(id=str(uuid.uuid4()), name=f"bench {uuid.uuid4().hex[:8]}")
            s.add(org)
            for e in range(elders):
                elder = User(id=str(uuid.uuid4()), name=f"elder{e}-{uuid.uuid4().hex[:6]}",
                             display_name=f"Elder {e}", role="elder")
                s.add(elder)
                ids = []
                for c in range(contacts):
                    contact = User(id=str(uuid.uuid4()),
                                   name=f"family{e}-{c}-{uuid.uuid4().hex[:6]}",
                                   display_name=f"Family {e}.{c}", role="family")
                    s.add(contact)
                    ids.append(contact.id)
                await s.flush()
                s.add(OrgMember(org_id=org.id, user_id=elder.id, role="elder"))
                for cid in ids:
                    s.add(OrgMember(org_id=org.id, user_id=cid, role="family"))
                    s.add(CareContact(elder_id=elder.id, contact_id=cid, relation="family",
                                      tier=1))
                world.append((elder.id, ids))
    finally:
        await engine.dispose()
    return world


class Sock:
    """One Socket.IO connection over a raw websocket (events, acks, pings)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.next_id = 0
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.on_event: Any = None
        self.reader: asyncio.Task[None] | None = None

    async def connect(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        """Open and authenticate; start reading."""
        ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = await http.ws_connect(ws_url, autoping=False, max_msg_size=0)
        opened = await self.ws.receive_str(timeout=10)
        if not opened.startswith("0"):
            raise RuntimeError(f"unexpected open packet {opened[:80]!r}")
        await self.ws.send_str("40" + json.dumps({"token": token}))
        reply = await self.ws.receive_str(timeout=10)
        if not reply.startswith("40"):
            raise RuntimeError(f"{self.name}: connect refused: {reply[:200]}")
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data: str = msg.data
            now = time.monotonic()
            if data == "2":
                await self.ws.send_str("3")
            elif data.startswith("43"):
                i = 2
                while data[i].isdigit():
                    i += 1
                future = self.acks.pop(int(data[2:i]), None)
                if future is not None and not future.done():
                    future.set_result(json.loads(data[i:])[0])
            elif data.startswith("42") and self.on_event is not None:
                event, payload = json.loads(data[2:])[:2]
                self.on_event(event, payload, now)

    async def emit(self, event: str, payload: Any, ack: bool = False) -> Any:
        """Send an event; with ``ack`` wait for and return the ack payload."""
        assert self.ws is not None
        if not ack:
            await self.ws.send_str("42" + json.dumps([event, payload]))
            return None
        self.next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[self.next_id] = future
        await self.ws.send_str(f"42{self.next_id}" + json.dumps([event, payload]))
        return await asyncio.wait_for(future, 10)

    async def close(self) -> None:
        """Close the websocket."""
        if self.reader is not None:
            self.reader.cancel()
        if self.ws is not None:
            await self.ws.close()


@dataclass
class Raise:
    """One raised SOS and when each contact's ring arrived."""

    sent: float
    acked: float = 0.0
    sos_id: str = ""
    rings: dict[int, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank quantile; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the server, run the raises, return the figures."""
    workdir = Path(tempfile.mkdtemp(prefix="carertc-sos-bench-"))
    db_url = args.db_url or f"sqlite+aiosqlite:///{workdir / 'data' / 'carertc.db'}"
    proc, url = start_server(workdir, db_url)
    tokens = TokenService(SECRET, "carertc", "carertc")
    try:
        world = await seed(db_url, args.elders, args.contacts)
        current: dict[int, Raise] = {}  # elder index -> its live raise
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            elders: list[Sock] = []
            contacts: list[Sock] = []
            for e, (elder_id, contact_ids) in enumerate(world):
                sock = Sock(f"elder{e}")
                await sock.connect(http, url, tokens.issue(
                    user_id=elder_id, name=f"Elder {e}", role="elder", ttl_seconds=3600))
                elders.append(sock)
                for c, cid in enumerate(contact_ids):
                    device = Sock(f"family{e}.{c}")
                    device.on_event = _ring_handler(e, c, device, current, args.contacts)
                    await device.connect(http, url, tokens.issue(
                        user_id=cid, name=f"Family {e}.{c}", role="family", ttl_seconds=3600))
                    contacts.append(device)
            await asyncio.sleep(0.5)
            cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
            raises: list[Raise] = []

            async def one(e: int) -> None:
                r = Raise(sent=time.monotonic())
                current[e] = r
                raises.append(r)
                ack = await elders[e].emit("sos:raise", {}, ack=True)
                r.acked = time.monotonic()
                r.sos_id = ack["sos"]["id"]
                try:
                    await asyncio.wait_for(r.done.wait(), 5)
                except TimeoutError:
                    pass
                await elders[e].emit("sos:cancel", {"sos_id": r.sos_id}, ack=True)

            tasks = []
            for i in range(args.raises):
                e = i % len(elders)
                if e in current and not current[e].done.is_set() and tasks:
                    await asyncio.gather(*[t for t in tasks if not t.done()])
                tasks.append(asyncio.get_running_loop().create_task(one(e)))
                await asyncio.sleep(1 / args.rate)
            await asyncio.gather(*tasks)
            cpu = cpu_seconds(proc.pid) - cpu0
            wall = time.monotonic() - wall0
            for sock in elders + contacts:
                await sock.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    delays = [(t - r.sent) * 1000 for r in raises for t in r.rings.values()]
    acks = [(r.acked - r.sent) * 1000 for r in raises]
    expected = len(raises) * args.contacts
    return {
        "raises": len(raises), "contacts_each": args.contacts, "elders": args.elders,
        "rate_per_s": args.rate, "rings_expected": expected, "rings_received": len(delays),
        "ring_p50_ms": pct(delays, .5), "ring_p90_ms": pct(delays, .9),
        "ring_p99_ms": pct(delays, .99), "ring_max_ms": max(delays, default=float("nan")),
        "ack_p50_ms": pct(acks, .5), "ack_p99_ms": pct(acks, .99),
        "server_cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
        "backend": "postgresql" if "postgres" in db_url else "sqlite",
    }


def _ring_handler(e: int, c: int, device: Sock, current: dict[int, Raise], contacts: int) -> Any:
    def on_event(event: str, payload: Any, at: float) -> None:
        if event != "sos:ring":
            return
        r = current.get(e)
        if r is None or c in r.rings:
            return
        r.rings[c] = at
        asyncio.get_running_loop().create_task(
            device.emit("sos:ringing", {"sos_id": payload["sos"]["id"]}))
        if len(r.rings) == contacts:
            r.done.set()

    return on_event


def main() -> int:
    """Parse arguments, run, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raises", type=int, default=200)
    parser.add_argument("--contacts", type=int, default=10)
    parser.add_argument("--elders", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10.0, help="raises per second")
    parser.add_argument("--db-url", help="e.g. postgresql+asyncpg://postgres@127.0.0.1/bench")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"SOS ring fan-out ({result['backend']}): {result['raises']} raises x "
              f"{result['contacts_each']} contacts ({result['elders']} elders, "
              f"{result['rate_per_s']:g} raises/s), server = carertc serve")
        print(f"  rings received  {result['rings_received']}/{result['rings_expected']}")
        print(f"  raise -> ring   p50 {result['ring_p50_ms']:.1f} ms  p90 "
              f"{result['ring_p90_ms']:.1f} ms  p99 {result['ring_p99_ms']:.1f} ms  max "
              f"{result['ring_max_ms']:.1f} ms")
        print(f"  raise -> ack    p50 {result['ack_p50_ms']:.1f} ms  p99 "
              f"{result['ack_p99_ms']:.1f} ms")
        print(f"  server CPU      {result['server_cpu_s']} s over {result['wall_s']} s")
    return 0 if result["rings_received"] == result["rings_expected"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
