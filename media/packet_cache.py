"""A fixed-size per-producer history of received RTP packets, for answering NACKs."""

from __future__ import annotations

from typing import NamedTuple


class CachedPacket(NamedTuple):
    """One received packet as forwarded (payload without header)."""

    seq: int
    ts: int
    marker: int
    payload: bytes
    keyframe: bool


class PacketCache:
    """Ring buffer indexed by sequence number modulo its size (a power of two)."""

    __slots__ = ("_mask", "_slots")

    def __init__(self, size: int = 1024) -> None:
        if size <= 0 or size & (size - 1):
            raise ValueError("size must be a power of two")
        self._slots: list[CachedPacket | None] = [None] * size
        self._mask = size - 1

    def put(self, seq: int, ts: int, marker: int, payload: bytes, keyframe: bool) -> None:
        """Store a packet, replacing whatever had the same slot."""
        self._slots[seq & self._mask] = CachedPacket(seq, ts, marker, payload, keyframe)

    def get(self, seq: int) -> CachedPacket | None:
        """The packet with exactly this sequence number, if still held."""
        entry = self._slots[seq & self._mask]
        if entry is not None and entry.seq == seq:
            return entry
        return None

    def clear(self) -> None:
        """Forget everything."""
        self._slots = [None] * len(self._slots)
