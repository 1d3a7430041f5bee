"""Keyframe detection on crafted VP8 and H.264 RTP payloads."""

from __future__ import annotations

from media.keyframe import h264_is_keyframe, keyframe_detector, vp8_is_keyframe


def test_vp8_keyframe_minimal_descriptor() -> None:
    assert vp8_is_keyframe(bytes([0x10, 0x00, 0x01, 0x02]))  # S=1, PID 0, P=0
    assert not vp8_is_keyframe(bytes([0x10, 0x01]))  # P=1: interframe
    assert not vp8_is_keyframe(bytes([0x00, 0x00]))  # not a partition start
    assert not vp8_is_keyframe(bytes([0x11, 0x00]))  # partition 1


def test_vp8_keyframe_with_extended_descriptor() -> None:
    # X=1, S=1; I=1 with 15-bit picture id (M bit), L=1, T=1
    payload = bytes([0x90, 0xE0, 0x80 | 0x12, 0x34, 0x05, 0x40, 0x00, 0x9D])
    assert vp8_is_keyframe(payload)
    inter = bytes([0x90, 0xE0, 0x80 | 0x12, 0x34, 0x05, 0x40, 0x01])
    assert not vp8_is_keyframe(inter)
    # 7-bit picture id only
    assert vp8_is_keyframe(bytes([0x90, 0x80, 0x12, 0x00]))
    assert not vp8_is_keyframe(bytes([0x90, 0x80, 0x12]))  # truncated
    assert not vp8_is_keyframe(b"")


def test_h264_single_nal_stap_a_and_fu_a() -> None:
    assert h264_is_keyframe(bytes([0x65, 0x88]))  # IDR slice
    assert h264_is_keyframe(bytes([0x67, 0x42]))  # SPS
    assert not h264_is_keyframe(bytes([0x41, 0x9A]))  # non-IDR slice
    assert not h264_is_keyframe(bytes([0x68, 0xCE]))  # PPS alone
    stap = bytes([0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xCE])
    assert h264_is_keyframe(stap)
    stap_inter = bytes([0x78, 0x00, 0x02, 0x06, 0x05, 0x00, 0x02, 0x41, 0x9A])
    assert not h264_is_keyframe(stap_inter)
    assert h264_is_keyframe(bytes([0x7C, 0x85, 0xB8]))  # FU-A start of IDR
    assert not h264_is_keyframe(bytes([0x7C, 0x05, 0xB8]))  # FU-A continuation
    assert not h264_is_keyframe(bytes([0x7C, 0x81, 0xB8]))  # FU-A start of non-IDR
    assert not h264_is_keyframe(bytes([0x78, 0x00]))  # truncated STAP-A


def test_audio_always_passes_and_detector_picks_by_mime() -> None:
    assert keyframe_detector("audio/opus")(b"\x00")
    assert keyframe_detector("video/VP8") is vp8_is_keyframe
    assert keyframe_detector("video/H264") is h264_is_keyframe


def test_detects_keyframes_in_real_aiortc_packetization() -> None:
    from aiortc.codecs.vpx import Vp8Encoder

    key = Vp8Encoder._packetize(bytes([0x10, 0x02, 0x00]) + bytes(3000), picture_id=5)
    inter = Vp8Encoder._packetize(bytes([0x11, 0x02, 0x00]) + bytes(3000), picture_id=6)
    assert vp8_is_keyframe(key[0]) and not any(vp8_is_keyframe(p) for p in key[1:])
    assert not any(vp8_is_keyframe(p) for p in inter)
