"""Transport: one client peer connection, either publishing (send) or subscribing (recv)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs import is_rtx
from aiortc.exceptions import InvalidAccessError, InvalidStateError, OperationError
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from pyee.asyncio import AsyncIOEventEmitter

from .consumer import Consumer
from .errors import MediaError
from .forwarding import ForwardingSource
from .ids import new_id
from .producer import Producer, silence_receiver, skip_decoder
from .sdp_check import parse_sdp
from .sender_clock import SenderClock

if TYPE_CHECKING:
    from .router import Router

_SDP_ERRORS = (ValueError, KeyError, IndexError, TypeError, AttributeError,
               InvalidStateError, InvalidAccessError)


def _app_data(sources: Mapping[str, Any] | None, mid: str) -> dict[str, Any]:
    value = (sources or {}).get(mid)
    if value is None:
        return {}
    if isinstance(value, str):
        return {"source": value}
    return dict(value)


def _pick_codec(codecs: list[RTCRtpCodecParameters],
                keep: RTCRtpCodecParameters | None) -> RTCRtpCodecParameters | None:
    """The one codec a publisher may send: the current producer's if still offered, else the first."""
    media = [c for c in codecs if not is_rtx(c)]
    if keep is not None:
        for c in media:
            if c.mimeType.lower() == keep.mimeType.lower() and c.parameters == keep.parameters:
                return c
    return media[0] if media else None


