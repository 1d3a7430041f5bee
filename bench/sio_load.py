"""A cheap Socket.IO v5 / Engine.IO v4 load client for the messaging benchmark.

Speaks just enough of the protocol over one aiohttp websocket per socket: the
Engine.IO open packet (``0{...}``), the Socket.IO connect with auth
(``40{"token": ...}`` -> ``40{"sid": ...}``), events with an ack id
(``42<id>["im:send",{...}]``), acks (``43<id>[{...}]``) and pings (``2`` ->
``3``). Received ``im:message`` events are counted by prefix, never parsed.

:func:`worker_main` runs in a child process (one per core the load needs): it
connects the senders and receivers it is given, then runs the phases the
parent asks for over a pipe and sends back what each phase measured.
"""

from __future__ import annotations

import asyncio
import json
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

IM_MESSAGE = '42["im:message"'
BODY = "benchmark message: the quick brown fox jumps over the lazy dog"


class SioError(Exception):
    """The server refused the connection or spoke something unexpected."""


@dataclass
class Pending:
    """One ``im:send`` waiting for its ack."""

    conv: int
    planned: float
    sent: float


@dataclass
class Phase:
    """What one phase measured on one socket set (times are ``time.monotonic``)."""

    planned: array = field(default_factory=lambda: array("d"))
    sent: array = field(default_factory=lambda: array("d"))
    acked: array = field(default_factory=lambda: array("d"))
    errors: dict[str, int] = field(default_factory=dict)
    # conversation index -> [(message id, seq)]
    stored: dict[int, list[tuple[str, int]]] = field(default_factory=dict)


class SioSocket:
    """One Socket.IO connection on a raw websocket."""

    def __init__(self, conv: int, on_ack: Callable[[SioSocket, int, str], None]) -> None:
        self.conv = conv
        self.on_ack = on_ack
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.next_id = 0
        self.pending: dict[int, Pending] = {}
        self.received = 0
        self.reader: asyncio.Task[None] | None = None
        self.prefix = ""
        self.sent_count = 0

    async def connect(self, http: aiohttp.ClientSession, ws_url: str, token: str) -> None:
        """Open the websocket and authenticate; start reading."""
        self.ws = await http.ws_connect(ws_url, autoping=False, max_msg_size=0)
        opened = await self.ws.receive_str(timeout=10)
        if not opened.startswith("0"):
            raise SioError(f"unexpected Engine.IO open packet {opened[:80]!r}")
        await self.ws.send_str("40" + json.dumps({"token": token}))
        while True:
            reply = await self.ws.receive_str(timeout=10)
            if reply.startswith("40"):
                break
            if reply.startswith("44"):
                raise SioError(f"connection refused: {reply[2:200]}")
            if reply == "2":
                await self.ws.send_str("3")
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        ws = self.ws
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                return
            data: str = msg.data
            if data.startswith(IM_MESSAGE):
                self.received += 1
            elif data.startswith("43"):
                cut = data.index("[")
                self.on_ack(self, int(data[2:cut]), data[cut:])
            elif data == "2":
                await ws.send_str("3")

    def send_text(self, conv_id: str, client_msg_id: str, planned: float) -> None:
        """Emit one ``im:send`` (the websocket write is buffered, not awaited)."""
        assert self.ws is not None
        self.next_id += 1
        n = self.next_id
        now = time.monotonic()
        self.pending[n] = Pending(self.conv, planned, now)
        self.sent_count += 1
        frame = (
            f'42{n}["im:send",{{"conversation_id":"{conv_id}",'
            f'"client_msg_id":"{client_msg_id}","type":"text","body":"{BODY}"}}]'
        )
        task = asyncio.ensure_future(self.ws.send_str(frame))
        task.add_done_callback(_ignore)

    async def close(self) -> None:
        """Close the websocket."""
        if self.reader is not None:
            self.reader.cancel()
        if self.ws is not None:
            await self.ws.close()


