"""Producer: one incoming track, read at the RTP level from the publisher's receiver."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
)
from pyee.asyncio import AsyncIOEventEmitter

from .ids import new_id
from .keyframe import keyframe_detector
from .packet_cache import PacketCache
from .rewrite import ABS_SEND_TIME_ID, FIRST_BYTE, FIRST_BYTE_EXT, audio_level_ext
from .throttle import Throttle
from .totals import TOTALS

if TYPE_CHECKING:
    from .consumer import Consumer
    from .transport import Transport

logger = logging.getLogger(__name__)

_time = time.time
_AST_ELEMENT = (ABS_SEND_TIME_ID << 4) | 2  # one-byte header: id, length - 1
REMB_REFRESH = 1.0  # seconds between upstream REMBs unless the estimate drops
REMB_MAX_AGE = 5.0  # seconds a subscriber's REMB counts in the aggregate

KEYFRAME_REQUEST_INTERVAL = 0.5  # seconds: at most one PLI per producer per interval
CACHE_SIZE = 1024  # packets of video history for answering subscriber NACKs


async def _drop_rtp(packet: RtpPacket, arrival_time_ms: int) -> None:
    """Receiver hook for tracks nobody forwards: never reach the jitter buffer or decoder."""


async def _receive_without_decoder(receiver: RTCRtpReceiver,
                                   parameters: RTCRtpReceiveParameters) -> None:
    """RTCRtpReceiver.receive() (aiortc 1.16) minus the decoder thread, which we never feed.

    Keeps what forwarding relies on: the codecs and RTX map, the registration with the
    DTLS transport's RTP router, and the RTCP task (receiver reports). stop() still works:
    with no decoder thread its decoder shutdown is a no-op.
    """
    if receiver._RTCRtpReceiver__started:  # type: ignore[attr-defined]
        return
    codecs = receiver._RTCRtpReceiver__codecs  # type: ignore[attr-defined]
    for codec in parameters.codecs:
        codecs[codec.payloadType] = codec
    rtx_ssrc = receiver._RTCRtpReceiver__rtx_ssrc  # type: ignore[attr-defined]
    for encoding in parameters.encodings:
        if encoding.rtx:
            rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc
    receiver.transport._register_rtp_receiver(receiver, parameters)
    receiver._RTCRtpReceiver__rtcp_task = asyncio.ensure_future(receiver._run_rtcp())  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__started = True  # type: ignore[attr-defined]


def skip_decoder(receiver: RTCRtpReceiver) -> None:
    """Never start the receiver's decoder thread (publisher receivers: RTP is forwarded)."""
    receiver.receive = functools.partial(_receive_without_decoder, receiver)  # type: ignore[method-assign]


def silence_receiver(receiver: RTCRtpReceiver) -> None:
    """Make a receiver discard RTP (no decoding, no unbounded frame queue)."""
    receiver._handle_rtp_packet = _drop_rtp  # type: ignore[method-assign]


