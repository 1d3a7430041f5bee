"""Packetizer and FrameAssembler: round trips of real VP8 / H.264 frames, reordering, loss."""

from __future__ import annotations

import fractions
import functools
import random

import av
import pytest

from media.depacketize import EncodedFrame, FrameAssembler
from media.keyframe import keyframe_detector
from media.packetize import Packetizer

Packet = tuple[bytes, int, int, bool, bool]  # payload, seq, ts, marker, keyframe


@functools.cache
def _encoded(codec: str, count: int = 12, gop: int = 6) -> list[tuple[bytes, bool]]:
    """`count` frames of moving noise (large keyframes: several packets each) from PyAV."""
    ctx = av.CodecContext.create("libvpx" if codec == "vp8" else "libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 320, 240, "yuv420p"
    ctx.time_base = fractions.Fraction(1, 30)
    ctx.bit_rate = 2_000_000
    ctx.gop_size = gop
    if codec == "h264":
        ctx.options = {"tune": "zerolatency", "preset": "ultrafast"}
        ctx.profile = "Baseline"
    else:
        ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    rnd = random.Random(7)
    out: list[tuple[bytes, bool]] = []
    for i in range(count):
        frame = av.VideoFrame(320, 240, "yuv420p")
        for plane in frame.planes:
            plane.update(rnd.randbytes(plane.buffer_size))
        frame.pts = i
        out += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(frame)]
    out += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(None)]
    return out


def _packets(mime: str, frames: list[tuple[bytes, bool]], seq0: int = 100) -> list[Packet]:
    """Packetize frames as a publisher would, with the detector's keyframe answer."""
    packetizer = Packetizer(mime)
    detect = keyframe_detector(mime)
    packets: list[Packet] = []
    seq = seq0
    for n, (data, _) in enumerate(frames):
        payloads = packetizer.packetize(data)
        for i, payload in enumerate(payloads):
            packets.append((payload, seq & 0xFFFF, (3000 * n) & 0xFFFFFFFF,
                            i == len(payloads) - 1, detect(payload)))
            seq += 1
    return packets


def _assemble(mime: str, packets: list[Packet]) -> list[EncodedFrame]:
    assembler = FrameAssembler(mime)
    out: list[EncodedFrame] = []
    for p in packets:
        out += assembler.push(*p)
    return out


def _expected(codec: str, data: bytes) -> bytes:
    if codec == "h264":  # comes out with 4-byte start codes
        from aiortc.codecs.h264 import H264Encoder
        return b"".join(b"\x00\x00\x00\x01" + n for n in H264Encoder._split_bitstream(data))
    return data


@pytest.mark.parametrize(("codec", "mime"), [("vp8", "video/VP8"), ("h264", "video/H264")])
def test_packetize_then_assemble_gives_identical_frames(codec: str, mime: str) -> None:
    frames = _encoded(codec)
    packets = _packets(mime, frames)
    assert len(packets) > 2 * len(frames)  # multi-packet frames
    out = _assemble(mime, packets)
    assert [f.data for f in out] == [_expected(codec, d) for d, _ in frames]
    assert [f.keyframe for f in out] == [k for _, k in frames]
    assert [f.timestamp for f in out] == [3000 * n for n in range(len(frames))]


@pytest.mark.parametrize(("codec", "mime"), [("vp8", "video/VP8"), ("h264", "video/H264")])
def test_reassembled_frames_decode(codec: str, mime: str) -> None:
    out = _assemble(mime, _packets(mime, _encoded(codec)))
    decoder = av.CodecContext.create("vp8" if codec == "vp8" else "h264", "r")
    decoded = []
    for f in out:
        decoded += decoder.decode(av.Packet(f.data))
    decoded += decoder.decode(None)
    assert len(decoded) == len(out)
    assert (decoded[0].width, decoded[0].height) == (320, 240)


