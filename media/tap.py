"""Taps: read-only observers of the packets a producer forwards (recorders, snapshots)."""

from __future__ import annotations

import logging
from typing import Protocol

logger = logging.getLogger(__name__)


class Tap(Protocol):
    """Gets every media packet a producer forwards, on the event loop; must be cheap."""

    def on_packet(self, payload: bytes, seq: int, ts: int, marker: bool,
                  keyframe: bool) -> None:
        """One RTP payload (no header, no extensions) as received."""

    def on_restart(self) -> None:
        """The packet stream restarts (sequence numbers and timestamps may jump)."""


def call_taps(taps: list[Tap], payload: bytes, seq: int, ts: int, marker: bool,
              keyframe: bool) -> None:
    """Hand a packet to every tap; a tap that raises is logged and removed from `taps`."""
    failed: list[Tap] | None = None
    for tap in taps:
        try:
            tap.on_packet(payload, seq, ts, marker, keyframe)
        except Exception:
            logger.exception("tap %r failed; removed", tap)
            failed = (failed or []) + [tap]
    if failed:
        for tap in failed:
            if tap in taps:
                taps.remove(tap)


def restart_taps(taps: list[Tap]) -> None:
    """Call every tap's on_restart(); a tap that raises is logged and removed from `taps`."""
    for tap in list(taps):
        try:
            tap.on_restart()
        except Exception:
            logger.exception("tap %r failed in on_restart; removed", tap)
            if tap in taps:
                taps.remove(tap)
