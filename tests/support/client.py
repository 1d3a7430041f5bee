"""A Python CareRTC client for tests: Socket.IO signaling plus two aiortc peer connections.

It implements docs/PROTOCOL.md the way a browser does: the *send* connection
offers camera/microphone/screen tracks (generated frames) with ``media:publish``;
the *recv* connection answers every ``media:offer`` and decodes what arrives,
counting frames per consumer.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy

from media.client import recycle_receivers
from tests.support.media import track_for


def _peer_connection() -> RTCPeerConnection:
    # max-bundle, as browsers do: with aiortc's default ("balanced") an answerer given
    # a first offer of video, audio, video, audio leaves the 4th m-line on a discarded
    # transport and never receives it (aiortc 1.16 __createTransceiver + BUNDLE).
    return RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


class RequestError(Exception):
    """A request was answered with an error object."""

    def __init__(self, event: str, code: str, message: str) -> None:
        self.event = event
        self.code = code
        self.message = message
        super().__init__(f"{event}: {code}: {message}")


class ConnectRefused(Exception):
    """The server refused the connection; ``code`` is the protocol error code."""

    def __init__(self, code: str | None, data: Any) -> None:
        self.code = code
        self.data = data
        super().__init__(f"connection refused: {code}")


@dataclass
class Received:
    """What one receive m-line (mid) has decoded."""

    mid: str
    kind: str
    frames: int = 0
    first_at: float | None = None
    last_at: float | None = None
    sizes: set[tuple[int, int]] = field(default_factory=set)
    ended: bool = False


class TestClient:
    """One participant: a Socket.IO connection and its two peer connections."""

    __test__ = False  # not a pytest class

    def __init__(self, url: str, token: str | None, *, name: str = "client") -> None:
        self.url = url
        self.token = token
        self.name = name
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, list[Any]] = defaultdict(list)
        self.send_pc: RTCPeerConnection | None = None
        self.recv_pc: RTCPeerConnection | None = None
        self.send_transceivers: dict[str, RTCRtpTransceiver] = {}  # source -> transceiver
        self.idle_transceivers: dict[str, RTCRtpTransceiver] = {}  # inactive, reusable
        self.stopped_mids: set[str] = set()  # recv m-lines whose consumer closed
        self.consumers: dict[str, dict[str, Any]] = {}  # mid -> consumer (latest offer)
        self.received: dict[str, Received] = {}  # mid -> what arrived
        self.participant_id: str | None = None
        self.joined: dict[str, Any] | None = None
        self.answer_offers = True
        self.answers: list[dict[str, Any]] = []
        self._offer_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()
        self.sio.on("*", self._on_any)
        self.sio.on("media:offer", self._on_offer)
        # Arrival order of acks and events as read off the socket (python-socketio
        # internals: the public handlers run later, in their own order).
        self.wire: list[tuple[str, Any]] = []
        handle_event, handle_ack = self.sio._handle_event, self.sio._handle_ack

        async def on_event(namespace: Any, id: Any, data: Any) -> None:
            self.wire.append(("event", data[0] if data else None))
            await handle_event(namespace, id, data)

        async def on_ack(namespace: Any, id: Any, data: Any) -> None:
            self.wire.append(("ack", data[0] if data else None))
            await handle_ack(namespace, id, data)

        self.sio._handle_event = on_event  # type: ignore[method-assign]
        self.sio._handle_ack = on_ack  # type: ignore[method-assign]

    # -- signaling --------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect with the token; raise ConnectRefused with the server's code."""
        refused: list[Any] = []
        self.sio.on("connect_error", lambda data=None: refused.append(data))
        auth = {"token": self.token} if self.token is not None else {}
        try:
            await self.sio.connect(self.url, auth=auth, transports=["websocket"], wait_timeout=5)
        except socketio.exceptions.ConnectionError as exc:
            data = refused[0] if refused else None
            code = None
            if isinstance(data, dict):
                body = data.get("data", data)
                if isinstance(body, dict):
                    code = body.get("error", {}).get("code")
            raise ConnectRefused(code, data) from exc

    async def _on_any(self, event: str, data: Any = None) -> None:
        self.events[event].append(data)
        self._changed.set()

    async def call(self, event: str, data: Any = None, timeout: float = 10.0) -> Any:
        """Emit ``event`` with an ack and return the raw ack payload."""
        if data is None:
            return await self.sio.call(event, timeout=timeout)
        return await self.sio.call(event, data, timeout=timeout)

    async def request(self, event: str, data: Any = None, timeout: float = 10.0) -> dict[str, Any]:
        """Like :meth:`call`, but raise RequestError for an error ack."""
        ack = await self.call(event, data if data is not None else {}, timeout=timeout)
        if isinstance(ack, dict) and "error" in ack:
            raise RequestError(event, ack["error"]["code"], ack["error"]["message"])
        return ack

    async def join(self, room_id: str) -> dict[str, Any]:
        """room:join; remembers the participant id."""
        ack = await self.request("room:join", {"room_id": room_id})
        self.joined = ack
        self.participant_id = ack["participant_id"]
        return ack

    async def leave(self) -> dict[str, Any]:
        """room:leave, then drop both peer connections."""
        ack = await self.request("room:leave")
        await self._close_pcs()
        return ack

    # -- publishing (send peer connection) ------------------------------------------------------

    async def publish(self, *sources: str) -> dict[str, Any]:
        """Add tracks for ``sources`` (camera, microphone, screen) and (re)negotiate."""
        if self.send_pc is None:
            self.send_pc = _peer_connection()
        for source in sources:
            idle = self.idle_transceivers.pop(source, None)
            if idle is not None:  # reuse the m-line, as browsers do
                idle.sender.replaceTrack(track_for(source))
                idle.direction = "sendonly"
                self.send_transceivers[source] = idle
            else:
                self.send_transceivers[source] = self.send_pc.addTransceiver(
                    track_for(source), direction="sendonly"
                )
        return await self._renegotiate_send()

    async def _renegotiate_send(self) -> dict[str, Any]:
        assert self.send_pc is not None
        await self.send_pc.setLocalDescription(await self.send_pc.createOffer())
        mids = {
            t.mid: source
            for source, t in self.send_transceivers.items()
            if t.mid is not None and not t.stopped
        }
        ack = await self.request(
            "media:publish", {"sdp": self.send_pc.localDescription.sdp, "sources": mids}
        )
        await self.send_pc.setRemoteDescription(RTCSessionDescription(ack["sdp"], "answer"))
        return ack

    async def start_screen(self) -> dict[str, Any]:
        """screen:start, then add a screen track and renegotiate."""
        await self.request("screen:start")
        return await self.publish("screen")

    async def stop_screen(self) -> None:
        """screen:stop; the client then stops sending its screen track."""
        await self.request("screen:stop")
        transceiver = self.send_transceivers.pop("screen", None)
        if transceiver is not None:  # like a browser's removeTrack + renegotiation
            transceiver.sender.replaceTrack(None)
            transceiver.direction = "inactive"
            self.idle_transceivers["screen"] = transceiver
            await self._renegotiate_send()

    # -- receiving (recv peer connection) ----------------------------------------------------

    async def _on_offer(self, data: dict[str, Any]) -> None:
        self.events["media:offer"].append(data)
        self._changed.set()
        if self.answer_offers:
            self._spawn(self._answer(data))

    async def _answer(self, data: dict[str, Any]) -> None:
        try:
            await self._apply_offer(data)
        except (socketio.exceptions.SocketIOError, ConnectionError) as exc:
            if self.sio.connected:
                raise
            self.answers.append({"dropped": repr(exc)})  # disconnected meanwhile

    async def _apply_offer(self, data: dict[str, Any]) -> None:
        async with self._offer_lock:
            if self.recv_pc is None:
                self.recv_pc = _peer_connection()
                self.recv_pc.on("track", self._on_track)
            pc = self.recv_pc
            for consumer in data["consumers"]:
                self.consumers[consumer["mid"]] = consumer
            # the server reuses m-lines of closed consumers: give those a fresh receiver
            # (aiortc fires no second `track` for a transceiver), as a browser would
            for mid in await recycle_receivers(pc, data["sdp"]):
                self.stopped_mids.discard(mid)
                self.received.pop(mid, None)
            await pc.setRemoteDescription(RTCSessionDescription(data["sdp"], "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            # m-lines of closed consumers are inactive now: stop their receivers, as a
            # browser does (aiortc would keep each one's RTCP task running).
            live = {c["mid"] for c in data["consumers"]}
            for transceiver in pc.getTransceivers():
                if transceiver.mid not in live and transceiver.mid not in self.stopped_mids:
                    self.stopped_mids.add(transceiver.mid)
                    await transceiver.receiver.stop()
            ack = await self.call("media:answer", {"sdp": pc.localDescription.sdp})
            self.answers.append(ack)
            self._changed.set()

    def _on_track(self, track: MediaStreamTrack) -> None:
        assert self.recv_pc is not None
        mid = next(
            (t.mid for t in self.recv_pc.getTransceivers() if t.receiver.track is track), None
        )
        if mid is None:
            return
        stats = Received(mid=mid, kind=track.kind)
        self.received[mid] = stats
        self._spawn(self._read(track, stats))

    async def _read(self, track: MediaStreamTrack, stats: Received) -> None:
        try:
            while True:
                frame = await track.recv()
                now = time.monotonic()
                if stats.first_at is None:
                    stats.first_at = now
                stats.last_at = now
                stats.frames += 1
                if track.kind == "video":
                    stats.sizes.add((frame.width, frame.height))
                if stats.frames == 1:
                    self._changed.set()
        except MediaStreamError:
            stats.ended = True

    # -- observations ---------------------------------------------------------------------

    def frames_from(self, participant_id: str, source: str) -> int:
        """Decoded frames so far from ``participant_id``'s ``source``."""
        return sum(
            self.received[mid].frames
            for mid, c in self.consumers.items()
            if c["participant_id"] == participant_id and c["source"] == source and mid in self.received
        )

    def first_frame_at(self, participant_id: str, source: str) -> float | None:
        """When the first frame of that track was decoded (time.monotonic)."""
        times = [
            self.received[mid].first_at
            for mid, c in self.consumers.items()
            if c["participant_id"] == participant_id
            and c["source"] == source
            and mid in self.received
            and self.received[mid].first_at is not None
        ]
        return min(times) if times else None  # type: ignore[type-var]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
        """Poll ``predicate`` until it is truthy; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: timed out waiting for {what or predicate}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=0.05)
            except TimeoutError:
                pass

    async def wait_event(self, event: str, predicate: Callable[[Any], bool] = lambda _: True,
                         timeout: float = 10.0) -> Any:
        """The first ``event`` payload matching ``predicate`` (already received or coming)."""
        return await self.wait_for(
            lambda: next((e for e in self.events[event] if predicate(e)), None),
            timeout=timeout,
            what=event,
        )

    # -- teardown -------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_pcs(self) -> None:
        for pc in (self.send_pc, self.recv_pc):
            if pc is not None:
                await pc.close()
        self.send_pc = self.recv_pc = None
        self.send_transceivers.clear()
        self.idle_transceivers.clear()
        self.stopped_mids.clear()

    async def close(self) -> None:
        """Disconnect and close everything this client started."""
        if self.sio.connected:
            await self.sio.disconnect()
        await self._close_pcs()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