def _ignore(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


class LoadWorker:
    """Senders and receivers of some conversations, driven phase by phase."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.url: str = config["url"]
        self.conv_ids: dict[int, str] = config["conversations"]
        self.sender_plan: list[tuple[int, str]] = config["senders"]
        self.receiver_plan: list[tuple[int, str]] = config["receivers"]
        self.tag: str = config["tag"]
        self.senders: list[SioSocket] = []
        self.receivers: list[SioSocket] = []
        self.phase = Phase()
        self.mode = "idle"
        self.window = 1
        self.end = 0.0
        self.counter = 0
        self.http: aiohttp.ClientSession | None = None
        self.idle = asyncio.Event()

    async def connect(self) -> None:
        """Open every socket (a few at a time)."""
        ws_url = self.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None)
        )
        self.senders = [SioSocket(c, self._on_ack) for c, _ in self.sender_plan]
        self.receivers = [SioSocket(c, self._on_ack) for c, _ in self.receiver_plan]
        plans = list(zip(self.senders, [t for _, t in self.sender_plan], strict=True))
        plans += list(zip(self.receivers, [t for _, t in self.receiver_plan], strict=True))
        gate = asyncio.Semaphore(10)

        async def one(sock: SioSocket, token: str) -> None:
            assert self.http is not None
            async with gate:
                await sock.connect(self.http, ws_url, token)

        await asyncio.gather(*(one(s, t) for s, t in plans))

    def _next_cmid(self, sock: SioSocket) -> str:
        self.counter += 1
        return f"{self.tag}-{self.counter}"

    def _send(self, sock: SioSocket, planned: float) -> None:
        sock.send_text(self.conv_ids[sock.conv], self._next_cmid(sock), planned)

    def _on_ack(self, sock: SioSocket, ack_id: int, raw: str) -> None:
        now = time.monotonic()
        pending = sock.pending.pop(ack_id, None)
        if pending is None:
            return
        body = json.loads(raw)[0]
        phase = self.phase
        if "error" in body:
            code = body["error"].get("code", "?")
            phase.errors[code] = phase.errors.get(code, 0) + 1
        else:
            phase.planned.append(pending.planned)
            phase.sent.append(pending.sent)
            phase.acked.append(now)
            phase.stored.setdefault(pending.conv, []).append((body["id"], body["seq"]))
        if self.mode == "closed" and now < self.end:
            self._send(sock, now)
        elif not any(s.pending for s in self.senders):
            self.idle.set()

    async def run_closed(self, start: float, seconds: float, window: int) -> None:
        """Each sender keeps ``window`` messages outstanding until ``start + seconds``."""
        await _sleep_until(start)
        self.mode, self.end, self.window = "closed", start + seconds, window
        now = time.monotonic()
        for _ in range(window):
            for sock in self.senders:
                self._send(sock, now)
        await _sleep_until(self.end)
        self.mode = "idle"

    async def run_open(self, start: float, seconds: float, rate: float) -> None:
        """Send at a fixed total ``rate`` (evenly spaced, senders in turn) until the end."""
        await _sleep_until(start)
        self.mode, self.end = "open", start + seconds
        total = int(seconds * rate)
        interval = 1.0 / rate
        n = 0
        senders = self.senders
        while n < total:
            now = time.monotonic()
            while n < total and start + n * interval <= now:
                self._send(senders[n % len(senders)], start + n * interval)
                n += 1
            if n < total:
                await asyncio.sleep(max(0.0, start + n * interval - time.monotonic()))
        self.mode = "idle"

    async def drain(self, timeout: float) -> dict[str, Any]:
        """Wait for every ack and every expected delivery (or ``timeout``); report."""
        deadline = time.monotonic() + timeout
        while any(s.pending for s in self.senders) and time.monotonic() < deadline:
            self.idle.clear()
            try:
                await asyncio.wait_for(self.idle.wait(), 0.2)
            except TimeoutError:
                pass
        while self._missing_deliveries() > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self._report()

    def _expected_deliveries(self) -> dict[int, int]:
        """Socket index -> im:message events it should have received so far."""
        per_conv: dict[int, int] = {}
        for s in self.senders:
            per_conv[s.conv] = per_conv.get(s.conv, 0) + (s.sent_count - len(s.pending))
        # pending sends were not acked: count only what was acked (errors aside)
        return per_conv

    def _missing_deliveries(self) -> int:
        acked = self._acked_per_conv()
        missing = 0
        for s in self.receivers:
            missing += max(0, acked.get(s.conv, 0) - s.received)
        return missing

    def _acked_per_conv(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for conv, rows in self.total_stored.items():
            out[conv] = len(rows)
        for conv, rows in self.phase.stored.items():
            out[conv] = out.get(conv, 0) + len(rows)
        return out

    total_stored: dict[int, list[tuple[str, int]]]

    def _report(self) -> dict[str, Any]:
        phase = self.phase
        for conv, rows in phase.stored.items():
            self.total_stored.setdefault(conv, []).extend(rows)
        self.phase = Phase()
        acked_total = {c: len(r) for c, r in self.total_stored.items()}
        # what each socket should have seen: receivers all messages of their conversation,
        # senders those of the other senders of theirs
        own: dict[int, int] = {}
        for s in self.senders:
            own[id(s)] = s.acked_total
        expected = 0
        received = 0
        for s in self.receivers:
            expected += acked_total.get(s.conv, 0)
            received += s.received
        for s in self.senders:
            expected += acked_total.get(s.conv, 0) - s.acked_total
            received += s.received
        return {
            "planned": phase.planned,
            "sent": phase.sent,
            "acked": phase.acked,
            "errors": phase.errors,
            "stored": phase.stored,
            "unacked": sum(len(s.pending) for s in self.senders),
            "deliveries_expected": expected,
            "deliveries_received": received,
        }

    async def close(self) -> None:
        """Close every socket and the HTTP session."""
        await asyncio.gather(
            *(s.close() for s in self.senders + self.receivers), return_exceptions=True
        )
        if self.http is not None:
            await self.http.close()


async def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def _serve(pipe: Connection, config: dict[str, Any]) -> None:
    worker = LoadWorker(config)
    worker.total_stored = {}
    loop = asyncio.get_running_loop()
    try:
        await worker.connect()
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        pipe.send({"error": f"connect failed: {exc!r}"})
        return
    pipe.send({"ready": True})
    try:
        while True:
            cmd: dict[str, Any] = await loop.run_in_executor(None, pipe.recv)
            if cmd["op"] == "stop":
                break
            if cmd["op"] == "closed":
                await worker.run_closed(cmd["start"], cmd["seconds"], cmd["window"])
            elif cmd["op"] == "open":
                await worker.run_open(cmd["start"], cmd["seconds"], cmd["rate"])
            pipe.send(await worker.drain(cmd.get("drain", 30.0)))
    finally:
        await worker.close()


def worker_main(pipe: Connection, config: dict[str, Any]) -> None:
    """Child-process entry point: connect, then run phases until told to stop."""
    asyncio.run(_serve(pipe, config))
