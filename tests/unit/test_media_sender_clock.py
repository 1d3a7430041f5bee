"""Sender clock: RTP timestamps to server wall-clock time from sender reports."""

from __future__ import annotations

from media.sender_clock import SenderClock, ntp_from_time, ntp_to_seconds, rtp_to_time, ts_diff

T0 = 1_700_000_000.0  # an arbitrary Unix time


def test_ntp_round_trip() -> None:
    assert abs(ntp_to_seconds(ntp_from_time(T0)) - (T0 + 2208988800)) < 1e-6


def test_ts_diff_is_signed_and_wrap_safe() -> None:
    assert ts_diff(10, 5) == 5
    assert ts_diff(5, 10) == -5
    assert ts_diff(100, 0xFFFFFF00) == 356
    assert ts_diff(0xFFFFFF00, 100) == -356


def test_wallclock_maps_timestamps_across_the_wrap() -> None:
    clock = SenderClock()
    sender_time = T0 + 1000.0  # the publisher's clock runs 1000 s ahead of ours
    sr = (ntp_from_time(sender_time), 0xFFFFF000, T0 + 0.05)
    clock.observe(sr[0], T0 + 0.05)  # arrived 50 ms after it was sent
    # RTP ts 0xFFFFF000 was sampled at our T0 + 0.05 (offset includes the 50 ms delay)
    assert abs(clock.wallclock(sr, 0xFFFFF000, 90000) - (T0 + 0.05)) < 1e-6  # type: ignore[operator]
    later = (0xFFFFF000 + 90000) & 0xFFFFFFFF  # one second later, wrapped
    assert abs(clock.wallclock(sr, later, 90000) - (T0 + 1.05)) < 1e-6  # type: ignore[operator]
    earlier = (0xFFFFF000 - 45000) & 0xFFFFFFFF
    assert abs(clock.wallclock(sr, earlier, 90000) - (T0 - 0.45)) < 1e-6  # type: ignore[operator]


def test_offset_keeps_the_smallest_delay() -> None:
    clock = SenderClock()
    for sent, delay in ((0.0, 0.080), (1.0, 0.020), (2.0, 0.200), (3.0, 0.050)):
        clock.observe(ntp_from_time(T0 + sent), T0 + sent + delay)
    assert clock.offset is not None
    assert abs(clock.offset - 0.020) < 1e-6


def test_one_offset_serves_audio_and_video() -> None:
    clock = SenderClock()
    audio_sr = (ntp_from_time(T0 + 5.0), 48000 * 7, T0 + 5.03)
    video_sr = (ntp_from_time(T0 + 5.4), 90000 * 3, T0 + 5.49)
    clock.observe(audio_sr[0], audio_sr[2])
    clock.observe(video_sr[0], video_sr[2])
    # media sampled at the same instant (sender time T0 + 6) map to one server time
    a = clock.wallclock(audio_sr, 48000 * 8, 48000)
    v = clock.wallclock(video_sr, 90000 * 3 + int(0.6 * 90000), 90000)
    assert a is not None and v is not None
    assert abs(a - v) < 1e-6


def test_no_wallclock_before_a_sender_report() -> None:
    clock = SenderClock()
    assert clock.wallclock(None, 1234, 90000) is None
    assert clock.wallclock((ntp_from_time(T0), 0, T0), 1234, 90000) is None  # no offset yet
    assert rtp_to_time(90000, 0, 10.0, 90000) == 11.0