@pytest.mark.parametrize(("codec", "mime"), [("vp8", "video/VP8"), ("h264", "video/H264")])
def test_shuffled_packets_within_the_window_are_reordered(codec: str, mime: str) -> None:
    frames = _encoded(codec)
    packets = _packets(mime, frames)
    rnd = random.Random(3)
    shuffled: list[Packet] = []
    for i in range(0, len(packets), 8):  # shuffle in blocks of 8 packets
        block = packets[i:i + 8]
        rnd.shuffle(block)
        shuffled += block
    shuffled.insert(5, packets[2])  # a duplicate after its frame may be done
    out = _assemble(mime, shuffled)
    assert [f.data for f in out] == [_expected(codec, d) for d, _ in frames]


@pytest.mark.parametrize(("codec", "mime"), [("vp8", "video/VP8"), ("h264", "video/H264")])
def test_lost_packet_drops_its_frame_and_waits_for_the_next_keyframe(codec: str,
                                                                     mime: str) -> None:
    frames = _encoded(codec, count=18, gop=6)
    packets = _packets(mime, frames)
    # lose a packet in the middle of frame 1 (a delta frame)
    frame1 = [p for p in packets if p[2] == 3000]
    assert len(frame1) >= 2
    lost = frame1[len(frame1) // 2]
    out = _assemble(mime, [p for p in packets if p is not lost])
    keyframes = [n for n, (_, k) in enumerate(frames) if k]
    assert keyframes[:2] == [0, 6]
    # frame 0, then nothing until the keyframe at frame 6, then everything
    expected = [0] + list(range(6, len(frames)))
    assert [f.timestamp // 3000 for f in out] == expected
    assert out[1].keyframe
    assert [f.data for f in out] == [_expected(codec, frames[n][0]) for n in expected]


def test_sequence_numbers_wrap() -> None:
    frames = _encoded("vp8")
    packets = _packets("video/VP8", frames, seq0=65530)
    assert any(p[1] < 100 for p in packets)
    out = _assemble("video/VP8", packets)
    assert [f.data for f in out] == [d for d, _ in frames]


def test_frames_wait_for_a_first_keyframe() -> None:
    frames = _encoded("vp8")
    packets = _packets("video/VP8", frames)
    start = next(i for i, p in enumerate(packets) if p[2] == 3000)  # begin at frame 1
    out = _assemble("video/VP8", packets[start:])
    assert [f.timestamp // 3000 for f in out] == list(range(6, len(frames)))


def test_audio_is_one_packet_one_frame_and_skips_losses() -> None:
    assembler = FrameAssembler("audio/opus")
    out: list[EncodedFrame] = []
    for i in range(40):
        if i == 10:
            continue  # lost
        seq = (65520 + i) & 0xFFFF
        out += assembler.push(bytes([i]) * 20, seq, i * 960, True, True)
    assert [f.data[0] for f in out] == [i for i in range(40) if i != 10]
    assert all(f.keyframe for f in out)
    assert assembler.dropped == 1


def test_audio_reorders_within_the_window() -> None:
    assembler = FrameAssembler("audio/opus")
    order = [0, 2, 1, 3, 5, 4, 6]
    out: list[EncodedFrame] = []
    for i in order:
        out += assembler.push(bytes([i]), i, i * 960, True, True)
    assert [f.data[0] for f in out] == list(range(7))


def test_reset_starts_over_after_a_restart() -> None:
    frames = _encoded("vp8")
    assembler = FrameAssembler("video/VP8")
    first = _packets("video/VP8", frames[:6], seq0=10)
    for p in first:
        assembler.push(*p)
    assembler.reset()
    out: list[EncodedFrame] = []
    for p in _packets("video/VP8", frames, seq0=40000):
        out += assembler.push(*p)
    assert len(out) == len(frames)


def test_packetizer_marks_only_audio_frames_as_single_payloads() -> None:
    assert Packetizer("audio/opus").packetize(b"abc") == [b"abc"]
    assert Packetizer("video/VP8").packetize(b"") == []
    with pytest.raises(ValueError):
        Packetizer("video/AV1")
