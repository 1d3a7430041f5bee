"""Process-wide media counters for /metrics."""

from __future__ import annotations


class Totals:
    """Mutable counters shared by every router in the process (event-loop thread only)."""

    __slots__ = (
        "bytes_forwarded",
        "bytes_received",
        "keyframe_requests",
        "nacks_received",
        "nacks_sent",
        "packets_forwarded",
        "packets_received",
        "plis_sent",
        "retransmissions",
    )

    def __init__(self) -> None:
        self.packets_received = 0
        self.bytes_received = 0
        self.packets_forwarded = 0
        self.bytes_forwarded = 0
        self.keyframe_requests = 0
        self.plis_sent = 0
        self.nacks_received = 0
        self.nacks_sent = 0
        self.retransmissions = 0

    def as_dict(self) -> dict[str, int]:
        """Snapshot of every counter."""
        return {name: getattr(self, name) for name in self.__slots__}


TOTALS = Totals()


def totals() -> dict[str, int]:
    """Process-wide counters: packets/bytes received and forwarded, keyframe requests, NACKs."""
    return TOTALS.as_dict()
