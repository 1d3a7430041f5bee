"""Consumer: one forwarded track towards a subscriber, rewritten at the RTP level."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aioice.ice import StunProtocol
from aiortc import clock
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    unpack_remb_fci,
)
from pyee.asyncio import AsyncIOEventEmitter

from .ids import new_id
from .rewrite import EXT_BLOCK_SIZE, FIRST_BYTE, RTP_HEADER, SeqTsMapper
from .totals import TOTALS

if TYPE_CHECKING:
    from .forwarding import ForwardingSource
    from .transport import Transport

logger = logging.getLogger(__name__)
_CONNECTED = State.CONNECTED
_pack = RTP_HEADER.pack
_now = time.monotonic


class ForwardingSender(RTCRtpSender):
    """An RTCRtpSender without a track: RTP comes from a Consumer, RTCP feedback goes to it."""

    def __init__(self, kind: str, transport: RTCDtlsTransport, consumer: Consumer) -> None:
        super().__init__(kind, transport)
        self._consumer = consumer

    async def send(self, parameters: RTCRtpSendParameters) -> None:
        if self._consumer.closed:  # closed while its offer was outstanding: never start
            return
        first = not self._RTCRtpSender__started  # type: ignore[attr-defined]
        await super().send(parameters)
        if first:
            self._consumer._on_sender_started(parameters)

    async def _run_rtp(self, codec: Any) -> None:  # type: ignore[override]
        self._RTCRtpSender__rtp_started.set()  # type: ignore[attr-defined]
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            pass
        self._RTCRtpSender__rtp_exited.set()  # type: ignore[attr-defined]

    async def _run_rtcp(self) -> None:
        self._RTCRtpSender__rtcp_started.set()  # type: ignore[attr-defined]
        cname = self._RTCRtpSender__cname  # type: ignore[attr-defined]
        try:
            while True:
                await asyncio.sleep(0.5 + random.random())
                sr = self._consumer._sender_report()
                if sr is None:
                    continue
                packets: list[AnyRtcpPacket] = [sr]
                if cname is not None:
                    packets.append(RtcpSdesPacket(chunks=[RtcpSourceInfo(
                        ssrc=self._ssrc, items=[(1, cname.encode("utf8"))])]))
                await self._send_rtcp(packets)
        except asyncio.CancelledError:
            pass
        try:
            await self._send_rtcp([RtcpByePacket(sources=[self._ssrc])])
        except (ConnectionError, OSError) as exc:  # transport already gone: best effort
            logger.debug("RTCP BYE not sent: %r", exc)
        self._RTCRtpSender__rtcp_exited.set()  # type: ignore[attr-defined]

    async def _handle_rtcp_packet(self, packet: AnyRtcpPacket) -> None:
        self._consumer._on_rtcp(packet)


class Consumer:
    """Forwards one producer's packets to a subscriber with its own SSRC, seq, ts and PT."""

    def __init__(self, transport: Transport, producer: ForwardingSource,
                 transceiver: RTCRtpTransceiver, app_data: dict[str, Any]) -> None:
        self.id = new_id("c")
        self.producer = producer
        self.producer_id = producer.id
        self.kind = producer.kind
        self.transport = transport
        self.app_data = app_data
        self.closed = False
        self.paused = False
        self.observer = AsyncIOEventEmitter()
        self._transceiver = transceiver
        self._offered = False  # included in an offer (set by Transport.create_offer)
        self._sender = ForwardingSender(producer.kind, transceiver.sender.transport, self)
        self._sender._stream_id = producer.stream_id
        self._sender._track_id = self.id
        transceiver._RTCRtpTransceiver__sender = self._sender  # type: ignore[attr-defined]
        transceiver.receiver._set_rtcp_ssrc(self._sender._ssrc)
        self._ssrc = self._sender._ssrc
        self._pt: int = producer.payload_type
        self._mapper = SeqTsMapper(producer.clock_rate)
        self._ready = False  # subscriber's DTLS connected and sender started
        self._live = False  # ready, not paused, not closed
        self._waiting = True  # drop until a keyframe (audio: the next packet)
        self._dtls: RTCDtlsTransport | None = None
        self._protect: Callable[[bytes], bytes] | None = None
        self._sendto: Callable[[bytes, Any], None] | None = None
        self._addr: Any = None
        # stats
        self.packets = 0
        self.bytes = 0
        self.nacks = 0
        self.retransmissions = 0
        self.keyframe_requests = 0
        self.remb: int | None = None
        self.remb_at = 0.0
        self.fraction_lost = 0
        self.packets_lost = 0
        self.jitter = 0
        producer._add_consumer(self)

    @property
    def mid(self) -> str | None:
        """The m-line of this track in the subscriber's session (set by create_offer).

        A reused m-line (of a closed consumer) already has a mid: it is only reported
        once this consumer has been offered on it.
        """
        return self._transceiver.mid if self._offered else None

    @property
    def ssrc(self) -> int:
        """The SSRC the subscriber receives this track on."""
        return self._ssrc

    # -- hot path --------------------------------------------------------------------------

    def _forward(self, body: bytes, first: int, seq: int, ts: int, marker: int,
                 keyframe: bool) -> int:
        if not self._live:
            return 0
        m = self._mapper
        if self._waiting:
            if not keyframe:
                return 0
            m.rebase(seq, ts, _now())
            self._waiting = False
        elif ((seq - m.start_seq) & 0xFFFF) >= 0x8000:
            return 0  # older than where this consumer started
        if self._dtls._state is not _CONNECTED:  # type: ignore[union-attr]
            return 0
        oseq = (seq + m.seq_off) & 0xFFFF
        ots = (ts + m.ts_off) & 0xFFFFFFFF
        data = _pack(first, (0x80 | self._pt) if marker else self._pt, oseq, ots, self._ssrc)
        self._sendto(self._protect(data + body), self._addr)  # type: ignore[misc]
        if ((oseq - m.out_seq) & 0xFFFF) < 0x8000:
            m.out_seq = oseq
            m.out_ts = ots
            m.out_time = _now()
        self.packets += 1
        self.bytes += len(body) if first == FIRST_BYTE else len(body) - EXT_BLOCK_SIZE
        return 1

    def _forward_padding(self, seq: int, ts: int, size: int) -> None:
        """Forward a padding-only packet (keeps sequence numbers gap-free for the subscriber)."""
        if not self._live or self._waiting or self._dtls._state is not _CONNECTED:  # type: ignore[union-attr]
            return
        m = self._mapper
        if ((seq - m.start_seq) & 0xFFFF) >= 0x8000:
            return
        oseq = (seq + m.seq_off) & 0xFFFF
        ots = (ts + m.ts_off) & 0xFFFFFFFF
        size = min(max(size, 1), 255)
        data = _pack(0xA0, self._pt, oseq, ots, self._ssrc) + bytes(size - 1) + bytes([size])
        self._sendto(self._protect(data), self._addr)  # type: ignore[misc]
        if ((oseq - m.out_seq) & 0xFFFF) < 0x8000:
            m.out_seq = oseq
            m.out_ts = ots
            m.out_time = _now()

    def _retransmit(self, out_seq: int) -> bool:
        m = self._mapper
        seq = m.source_seq(out_seq)
        cache = self.producer._cache
        if seq is None or cache is None or not self._ready or self._dtls._state is not _CONNECTED:  # type: ignore[union-attr]
            return False
        entry = cache.get(seq)
        if entry is None:
            return False
        ts = (entry.ts + m.ts_off) & 0xFFFFFFFF
        data = _pack(entry.first, (0x80 | self._pt) if entry.marker else self._pt, out_seq, ts,
                     self._ssrc)
        self._sendto(self._protect(data + entry.body), self._addr)  # type: ignore[misc]
        self.retransmissions += 1
        TOTALS.retransmissions += 1
        return True

    # -- wiring ----------------------------------------------------------------------------

    def _on_sender_started(self, parameters: RTCRtpSendParameters) -> None:
        """The subscriber's DTLS is up and the m-line negotiated: start forwarding."""
        if self.closed:
            return
        self._pt = parameters.codecs[0].payloadType or self._pt
        dtls = self._sender.transport
        self._dtls = dtls
        self._protect = dtls._tx_srtp.protect
        connection = dtls.transport._connection
        pair = connection._nominated.get(1)
        if pair is not None and type(pair.protocol) is StunProtocol and pair.protocol.transport:
            self._sendto = pair.protocol.transport.sendto
            self._addr = pair.remote_addr
        else:  # TURN relay or unknown: go through aioice (async)
            def send_async(data: bytes, addr: Any) -> None:
                asyncio.ensure_future(connection.sendto(data, 1))
            self._sendto = send_async
        self._ready = True
        self._restart()
        self._update_live()

    def _fail(self) -> None:
        """Forwarding raised: stop sending to this subscriber until it is resumed."""
        self._ready = False
        self._update_live()

    def _restart(self) -> None:
        """Gate until the next keyframe and ask for one."""
        self._waiting = True
        if self._ready and not self.paused:
            self.producer.request_keyframe()

    def _update_live(self) -> None:
        self._live = self._ready and not self.paused and not self.closed

    def _on_rtcp(self, packet: AnyRtcpPacket) -> None:
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == self._ssrc:
                    self.fraction_lost = report.fraction_lost
                    self.packets_lost = report.packets_lost
                    self.jitter = report.jitter
        elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            for seq in packet.lost:
                self.nacks += 1
                TOTALS.nacks_received += 1
                self._retransmit(seq)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            self.keyframe_requests += 1
            if self._live:
                self.producer.request_keyframe()
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                self.remb = unpack_remb_fci(packet.fci)[0]
            except ValueError:
                return
            self.remb_at = time.monotonic()
            self.producer._on_consumer_remb(self.remb)

    def _sender_report(self) -> RtcpSrPacket | None:
        """An SR on the publisher's NTP timeline when known (lip sync), else on ours."""
        if not self.packets or self._waiting:
            return None
        m = self._mapper
        sr = self.producer._sr
        if sr is not None:
            ntp, rtp_ts, at = sr
            elapsed = max(0.0, time.time() - at)
            ntp = (ntp + int(elapsed * (1 << 32))) & 0xFFFFFFFFFFFFFFFF
            rtp_ts = (rtp_ts + m.ts_off + int(elapsed * m.clock_rate)) & 0xFFFFFFFF
        else:
            elapsed = max(0.0, _now() - (m.out_time or _now()))
            ntp = clock.current_ntp_time()
            rtp_ts = (m.out_ts + int(elapsed * m.clock_rate)) & 0xFFFFFFFF
        return RtcpSrPacket(ssrc=self._ssrc, sender_info=RtcpSenderInfo(
            ntp_timestamp=ntp, rtp_timestamp=rtp_ts,
            packet_count=self.packets & 0xFFFFFFFF, octet_count=self.bytes & 0xFFFFFFFF))

    # -- lifecycle -------------------------------------------------------------------------

    def pause(self) -> None:
        """Stop forwarding to this subscriber."""
        if self.closed or self.paused:
            return
        self.paused = True
        self._update_live()
        self.observer.emit("pause")

    def resume(self) -> None:
        """Forward again from the next keyframe (requested now)."""
        if self.closed or not self.paused:
            return
        self.paused = False
        self._update_live()
        self._restart()
        self.observer.emit("resume")

    def close(self) -> None:
        """Stop forwarding; the m-line goes inactive in the next offer and an RTCP BYE ends the track."""
        if self.closed:
            return
        self.closed = True
        self._update_live()
        self.producer._remove_consumer(self)
        self._transceiver.direction = "inactive"
        self.transport._consumer_closed(self)
        self.observer.emit("close")

    async def _teardown(self) -> None:
        """Stop the sender (sends RTCP BYE); drop a never-negotiated m-line entirely."""
        await self._sender.stop()
        if self._transceiver.mid is None:
            await self._transceiver.stop()

    def dump(self) -> dict[str, Any]:
        """Description and statistics."""
        return {
            "id": self.id, "producer_id": self.producer_id, "kind": self.kind, "mid": self.mid,
            "ssrc": self._ssrc, "payload_type": self._pt, "paused": self.paused,
            "closed": self.closed, "ready": self._ready, "waiting_keyframe": self._waiting,
            "app_data": self.app_data,
            "stats": {
                "packets": self.packets, "bytes": self.bytes, "nacks": self.nacks,
                "retransmissions": self.retransmissions,
                "keyframe_requests": self.keyframe_requests, "remb": self.remb,
                "fraction_lost": self.fraction_lost, "packets_lost": self.packets_lost,
                "jitter": self.jitter,
            },
        }