class Transport:
    """One RTCPeerConnection: `send` (client offers, we answer) or `recv` (we offer)."""

    def __init__(self, router: Router, direction: str, app_data: dict[str, Any],
                 ice_servers: list[RTCIceServer]) -> None:
        if direction not in ("send", "recv"):
            raise MediaError("wrong_direction", "direction must be 'send' or 'recv'")
        self.id = new_id("t")
        self.router = router
        self.direction = direction
        self.app_data = app_data
        self.closed = False
        self.observer = AsyncIOEventEmitter()
        self.sender_clock = SenderClock()  # the publisher's NTP-to-local offset (send)
        self._pc = RTCPeerConnection(RTCConfiguration(
            iceServers=ice_servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self._pc.on("connectionstatechange", self._on_connection_state)
        self._producers: dict[str, Producer] = {}  # by mid
        self._consumers: list[Consumer] = []
        # recv: m-lines of closed consumers, reusable once negotiated inactive
        self._free: list[RTCRtpTransceiver] = []
        self._offered_dir: dict[RTCRtpTransceiver, str] = {}  # direction in the latest offer
        self._server_closed_mids: set[str] = set()  # producers closed by us, not by an offer
        self._applying_offer = False
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._offer_pending = False
        self._dirty = False
        self._nn_scheduled = False

    # -- attributes ------------------------------------------------------------------------

    @property
    def connection_state(self) -> str:
        """The peer connection's state: new, connecting, connected, failed or closed."""
        return self._pc.connectionState

    @property
    def producers(self) -> list[Producer]:
        """Open producers of this (send) transport."""
        return list(self._producers.values())

    @property
    def consumers(self) -> list[Consumer]:
        """Open consumers of this (recv) transport."""
        return list(self._consumers)

    @property
    def offer_pending(self) -> bool:
        """True between create_offer() and a successful receive_answer()."""
        return self._offer_pending

    def _check(self, direction: str) -> None:
        if self.closed:
            raise MediaError("closed", f"transport {self.id} is closed")
        if self.direction != direction:
            raise MediaError("wrong_direction", f"transport {self.id} is a {self.direction} transport")

    # -- publishing (send) -----------------------------------------------------------------

    async def receive_offer(self, sdp: str, sources: Mapping[str, Any] | None = None
                            ) -> tuple[str, list[Producer]]:
        """Apply a publisher's offer; returns the answer SDP and every open producer."""
        self._check("send")
        description = parse_sdp(sdp)
        media = [m for m in description.media if m.kind in ("audio", "video")]
        if not media:
            raise MediaError("negotiation_failed", "offer has no audio or video")
        async with self._lock:
            self._check("send")
            pc = self._pc
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            except OperationError as exc:
                raise MediaError("negotiation_failed", str(exc)) from None
            except _SDP_ERRORS as exc:
                raise MediaError("bad_sdp", str(exc) or exc.__class__.__name__) from None
            for transceiver in pc.getTransceivers():
                # before anything yields: aiortc starts receivers once DTLS is up
                skip_decoder(transceiver.receiver)
            by_mid = {t.mid: t for t in pc.getTransceivers()}
            for m in media:
                t = by_mid.get(m.rtp.muxId)
                if t is None:
                    continue
                existing = self._producers.get(m.rtp.muxId)
                codec = _pick_codec(t._codecs, existing.codec if existing else None)
                if codec is not None:  # one codec, no RTX: retransmissions come on the main SSRC
                    t._codecs = [codec]
            try:
                await pc.setLocalDescription(await pc.createAnswer())
            except _SDP_ERRORS + (OperationError,) as exc:
                raise MediaError("negotiation_failed", str(exc) or exc.__class__.__name__) from None
            created: list[Producer] = []
            for m in media:
                mid = m.rtp.muxId
                t = by_mid.get(mid)
                existing = self._producers.get(mid)
                sending = m.port != 0 and m.direction in ("sendrecv", "sendonly") and t is not None
                if not sending:
                    self._server_closed_mids.discard(mid)
                elif mid in self._server_closed_mids:
                    continue  # closed by us (e.g. screen:stop); the client has not removed it yet
                if sending and existing is None:
                    codec = t._codecs[0]  # type: ignore[union-attr]
                    self._producers[mid] = Producer(self, t.receiver, t.kind, mid, codec,  # type: ignore[union-attr]
                                                    _app_data(sources, mid))
                    created.append(self._producers[mid])
                elif not sending and existing is not None:
                    self._applying_offer = True
                    try:
                        existing.close()
                    finally:
                        self._applying_offer = False
                elif sending and existing is not None and sources and mid in sources:
                    existing.app_data = _app_data(sources, mid)
            for t in pc.getTransceivers():
                if t.mid not in self._producers:
                    silence_receiver(t.receiver)
            for producer in created:
                if not producer.closed:
                    self.router.observer.emit("newproducer", producer)
            return pc.localDescription.sdp, self.producers

    def _producer_closed(self, producer: Producer) -> None:
        if self._producers.get(producer.mid) is producer:
            del self._producers[producer.mid]
            if not self._applying_offer and not self.closed:
                self._server_closed_mids.add(producer.mid)
        self.router._producer_closed(producer)

    # -- subscribing (recv) ----------------------------------------------------------------

    def consume(self, producer: ForwardingSource, app_data: dict[str, Any] | None = None) -> Consumer:
        """Add a consumer of `producer`; it is negotiated with the next create_offer().

        Reuses the m-line of a closed consumer of the same kind once the subscriber has
        accepted it as inactive (preferring one whose codec matches), else adds one.
        """
        self._check("recv")
        if producer.closed:
            raise MediaError("closed", f"producer {producer.id} is closed")
        transceiver = self._reusable(producer)
        if transceiver is None:
            transceiver = self._pc.addTransceiver(producer.kind, direction="sendonly")
        else:
            self._free.remove(transceiver)
            transceiver.direction = "sendonly"
        codec = producer.codec
        transceiver.setCodecPreferences([RTCRtpCodecCapability(
            mimeType=codec.mimeType, clockRate=codec.clockRate, channels=codec.channels,
            parameters=dict(codec.parameters))])
        consumer = Consumer(self, producer, transceiver, dict(app_data or {}))
        self._consumers.append(consumer)
        self._mark_dirty()
        return consumer

    def _reusable(self, producer: ForwardingSource) -> RTCRtpTransceiver | None:
        """A free m-line of the producer's kind, negotiated inactive, codec match first."""
        candidates = [
            t for t in self._free
            if t.kind == producer.kind and not t.stopped and t.mid is not None
            and t.currentDirection == "inactive" and self._offered_dir.get(t) == "inactive"]
        want = (producer.codec.mimeType.lower(), producer.codec.parameters)
        for t in candidates:
            if t._codecs and (t._codecs[0].mimeType.lower(), t._codecs[0].parameters) == want:
                return t
        return candidates[0] if candidates else None

    async def create_offer(self) -> tuple[str, list[Consumer]]:
        """Offer every consumer (closed ones as inactive m-lines); returns SDP and open consumers."""
        self._check("recv")
        async with self._lock:
            self._check("recv")
            pc = self._pc
            # changes from here on are not (all) in this offer: they will need another one;
            # no negotiationneeded while this offer is being made or is outstanding
            self._dirty = False
            self._offer_pending = True
            # what this offer holds: createOffer() and the mid assignment in
            # setLocalDescription() run without yielding, so nothing changes in between
            offered = [c for c in self._consumers if not c._offered]
            for c in offered:
                c._offered = True
            directions = {t: t.direction for t in pc.getTransceivers() if not t.stopped}
            try:
                await pc.setLocalDescription(await pc.createOffer())
            except (OperationError,) + _SDP_ERRORS as exc:
                for c in offered:
                    c._offered = False
                self._offer_pending = False
                self._mark_dirty()
                raise MediaError("negotiation_failed", str(exc) or exc.__class__.__name__) from None
            self._offered_dir = directions
            return pc.localDescription.sdp, [c for c in self.consumers if c.mid is not None]

    async def receive_answer(self, sdp: str) -> None:
        """Apply the subscriber's answer to the last offer."""
        self._check("recv")
        if not self._offer_pending:
            raise MediaError("no_offer_pending", "no offer is waiting for an answer")
        parse_sdp(sdp)
        async with self._lock:
            self._check("recv")
            try:
                await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
            except OperationError as exc:
                raise MediaError("negotiation_failed", str(exc)) from None
            except _SDP_ERRORS as exc:
                raise MediaError("bad_sdp", str(exc) or exc.__class__.__name__) from None
            self._offer_pending = False
            if self._dirty:
                self._schedule_negotiationneeded()

    def _consumer_closed(self, consumer: Consumer) -> None:
        if consumer in self._consumers:
            self._consumers.remove(consumer)
        self._spawn(consumer._teardown())
        transceiver = consumer._transceiver
        if transceiver.mid is not None and not self.closed:  # in an offer once: reusable later
            self._free.append(transceiver)
        if consumer.mid is not None:
            self._mark_dirty()

    def _mark_dirty(self) -> None:
        self._dirty = True
        self._schedule_negotiationneeded()

    def _schedule_negotiationneeded(self) -> None:
        if self._nn_scheduled or self._offer_pending or self.closed:
            return
        self._nn_scheduled = True
        asyncio.get_running_loop().call_soon(self._emit_negotiationneeded)

    def _emit_negotiationneeded(self) -> None:
        self._nn_scheduled = False
        if self._dirty and not self._offer_pending and not self.closed:
            self.observer.emit("negotiationneeded")

    # -- lifecycle -------------------------------------------------------------------------

    def _on_connection_state(self) -> None:
        self.observer.emit("connectionstatechange", self._pc.connectionState)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Close producers and consumers, then the peer connection."""
        if self.closed:
            return
        self.closed = True
        for producer in list(self._producers.values()):
            producer.close()
        for consumer in list(self._consumers):
            consumer.close()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._pc.close()
        self.router._transport_closed(self)
        self.observer.emit("close")

    def dump(self) -> dict[str, Any]:
        """Description, state and per-track statistics."""
        return {
            "id": self.id, "direction": self.direction, "closed": self.closed,
            "connection_state": self.connection_state, "app_data": self.app_data,
            "offer_pending": self._offer_pending,
            "producers": [p.dump() for p in self._producers.values()],
            "consumers": [c.dump() for c in self._consumers],
        }
