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

    planned: array[float] = field(default_factory=lambda: array("d"))
    sent: array[float] = field(default_factory=lambda: array("d"))
    acked: array[float] = field(default_factory=lambda: array("d"))
    errors: dict[str, int] = field(default_factory=dict)
    # conversation index -> [(message id, seq)]
    stored: dict[int, list[tuple[str, int]]] = field(default_factory=dict)


class SioSocket:
    """One Socket.IO connection on a raw websocket."""

    def __init__(self, conv: int, worker: LoadWorker) -> None:
        self.conv = conv
        self.worker = worker
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.next_id = 0
        self.pending: dict[int, Pending] = {}
        self.received = 0
        self.acked = 0
        self.reader: asyncio.Task[None] | None = None

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
        worker = self.worker
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                return
            data: str = msg.data
            if data.startswith(IM_MESSAGE):
                self.received += 1
            elif data.startswith("43"):
                cut = data.index("[")
                if worker.on_ack(self, int(data[2:cut]), data[cut:]):
                    await worker.send(self, time.monotonic())
            elif data == "2":
                await ws.send_str("3")

    async def send_text(self, conv_id: str, client_msg_id: str, planned: float) -> None:
        """Emit one ``im:send`` with an ack id."""
        assert self.ws is not None
        self.next_id += 1
        n = self.next_id
        self.pending[n] = Pending(self.conv, planned, time.monotonic())
        await self.ws.send_str(
            f'42{n}["im:send",{{"conversation_id":"{conv_id}",'
            f'"client_msg_id":"{client_msg_id}","type":"text","body":"{BODY}"}}]'
        )

    async def close(self) -> None:
        """Close the websocket."""
        if self.reader is not None:
            self.reader.cancel()
        if self.ws is not None:
            await self.ws.close()


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
        self.acked_per_conv: dict[int, int] = {}
        self.mode = "idle"
        self.end = 0.0
        self.counter = 0
        self.outstanding = 0
        self.http: aiohttp.ClientSession | None = None
        self.idle = asyncio.Event()

    async def connect(self) -> None:
        """Open every socket (a few at a time)."""
        ws_url = self.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None)
        )
        self.senders = [SioSocket(c, self) for c, _ in self.sender_plan]
        self.receivers = [SioSocket(c, self) for c, _ in self.receiver_plan]
        plans = list(zip(self.senders, [t for _, t in self.sender_plan], strict=True))
        plans += list(zip(self.receivers, [t for _, t in self.receiver_plan], strict=True))
        gate = asyncio.Semaphore(10)

        async def one(sock: SioSocket, token: str) -> None:
            assert self.http is not None
            async with gate:
                await sock.connect(self.http, ws_url, token)

        await asyncio.gather(*(one(s, t) for s, t in plans))

    async def send(self, sock: SioSocket, planned: float) -> None:
        """One text message from ``sock`` with a fresh ``client_msg_id``."""
        self.counter += 1
        self.outstanding += 1
        await sock.send_text(self.conv_ids[sock.conv], f"{self.tag}-{self.counter}", planned)

    def on_ack(self, sock: SioSocket, ack_id: int, raw: str) -> bool:
        """Record an ack; whether ``sock`` should send its next message (closed loop)."""
        now = time.monotonic()
        pending = sock.pending.pop(ack_id, None)
        if pending is None:
            return False
        self.outstanding -= 1
        body = json.loads(raw)[0]
        phase = self.phase
        if "error" in body:
            code = body["error"].get("code", "?")
            phase.errors[code] = phase.errors.get(code, 0) + 1
        else:
            sock.acked += 1
            self.acked_per_conv[sock.conv] = self.acked_per_conv.get(sock.conv, 0) + 1
            phase.planned.append(pending.planned)
            phase.sent.append(pending.sent)
            phase.acked.append(now)
            phase.stored.setdefault(pending.conv, []).append((body["id"], body["seq"]))
        if self.mode == "closed" and now < self.end:
            return True
        if self.outstanding == 0:
            self.idle.set()
        return False

    async def run_closed(self, start: float, seconds: float, window: int) -> None:
        """Each sender keeps ``window`` messages outstanding until ``start + seconds``."""
        await _sleep_until(start)
        self.mode, self.end = "closed", start + seconds
        now = time.monotonic()
        for _ in range(window):
            for sock in self.senders:
                await self.send(sock, now)
        await _sleep_until(self.end)
        self.mode = "idle"

    async def run_open(self, start: float, seconds: float, rate: float) -> None:
        """Send at a fixed total ``rate`` (evenly spaced, senders in turn) until the end."""
        await _sleep_until(start)
        self.mode, self.end = "open", start + seconds
        total = int(seconds * rate)
        interval = 1.0 / rate
        senders = self.senders
        n = 0
        while n < total:
            now = time.monotonic()
            while n < total and start + n * interval <= now:
                await self.send(senders[n % len(senders)], start + n * interval)
                n += 1
            if n < total:
                await asyncio.sleep(max(0.0, start + n * interval - time.monotonic()))
        self.mode = "idle"

    async def drain(self, timeout: float) -> dict[str, Any]:
        """Wait for every ack and every expected delivery (or ``timeout``); report."""
        deadline = time.monotonic() + timeout
        while self.outstanding > 0 and time.monotonic() < deadline:
            self.idle.clear()
            try:
                await asyncio.wait_for(self.idle.wait(), 0.2)
            except TimeoutError:
                pass
        while time.monotonic() < deadline:
            expected, received = self._deliveries()
            if received >= expected:
                break
            await asyncio.sleep(0.05)
        expected, received = self._deliveries()
        phase, self.phase = self.phase, Phase()
        return {
            "planned": phase.planned,
            "sent": phase.sent,
            "acked": phase.acked,
            "errors": phase.errors,
            "stored": phase.stored,
            "unacked": self.outstanding,
            "deliveries_expected": expected,
            "deliveries_received": received,
        }

    def _deliveries(self) -> tuple[int, int]:
        """(expected, received) ``im:message`` events over every socket, all phases so far.

        A receiver gets every message of its conversation; a sender those of the
        conversation's other senders.
        """
        expected = received = 0
        for s in self.receivers:
            expected += self.acked_per_conv.get(s.conv, 0)
            received += s.received
        for s in self.senders:
            expected += self.acked_per_conv.get(s.conv, 0) - s.acked
            received += s.received
        return expected, received

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
