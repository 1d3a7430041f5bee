"""FrameAssembler: RTP payloads back into encoded frames (reordering, loss, sequence wrap)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

from aiortc.codecs.h264 import h264_depayload
from aiortc.codecs.vpx import vp8_depayload

logger = logging.getLogger(__name__)

VIDEO_WINDOW = 64  # packets after a gap before it counts as lost (video)
AUDIO_WINDOW = 8  # the same for audio (one packet, one frame)
MAX_JUMP = 3000  # a sequence jump larger than this restarts the stream


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One encoded frame: VP8 data, H.264 Annex-B access unit, or one audio packet."""

    data: bytes
    timestamp: int
    keyframe: bool


class _Packet(NamedTuple):
    payload: bytes
    ts: int
    marker: bool
    keyframe: bool


class FrameAssembler:
    """Reassembles frames from RTP payloads of one stream (a Tap's packets).

    Packets are reordered within a small window; a frame with a missing packet is dropped,
    and video then waits for the next keyframe.
    """

    def __init__(self, mime_type: str, window: int | None = None) -> None:
        self.mime_type = mime_type
        mime = mime_type.lower()
        self._video = mime.startswith("video/")
        if self._video and mime not in ("video/vp8", "video/h264"):
            raise ValueError(f"cannot depacketize {mime_type}")
        self._depayload = (vp8_depayload if mime == "video/vp8"
                           else h264_depayload if mime == "video/h264" else None)
        self._window = window or (VIDEO_WINDOW if self._video else AUDIO_WINDOW)
        self.frames = 0
        self.dropped = 0  # frames lost or undecodable
        self.reset()

    def reset(self) -> None:
        """Forget every packet and wait for a new start (video: a keyframe)."""
        self._buf: dict[int, _Packet] = {}
        self._next: int | None = None  # extended sequence number of the next packet to use
        self._high = 0  # highest extended sequence number seen
        self._wait_key = self._video

    def push(self, payload: bytes, seq: int, ts: int, marker: bool,
             keyframe: bool) -> list[EncodedFrame]:
        """Add one packet; returns the frames it completed, in order."""
        if self._next is None:
            ext = seq
            self._next = self._high = ext
        else:
            ext = self._high + ((seq - self._high + 0x8000) & 0xFFFF) - 0x8000
            if abs(ext - self._high) > MAX_JUMP:  # the stream restarted
                self.reset()
                ext = seq
                self._next = self._high = ext
            elif ext < self._next:
                return []  # too late or a duplicate
            self._high = max(self._high, ext)
        self._buf[ext] = _Packet(payload, ts, bool(marker), keyframe)
        return self._drain()

    # -- internals -------------------------------------------------------------------------

    def _drain(self) -> list[EncodedFrame]:
        out: list[EncodedFrame] = []
        buf = self._buf
        while buf:
            if self._wait_key and not self._find_keyframe():
                break
            start = self._next
            assert start is not None
            first = buf.get(start)
            if first is None:  # a gap right at the start
                if self._high - start < self._window:
                    break
                self._lost(start)
                continue
            if not self._video:
                del buf[start]
                self._next = start + 1
                self._emit(out, [first])
                continue
            end = start
            parts = [first]
            complete = first.marker
            while not complete:
                p = buf.get(end + 1)
                if p is None:
                    break
                if p.ts != first.ts:  # next frame began without a marker: this one is done
                    complete = True
                    break
                end += 1
                parts.append(p)
                complete = p.marker
            if not complete:
                gap = end + 1
                if self._high - gap < self._window:
                    break
                self._lost(gap)
                continue
            for i in range(start, end + 1):
                del buf[i]
            self._next = end + 1
            self._emit(out, parts)
        return out

    def _find_keyframe(self) -> bool:
        """Skip to the first buffered keyframe start; False if there is none yet."""
        keys = [s for s, p in self._buf.items() if p.keyframe]
        if not keys:
            floor = self._high - self._window
            for s in [s for s in self._buf if s < floor]:
                del self._buf[s]
            return False
        key = min(keys)
        for s in [s for s in self._buf if s < key]:
            del self._buf[s]
        self._next = key
        self._wait_key = False
        return True

    def _lost(self, gap: int) -> None:
        """Packet `gap` is lost: drop the frame it belongs to (video: wait for a keyframe)."""
        assert self._next is not None
        for s in [s for s in self._buf if s < gap]:
            del self._buf[s]
        self._next = gap + 1
        self.dropped += 1
        if self._video:
            self._wait_key = True

    def _emit(self, out: list[EncodedFrame], parts: list[_Packet]) -> None:
        depayload = self._depayload
        try:
            data = (b"".join(depayload(p.payload) for p in parts) if depayload is not None
                    else parts[0].payload)
        except ValueError as exc:
            logger.debug("undecodable %s frame dropped: %s", self.mime_type, exc)
            self.dropped += 1
            self._wait_key = self._video
            return
        self.frames += 1
        out.append(EncodedFrame(data, parts[0].ts, any(p.keyframe for p in parts)))
