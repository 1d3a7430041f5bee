"""Producer transforms: replace a producer's packets on their way to consumers and taps."""

from __future__ import annotations

from typing import Protocol


class Transform(Protocol):
    """Receives a producer's incoming packets; hands its output to `producer.emit()`."""

    def push(self, payload: bytes, seq: int, ts: int, marker: bool, keyframe: bool) -> None:
        """One incoming RTP payload (event-loop thread; must be cheap)."""

    def close(self) -> None:
        """Stop: the transform was replaced or its producer closed."""
