"""A producer-like source of already encoded frames (files, benchmarks, tests).

`FrameFeed` looks to the compositor like a producer (kind, mime_type, add_tap/remove_tap,
request_keyframe, wallclock) but is fed whole encoded frames with `push()`, which go
straight to the decode stage of every compositor input reading it.
"""

from __future__ import annotations

from typing import Any


class FrameFeed:
    """Encoded frames pushed by the caller, stamped with the server time of capture."""

    def __init__(self, mime_type: str, app_data: dict[str, Any] | None = None) -> None:
        self.mime_type = mime_type
        self.kind = mime_type.split("/", 1)[0]
        self.id = f"feed-{id(self):x}"
        self.app_data = dict(app_data or {})
        self.closed = False
        self.keyframe_requests = 0
        self._readers: list[Any] = []

    def add_tap(self, tap: Any) -> None:
        """Register a reader (a compositor input with `push_frame`)."""
        if tap not in self._readers:
            self._readers.append(tap)

    def remove_tap(self, tap: Any) -> None:
        """Unregister a reader."""
        if tap in self._readers:
            self._readers.remove(tap)

    def request_keyframe(self) -> None:
        """Counted only: the caller decides when to push keyframes."""
        self.keyframe_requests += 1

    def wallclock(self, ts: int) -> float | None:
        """Frames carry their own capture time (see `push`)."""
        return None

    def push(self, data: bytes, timestamp: int, keyframe: bool, wallclock: float) -> None:
        """Hand one encoded frame captured at `wallclock` (a time.time()) to every reader."""
        for reader in self._readers:
            if self.kind == "video":
                reader.push_frame(data, timestamp, keyframe, wallclock)
            else:
                reader.push_frame(data, timestamp, wallclock)


__all__ = ["FrameFeed"]
