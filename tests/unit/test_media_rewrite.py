"""RTP header rewriting: SSRC, payload type, sequence numbers and timestamps across wrap-around."""

from __future__ import annotations

from aiortc.rtp import RtpPacket

from media.rewrite import SeqTsMapper, build_packet, uint16_newer


def test_build_packet_sets_ssrc_pt_marker_seq_ts_and_keeps_payload() -> None:
    data = build_packet(pt=101, marker=1, seq=65535, ts=0xFFFFFFFF, ssrc=0xDEADBEEF, payload=b"abc")
    packet = RtpPacket.parse(data)
    assert (packet.payload_type, packet.marker, packet.sequence_number) == (101, 1, 65535)
    assert (packet.timestamp, packet.ssrc, packet.payload) == (0xFFFFFFFF, 0xDEADBEEF, b"abc")
    assert RtpPacket.parse(build_packet(96, 0, 1, 2, 3, b"")).marker == 0


def test_sequence_numbers_and_timestamps_wrap_around() -> None:
    m = SeqTsMapper(90000, seq_base=65534, ts_base=0xFFFFFF00)
    m.rebase(seq=100, ts=1000, now=0.0)
    assert m.map(100, 1000) == (65534, 0xFFFFFF00)
    assert m.map(101, 1000) == (65535, 0xFFFFFF00)
    assert m.map(102, 1000 + 3000) == (0, (0xFFFFFF00 + 3000) & 0xFFFFFFFF)
    assert m.map(103, 1000 + 6000)[0] == 1


def test_source_wrap_around_maps_continuously() -> None:
    m = SeqTsMapper(48000, seq_base=1000, ts_base=5000)
    m.rebase(seq=65535, ts=0xFFFFFFFF, now=0.0)
    assert m.map(65535, 0xFFFFFFFF) == (1000, 5000)
    assert m.map(0, 959) == (1001, 5000 + 960)


def test_rebase_continues_after_the_last_packet_sent_without_going_back_in_time() -> None:
    m = SeqTsMapper(90000, seq_base=10, ts_base=1000)
    m.rebase(seq=500, ts=90000, now=0.0)
    m.out_seq, m.out_ts, m.out_time = m.map(520, 93000) + (1.0,)
    # a new source (or resume) with unrelated numbers, 0.5 s later
    m.rebase(seq=7, ts=123, now=1.5)
    seq, ts = m.map(7, 123)
    assert seq == 31  # 10 + 20 + 1
    assert ts == 1000 + 3000 + 45000


def test_source_seq_inverts_map_and_refuses_packets_before_the_rebase() -> None:
    m = SeqTsMapper(90000, seq_base=65530)
    m.rebase(seq=200, ts=0, now=0.0)
    out, _ = m.map(210, 0)
    assert m.source_seq(out) == 210
    assert m.source_seq(m.map(199, 0)[0]) is None
    assert uint16_newer(5, 65530) and not uint16_newer(65530, 5)


def test_extension_blocks_parse_as_abs_send_time_and_audio_level() -> None:
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
    from aiortc.rtp import HeaderExtensionsMap

    from media.packet_cache import CachedPacket
    from media.rewrite import (
        ABS_SEND_TIME_ID,
        AUDIO_LEVEL_ID,
        FIRST_BYTE_EXT,
        RTP_HEADER,
        abs_send_time_ext,
        audio_level_ext,
    )

    ext_map = HeaderExtensionsMap()
    ext_map.configure(RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(
            id=ABS_SEND_TIME_ID, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
        RTCRtpHeaderExtensionParameters(
            id=AUDIO_LEVEL_ID, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
    ]))
    header = RTP_HEADER.pack(FIRST_BYTE_EXT, 96, 1, 2, 3)
    video = RtpPacket.parse(header + abs_send_time_ext(1.5) + b"vp8", ext_map)
    assert video.extensions.abs_send_time == int(1.5 * 262144) and video.payload == b"vp8"
    audio = RtpPacket.parse(header + audio_level_ext(True, 42) + b"opus", ext_map)
    assert audio.extensions.audio_level == (True, 42) and audio.payload == b"opus"
    cached = CachedPacket(1, 2, 0, abs_send_time_ext(0.0) + b"vp8", False, FIRST_BYTE_EXT)
    assert cached.payload == b"vp8"
