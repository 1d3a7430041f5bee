"""LocalProducer: a track made on the server (composite, pixelated copy), forwarded like any other."""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiortc.codecs import CODECS
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from .errors import MediaError
from .forwarding import ForwardingSource
from .packetize import Packetizer
from .sender_clock import ntp_from_time, rtp_to_time

if TYPE_CHECKING:
    from .router import Router

logger = logging.getLogger(__name__)

H264_PROFILE_LEVEL_ID = "42e01f"


def local_codec(kind: str, mime_type: str) -> RTCRtpCodecParameters:
    """aiortc's codec parameters for `mime_type` (H.264: packetization-mode 1, 42e01f)."""
    if kind not in ("audio", "video") or not mime_type.lower().startswith(kind + "/"):
        raise MediaError("negotiation_failed", f"{mime_type} is not a {kind} codec")
    for codec in CODECS[kind]:
        if codec.mimeType.lower() != mime_type.lower():
            continue
        if (codec.mimeType.lower() == "video/h264"
                and codec.parameters.get("profile-level-id") != H264_PROFILE_LEVEL_ID):
            continue
        return dataclasses.replace(codec, parameters=dict(codec.parameters),
                                   rtcpFeedback=list(codec.rtcpFeedback))
    raise MediaError("negotiation_failed", f"unsupported codec {mime_type}")


class LocalProducer(ForwardingSource):
    """A producer without a publisher: frames from `send_frame()` are packetized and forwarded.

    Consumers get the same rewriting, NACK cache, sender reports (on this producer's clock)
    and keyframe gating as for a forwarded track.
    """

    def __init__(self, router: Router, kind: str, mime_type: str,
                 app_data: dict[str, Any] | None = None, stream_id: str | None = None) -> None:
        super().__init__("lp", kind, local_codec(kind, mime_type), dict(app_data or {}))
        self.router = router
        self.on_keyframe_request: Callable[[], None] | None = None
        self._stream_id = stream_id or self.id
        self._packetizer = Packetizer(self.mime_type)
        self._seq = random.getrandbits(15)
        self.frames = 0
        self.packets = 0
        self.bytes = 0

    @property
    def stream_id(self) -> str:
        """MediaStream id on subscribers; give a composite's audio and video the same one."""
        return self._stream_id

    @stream_id.setter
    def stream_id(self, value: str) -> None:
        self._stream_id = value

    def send_frame(self, data: bytes, timestamp: int, keyframe: bool,
                   sampled_at: float | None = None) -> None:
        """Packetize and forward one encoded frame (event-loop thread only).

        `timestamp` is in the codec's clock (90 kHz video, 48 kHz Opus); `sampled_at` (a
        time.time(), default now) is when it was sampled: sender reports pair the two.
        """
        if self.closed:
            return
        payloads = self._packetizer.packetize(data)
        if not payloads:
            return
        ts = timestamp & 0xFFFFFFFF
        at = time.time() if sampled_at is None else sampled_at
        self._sr = (ntp_from_time(at), ts, at)
        self.frames += 1
        last = len(payloads) - 1
        video = self._video
        seq = self._seq
        for i, payload in enumerate(payloads):
            self.packets += 1
            self.bytes += len(payload)
            self._deliver(payload, seq, ts, i == last, (keyframe and i == 0) or not video, None)
            seq = (seq + 1) & 0xFFFF
        self._seq = seq

    def wallclock(self, ts: int) -> float | None:
        """time.time() at which RTP timestamp `ts` was sampled (None before the first frame)."""
        if self._sr is None:
            return None
        _, rtp_ts, at = self._sr
        return rtp_to_time(ts, rtp_ts, at, self.clock_rate)

    def _keyframe_action(self) -> None:
        callback = self.on_keyframe_request
        if callback is None:
            return
        try:
            callback()
        except Exception:
            logger.exception("on_keyframe_request of local producer %s failed", self.id)

    def close(self) -> None:
        """Stop forwarding and close every consumer."""
        if self.closed:
            return
        self.closed = True
        self._close_forwarding()
        self.router._local_producer_closed(self)
        self.observer.emit("close")

    def dump(self) -> dict[str, Any]:
        """Description and statistics."""
        return {
            "id": self.id, "kind": self.kind, "mime_type": self.mime_type, "local": True,
            "closed": self.closed, "app_data": self.app_data,
            "consumers": [c.id for c in self._consumers],
            "stats": {"frames": self.frames, "packets": self.packets, "bytes": self.bytes,
                      "keyframe_requests": self.keyframe_requests},
        }