class Producer:
    """An incoming track; forwards each RTP packet to its consumers without decoding."""

    def __init__(self, transport: Transport, receiver: RTCRtpReceiver, kind: str, mid: str,
                 codec: RTCRtpCodecParameters, app_data: dict[str, Any]) -> None:
        self.id = new_id("pr")
        self.kind = kind
        self.mid = mid
        self.codec = codec
        self.mime_type = codec.mimeType
        self.clock_rate = codec.clockRate
        self.payload_type: int = codec.payloadType or 0
        self.closed = False
        self.paused = False
        self.app_data = app_data
        self.transport = transport
        self.observer = AsyncIOEventEmitter()
        self.ssrc: int | None = None
        self._receiver = receiver
        self._video = kind == "video"
        self._is_keyframe = keyframe_detector(codec.mimeType)
        self._cache = PacketCache(CACHE_SIZE) if self._video else None
        self._consumers: list[Consumer] = []
        self._throttle = Throttle(KEYFRAME_REQUEST_INTERVAL, self._send_pli)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stream: StreamStatistics | None = None
        self._sr: tuple[int, int, float] | None = None  # (ntp, rtp ts, local time) of last SR
        # aiortc receiver internals we keep: RTCP RR statistics, NACK generation, REMB
        self._streams: dict[int, StreamStatistics] = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
        self._nack = receiver._RTCRtpReceiver__nack_generator  # type: ignore[attr-defined]
        self._estimator = receiver._RTCRtpReceiver__remote_bitrate_estimator  # type: ignore[attr-defined]
        self._rtcp_orig = receiver._handle_rtcp_packet
        receiver._handle_rtp_packet = self._on_rtp  # type: ignore[method-assign]
        receiver._handle_rtcp_packet = self._on_rtcp  # type: ignore[method-assign]
        # stats
        self.packets = 0
        self.bytes = 0
        self.dropped = 0
        self.padding = 0
        self.keyframes = 0
        self.keyframe_requests = 0
        self.plis_sent = 0
        self.nacks_sent = 0
        self.remb_sent: int | None = None
        self._remb_sent_at = 0.0
        self._own_remb: int | None = None

    @property
    def consumers(self) -> list[Consumer]:
        """Open consumers of this producer."""
        return list(self._consumers)

    @property
    def stream_id(self) -> str:
        """MediaStream id shared by every track of one publisher transport (lip sync)."""
        return self.transport.id

    # -- hot path --------------------------------------------------------------------------

    async def _on_rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        if packet.payload_type != self.payload_type:
            self.dropped += 1
            return
        if packet.ssrc != self.ssrc:
            self._new_ssrc(packet.ssrc)
        self._stream.add(packet)  # type: ignore[union-attr]
        payload = packet.payload
        if not payload:
            self._on_padding(packet)
            return
        size = len(payload)
        seq = packet.sequence_number
        ts = packet.timestamp
        marker = packet.marker
        self.packets += 1
        self.bytes += size
        TOTALS.packets_received += 1
        TOTALS.bytes_received += size
        if self._video:
            # our send time, once per packet for every subscriber (their bandwidth estimation)
            ast = int(_time() * 262144) & 0x00FFFFFF
            first = FIRST_BYTE_EXT
            body = bytes((0xBE, 0xDE, 0x00, 0x01, _AST_ELEMENT,
                          ast >> 16, (ast >> 8) & 0xFF, ast & 0xFF)) + payload
            estimator = self._estimator
            if estimator is not None and packet.extensions.abs_send_time is not None:
                remb = estimator.add(abs_send_time=packet.extensions.abs_send_time,
                                     arrival_time_ms=arrival_time_ms,
                                     payload_size=size + packet.padding_size, ssrc=packet.ssrc)
                if remb is not None:
                    self._send_remb(remb)
            if self._nack is not None and self._nack.add(packet):
                self.nacks_sent += 1
                TOTALS.nacks_sent += 1
                self._spawn(self._receiver._send_rtcp_nack(packet.ssrc, sorted(self._nack.missing)))
            keyframe = self._is_keyframe(payload)
            if keyframe:
                self.keyframes += 1
            self._cache.put(seq, ts, marker, body, keyframe, first)  # type: ignore[union-attr]
        else:
            keyframe = True
            level = packet.extensions.audio_level
            if level is None:
                first = FIRST_BYTE
                body = payload
            else:
                first = FIRST_BYTE_EXT
                body = audio_level_ext(level[0], level[1]) + payload
        if self.paused or not self._consumers:
            return
        sent = 0
        for consumer in self._consumers:
            try:
                sent += consumer._forward(body, first, seq, ts, marker, keyframe)
            except Exception:  # never let one subscriber break the publisher's receive loop
                logger.exception("forwarding to consumer %s failed", consumer.id)
                consumer._fail()
        if sent:
            TOTALS.packets_forwarded += sent
            TOTALS.bytes_forwarded += sent * size

    def _on_padding(self, packet: RtpPacket) -> None:
        """Padding-only packet (bandwidth probing without RTX): forward it as padding."""
        self.padding += 1
        if self._nack is not None:
            self._nack.add(packet)
        if self.paused or not packet.padding_size:
            return
        for consumer in self._consumers:
            try:
                consumer._forward_padding(packet.sequence_number, packet.timestamp,
                                          packet.padding_size)
            except Exception:
                logger.exception("forwarding padding to consumer %s failed", consumer.id)
                consumer._fail()

    def _new_ssrc(self, ssrc: int) -> None:
        self.ssrc = ssrc
        stream = self._streams.get(ssrc)
        if stream is None:
            stream = self._streams[ssrc] = StreamStatistics(self.clock_rate)
        self._stream = stream

    async def _on_rtcp(self, packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpSrPacket) and packet.ssrc == self.ssrc:
            info = packet.sender_info
            self._sr = (info.ntp_timestamp, info.rtp_timestamp, time.time())
        await self._rtcp_orig(packet)

    # -- feedback upstream -----------------------------------------------------------------

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (one PLI per ~500 ms at most, none for audio)."""
        if self.closed or not self._video:
            return
        self.keyframe_requests += 1
        TOTALS.keyframe_requests += 1
        self._throttle.request()

    def _send_pli(self) -> None:
        if self.closed or self.ssrc is None:
            return
        self.plis_sent += 1
        TOTALS.plis_sent += 1
        self._spawn(self._receiver._send_rtcp_pli(self.ssrc))

    def _send_remb(self, remb: tuple[int, list[int]]) -> None:
        """Our own estimate of the publisher leg changed (aiortc's estimator)."""
        self._own_remb = remb[0]
        self._push_remb()

    def _on_consumer_remb(self, bitrate: int) -> None:
        """A subscriber reported its bandwidth: pass a drop upstream at once."""
        if not self._video:
            return
        now = time.monotonic()
        if (self.remb_sent is None or bitrate < self.remb_sent * 0.9
                or now - self._remb_sent_at >= REMB_REFRESH):
            self._push_remb()

    def _push_remb(self) -> None:
        """REMB to the publisher: the lowest of our estimate and fresh subscriber REMBs."""
        rtcp_ssrc = self._receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
        if rtcp_ssrc is None or self.ssrc is None:
            return
        now = time.monotonic()
        values = [c.remb for c in self._consumers
                  if c.remb is not None and now - c.remb_at <= REMB_MAX_AGE]
        if self._own_remb is not None:
            values.append(self._own_remb)
        if not values:
            return
        bitrate = min(values)
        self.remb_sent = bitrate
        self._remb_sent_at = now
        pkt = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0,
                             fci=pack_remb_fci(bitrate, [self.ssrc]))
        self._spawn(self._receiver._send_rtcp(pkt))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- consumers -------------------------------------------------------------------------

    def _add_consumer(self, consumer: Consumer) -> None:
        self._consumers.append(consumer)

    def _remove_consumer(self, consumer: Consumer) -> None:
        if consumer in self._consumers:
            self._consumers.remove(consumer)

    # -- lifecycle -------------------------------------------------------------------------

    def pause(self) -> None:
        """Stop forwarding to every consumer (e.g. muted)."""
        if self.closed or self.paused:
            return
        self.paused = True
        self.observer.emit("pause")

    def resume(self) -> None:
        """Forward again; consumers restart at the next keyframe, which is requested now."""
        if self.closed or not self.paused:
            return
        self.paused = False
        for consumer in self._consumers:
            consumer._restart()
        self.request_keyframe()
        self.observer.emit("resume")

    def close(self) -> None:
        """Stop forwarding, close every consumer of this producer, and detach."""
        if self.closed:
            return
        self.closed = True
        silence_receiver(self._receiver)
        self._throttle.cancel()
        for consumer in list(self._consumers):
            consumer.close()
        self._consumers.clear()
        if self._cache is not None:
            self._cache.clear()
        self.transport._producer_closed(self)
        self.observer.emit("close")

    def dump(self) -> dict[str, Any]:
        """Description and statistics."""
        stream = self._stream
        return {
            "id": self.id, "kind": self.kind, "mid": self.mid, "mime_type": self.mime_type,
            "payload_type": self.payload_type, "ssrc": self.ssrc, "paused": self.paused,
            "closed": self.closed, "app_data": self.app_data,
            "consumers": [c.id for c in self._consumers],
            "stats": {
                "packets": self.packets, "bytes": self.bytes, "dropped": self.dropped,
                "padding": self.padding,
                "packets_lost": stream.packets_lost if stream else 0,
                "jitter": stream.jitter if stream else 0,
                "keyframes": self.keyframes, "keyframe_requests": self.keyframe_requests,
                "plis_sent": self.plis_sent, "nacks_sent": self.nacks_sent,
                "remb_sent": self.remb_sent,
            },
        }
