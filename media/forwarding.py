"""What every forwarded track shares: consumers, taps, NACK cache, keyframe requests."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from pyee.asyncio import AsyncIOEventEmitter

from .ids import new_id
from .packet_cache import PacketCache
from .rewrite import ABS_SEND_TIME_ID, FIRST_BYTE, FIRST_BYTE_EXT, audio_level_ext
from .tap import Tap, call_taps, restart_taps
from .throttle import Throttle
from .totals import TOTALS

if TYPE_CHECKING:
    from .consumer import Consumer

logger = logging.getLogger(__name__)

_time = time.time
_AST_ELEMENT = (ABS_SEND_TIME_ID << 4) | 2  # one-byte header: id, length - 1
KEYFRAME_REQUEST_INTERVAL = 0.5  # seconds: at most one keyframe request per interval
CACHE_SIZE = 1024  # packets of video history for answering subscriber NACKs


class ForwardingSource:
    """Base of Producer and LocalProducer: turns payloads into packets for consumers and taps."""

    def __init__(self, id_prefix: str, kind: str, codec: RTCRtpCodecParameters,
                 app_data: dict[str, Any]) -> None:
        self.id = new_id(id_prefix)
        self.kind = kind
        self.codec = codec
        self.mime_type = codec.mimeType
        self.clock_rate = codec.clockRate
        self.payload_type: int = codec.payloadType or 0
        self.closed = False
        self.paused = False
        self.app_data = app_data
        self.observer = AsyncIOEventEmitter()
        self._video = kind == "video"
        self._cache = PacketCache(CACHE_SIZE) if self._video else None
        self._consumers: list[Consumer] = []
        self._taps: list[Tap] = []
        self._throttle = Throttle(KEYFRAME_REQUEST_INTERVAL, self._keyframe_action)
        self._sr: tuple[int, int, float] | None = None  # (ntp, rtp ts, local time) of last SR
        self.keyframe_requests = 0

    @property
    def consumers(self) -> list[Consumer]:
        """Open consumers of this track."""
        return list(self._consumers)

    @property
    def stream_id(self) -> str:
        """MediaStream id of this track on subscribers (tracks of one stream are lip-synced)."""
        raise NotImplementedError

    # -- hot path --------------------------------------------------------------------------

    def _deliver(self, payload: bytes, seq: int, ts: int, marker: int, keyframe: bool,
                 level: tuple[bool, int] | None) -> None:
        """Cache (video), tap and forward one media packet."""
        if self._video:
            # our send time, once per packet for every subscriber (their bandwidth estimation)
            ast = int(_time() * 262144) & 0x00FFFFFF
            first = FIRST_BYTE_EXT
            body = bytes((0xBE, 0xDE, 0x00, 0x01, _AST_ELEMENT,
                          ast >> 16, (ast >> 8) & 0xFF, ast & 0xFF)) + payload
            self._cache.put(seq, ts, marker, body, keyframe, first)  # type: ignore[union-attr]
        elif level is None:
            first = FIRST_BYTE
            body = payload
        else:
            first = FIRST_BYTE_EXT
            body = audio_level_ext(level[0], level[1]) + payload
        if self.paused:
            return
        if self._taps:
            call_taps(self._taps, payload, seq, ts, bool(marker), keyframe)
        if not self._consumers:
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
            TOTALS.bytes_forwarded += sent * len(payload)

    # -- taps ------------------------------------------------------------------------------

    def add_tap(self, tap: Tap) -> None:
        """Give `tap` every media packet forwarded from now on (video: a keyframe is requested)."""
        if self.closed or tap in self._taps:
            return
        self._taps.append(tap)
        self.request_keyframe()

    def remove_tap(self, tap: Tap) -> None:
        """Stop giving packets to `tap`."""
        if tap in self._taps:
            self._taps.remove(tap)

    def _restart(self) -> None:
        """The packet stream restarts: consumers gate until a keyframe, taps are told."""
        for consumer in self._consumers:
            consumer._restart()
        if self._taps:
            restart_taps(self._taps)
        self.request_keyframe()

    # -- keyframes and feedback ------------------------------------------------------------

    def request_keyframe(self) -> None:
        """Ask the source for a keyframe (at most one per ~500 ms, none for audio)."""
        if self.closed or not self._video:
            return
        self.keyframe_requests += 1
        TOTALS.keyframe_requests += 1
        self._throttle.request()

    def _keyframe_action(self) -> None:
        """The throttled keyframe request itself."""

    def _on_consumer_remb(self, bitrate: int) -> None:
        """A subscriber reported its bandwidth."""

    # -- consumers and lifecycle -----------------------------------------------------------

    def _add_consumer(self, consumer: Consumer) -> None:
        self._consumers.append(consumer)

    def _remove_consumer(self, consumer: Consumer) -> None:
        if consumer in self._consumers:
            self._consumers.remove(consumer)

    def _close_forwarding(self) -> None:
        """Close every consumer, drop taps and the cache, stop keyframe requests."""
        self._throttle.cancel()
        self._taps.clear()
        for consumer in list(self._consumers):
            consumer.close()
        self._consumers.clear()
        if self._cache is not None:
            self._cache.clear()
