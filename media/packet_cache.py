"""A fixed-size per-producer history of received RTP packets, for answering NACKs."""

from __future__ import annotations

from typing import NamedTuple


class CachedPacket(NamedTuple):
    """One received packet as forwarded: everything after the fixed 12-byte header."""

    seq: int
    ts: int
    marker: int
    body: bytes  # header extension block (if `first` says so) + payload
    keyframe: bool
    first: int = 0x80  # first header byte: 0x90 when `body` starts with an extension block

    @property
    def payload(self) -> bytes:
        """The RTP payload, without the extension block."""
        if self.first & 0x10:
            return self.body[4 + 4 * ((self.body[2] << 8) | self.body[3]):]
        return self.body


class PacketCache:
    """Ring buffer indexed by sequence number modulo its size (a power of two)."""

    __slots__ = ("_mask", "_slots")

    def __init__(self, size: int = 1024) -> None:
        if size <= 0 or size & (size - 1):
            raise ValueError("size must be a power of two")
        self._slots: list[CachedPacket | None] = [None] * size
        self._mask = size - 1

    def put(self, seq: int, ts: int, marker: int, body: bytes, keyframe: bool,
            first: int = 0x80) -> None:
        """Store a packet, replacing whatever had the same slot."""
        self._slots[seq & self._mask] = CachedPacket(seq, ts, marker, body, keyframe, first)

    def get(self, seq: int) -> CachedPacket | None:
        """The packet with exactly this sequence number, if still held."""
        entry = self._slots[seq & self._mask]
        if entry is not None and entry.seq == seq:
            return entry
        return None

    def clear(self) -> None:
        """Forget everything."""
        self._slots = [None] * len(self._slots)
