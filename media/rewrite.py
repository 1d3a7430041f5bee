"""Per-consumer RTP header rewriting: SSRC, payload type, sequence number and timestamp."""

from __future__ import annotations

import random
import struct

from aiortc.codecs import HEADER_EXTENSIONS

RTP_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, seq, ts, ssrc
FIRST_BYTE = 0x80  # version 2, no padding, no extension, no CSRC
FIRST_BYTE_EXT = 0x90  # version 2 with a header extension block


def _ext_id(kind: str, uri: str) -> int:
    return next(e.id for e in HEADER_EXTENSIONS[kind] if e.uri == uri)


# Subscriber sessions are offered by us with aiortc's extension ids; they are fixed.
ABS_SEND_TIME_ID = _ext_id("video", "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time")
AUDIO_LEVEL_ID = _ext_id("audio", "urn:ietf:params:rtp-hdrext:ssrc-audio-level")
EXT_BLOCK_SIZE = 8  # 0xBEDE header (4) + one 1-byte-header element padded to 4


def abs_send_time_ext(seconds: float) -> bytes:
    """Header extension block carrying abs-send-time (6.18 fixed point seconds, mod 64 s)."""
    value = int(seconds * 262144) & 0x00FFFFFF
    return bytes((0xBE, 0xDE, 0x00, 0x01, (ABS_SEND_TIME_ID << 4) | 2,
                  value >> 16, (value >> 8) & 0xFF, value & 0xFF))


def audio_level_ext(voice: bool, level: int) -> bytes:
    """Header extension block carrying the client-to-mixer audio level (RFC 6464)."""
    return bytes((0xBE, 0xDE, 0x00, 0x01, AUDIO_LEVEL_ID << 4,
                  (0x80 if voice else 0) | (level & 0x7F), 0, 0))


def build_packet(pt: int, marker: int, seq: int, ts: int, ssrc: int, payload: bytes) -> bytes:
    """Serialize a plain RTP packet (version 2, no CSRC, no extensions)."""
    return RTP_HEADER.pack(0x80, (0x80 | pt) if marker else pt, seq, ts, ssrc) + payload


def uint16_newer(a: int, b: int) -> bool:
    """True if sequence number `a` is at or after `b` (modulo 2**16)."""
    return ((a - b) & 0xFFFF) < 0x8000


class SeqTsMapper:
    """Maps a source's sequence numbers and timestamps into one continuous outgoing stream.

    `rebase()` is called where forwarding (re)starts (first keyframe, resume, source
    switch); the outgoing stream then continues without gaps or timestamp jumps backwards.
    """

    __slots__ = ("clock_rate", "out_seq", "out_time", "out_ts", "seq_off", "start_seq", "ts_off")

    def __init__(self, clock_rate: int, seq_base: int | None = None, ts_base: int | None = None):
        self.clock_rate = clock_rate
        self.seq_off = 0
        self.ts_off = 0
        # last value sent; the first rebase starts from a random point in the lower
        # half of the sequence space (avoids an early wrap, like aiortc/libwebrtc)
        self.out_seq = (random.getrandbits(15) if seq_base is None else seq_base - 1) & 0xFFFF
        self.out_ts = (random.getrandbits(32) if ts_base is None else ts_base) & 0xFFFFFFFF
        self.out_time: float | None = None
        self.start_seq = 0

    def rebase(self, seq: int, ts: int, now: float) -> None:
        """Make source packet (seq, ts) follow the last packet sent."""
        next_seq = (self.out_seq + 1) & 0xFFFF
        if self.out_time is None:
            next_ts = self.out_ts
        else:
            elapsed = max(0.0, now - self.out_time)
            next_ts = (self.out_ts + max(1, int(elapsed * self.clock_rate))) & 0xFFFFFFFF
        self.seq_off = (next_seq - seq) & 0xFFFF
        self.ts_off = (next_ts - ts) & 0xFFFFFFFF
        self.start_seq = seq

    def map(self, seq: int, ts: int) -> tuple[int, int]:
        """Outgoing (seq, ts) for a source packet (does not record it as sent)."""
        return (seq + self.seq_off) & 0xFFFF, (ts + self.ts_off) & 0xFFFFFFFF

    def source_seq(self, out_seq: int) -> int | None:
        """Source sequence number for an outgoing one, None if it predates the last rebase."""
        seq = (out_seq - self.seq_off) & 0xFFFF
        if not uint16_newer(seq, self.start_seq):
            return None
        return seq
