"""Sender clocks: map RTP timestamps of a publisher onto the server's wall clock (lip sync)."""

from __future__ import annotations

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)


def ntp_to_seconds(ntp: int) -> float:
    """A 64-bit NTP timestamp as float seconds since the NTP epoch."""
    return (ntp >> 32) + (ntp & 0xFFFFFFFF) / 4294967296.0


def ntp_to_time(ntp: int) -> float:
    """A 64-bit NTP timestamp as a Unix time."""
    return ntp_to_seconds(ntp) - NTP_EPOCH_OFFSET


def ntp_from_time(t: float) -> int:
    """A Unix time (`time.time()`) as a 64-bit NTP timestamp."""
    return int((t + NTP_EPOCH_OFFSET) * 4294967296.0) & 0xFFFFFFFFFFFFFFFF


def ts_diff(a: int, b: int) -> int:
    """Signed difference `a - b` of two 32-bit RTP timestamps (wrap-safe)."""
    d = (a - b) & 0xFFFFFFFF
    return d - 0x100000000 if d >= 0x80000000 else d


def rtp_to_time(ts: int, ref_ts: int, ref_time: float, clock_rate: int) -> float:
    """The time of RTP timestamp `ts`, given that `ref_ts` was sampled at `ref_time`."""
    return ref_time + ts_diff(ts, ref_ts) / clock_rate


class SenderClock:
    """One publisher's NTP-to-local offset, shared by every producer of its send transport.

    `offset` is our clock minus the publisher's, plus the network delay. Each sender report gives `local receipt time - NTP time` = true offset + network delay;
    the minimum seen is kept, so delay jitter never moves the timeline (one offset for audio
    and video keeps them in sync with each other).
    """

    __slots__ = ("offset",)

    def __init__(self) -> None:
        self.offset: float | None = None

    def observe(self, ntp: int, received_at: float) -> None:
        """A sender report with NTP timestamp `ntp` arrived at `received_at` (time.time())."""
        sample = received_at - ntp_to_time(ntp)
        if self.offset is None or sample < self.offset:
            self.offset = sample

    def wallclock(self, sr: tuple[int, int, float] | None, ts: int,
                  clock_rate: int) -> float | None:
        """Local time at which RTP timestamp `ts` was sampled, from a stream's last SR."""
        if sr is None or self.offset is None:
            return None
        ntp, rtp_ts, _ = sr
        return rtp_to_time(ts, rtp_ts, ntp_to_time(ntp) + self.offset, clock_rate)
