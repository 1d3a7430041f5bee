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

from .errors import MediaError
from .forwarding import CACHE_SIZE, KEYFRAME_REQUEST_INTERVAL, ForwardingSource
from .keyframe import keyframe_detector
from .tap import restart_taps
from .totals import TOTALS
from .transform import Transform

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ["CACHE_SIZE", "KEYFRAME_REQUEST_INTERVAL", "Producer", "silence_receiver",
           "skip_decoder"]

logger = logging.getLogger(__name__)

REMB_REFRESH = 1.0  # seconds between upstream REMBs unless the estimate drops
REMB_MAX_AGE = 5.0  # seconds a subscriber's REMB counts in the aggregate


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


class Producer(ForwardingSource):
    """An incoming track; forwards each RTP packet to its consumers without decoding."""

    def __init__(self, transport: Transport, receiver: RTCRtpReceiver, kind: str, mid: str,
                 codec: RTCRtpCodecParameters, app_data: dict[str, Any]) -> None:
        super().__init__("pr", kind, codec, app_data)
        self.mid = mid
        self.transport = transport
        self.ssrc: int | None = None
        self._receiver = receiver
        self._is_keyframe = keyframe_detector(codec.mimeType)
        self._transform: Transform | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stream: StreamStatistics | None = None
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
        self.plis_sent = 0
        self.nacks_sent = 0
        self.remb_sent: int | None = None
        self._remb_sent_at = 0.0
        self._own_remb: int | None = None

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
            level = None
        else:
            keyframe = True
            level = packet.extensions.audio_level
        if self._transform is not None:
            self._push_transform(payload, seq, ts, bool(marker), keyframe)
            return
        self._deliver(payload, seq, ts, marker, keyframe, level)

    def _push_transform(self, payload: bytes, seq: int, ts: int, marker: bool,
                        keyframe: bool) -> None:
        try:
            self._transform.push(payload, seq, ts, marker, keyframe)  # type: ignore[union-attr]
        except Exception:  # the packet is lost, never forwarded untransformed
            logger.exception("transform of producer %s failed", self.id)

    def _on_padding(self, packet: RtpPacket) -> None:
        """Padding-only packet (bandwidth probing without RTX): forward it as padding."""
        self.padding += 1
        if self._nack is not None:
            self._nack.add(packet)
        if self.paused or self._transform is not None or not packet.padding_size:
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
        if self._taps:  # a new sequence number and timestamp space
            restart_taps(self._taps)

    async def _on_rtcp(self, packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpSrPacket) and packet.ssrc == self.ssrc:
            info = packet.sender_info
            now = time.time()
            self._sr = (info.ntp_timestamp, info.rtp_timestamp, now)
            self.transport.sender_clock.observe(info.ntp_timestamp, now)
        await self._rtcp_orig(packet)

    def wallclock(self, ts: int) -> float | None:
        """Server time.time() at which the publisher sampled RTP timestamp `ts` (None before an SR)."""
        return self.transport.sender_clock.wallclock(self._sr, ts, self.clock_rate)

    # -- transforms ------------------------------------------------------------------------

    @property
    def transform(self) -> Transform | None:
        """The transform packets currently go through, if any."""
        return self._transform

    def set_transform(self, transform: Transform | None) -> None:
        """Route incoming packets through `transform` (None: plain forwarding again)."""
        if transform is self._transform:
            return
        if self.closed:
            if transform is not None:
                transform.close()
                raise MediaError("closed", f"producer {self.id} is closed")
            return
        old, self._transform = self._transform, transform
        if old is not None:
            _close_transform(old)
        if self._cache is not None:
            self._cache.clear()
        self._restart()

    def emit(self, payload: bytes, seq: int, ts: int, marker: bool, keyframe: bool) -> None:
        """A transform's output packet: forward it to consumers and taps (event-loop thread)."""
        if self._transform is None or self.closed:
            return
        self._deliver(payload, seq, ts, marker, keyframe, None)

    # -- feedback upstream -----------------------------------------------------------------

    def _keyframe_action(self) -> None:
        self._send_pli()

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
        self._restart()
        self.observer.emit("resume")

    def close(self) -> None:
        """Stop forwarding, close every consumer of this producer, and detach."""
        if self.closed:
            return
        self.closed = True
        silence_receiver(self._receiver)
        transform, self._transform = self._transform, None
        if transform is not None:
            _close_transform(transform)
        self._close_forwarding()
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
            "taps": len(self._taps), "transform": self._transform is not None,
        }


def _close_transform(transform: Transform) -> None:
    try:
        transform.close()
    except Exception:
        logger.exception("closing transform %r failed", transform)
