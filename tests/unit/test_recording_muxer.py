"""recording.muxer: encoded frames into encrypted WebM / Matroska, from another thread."""

from __future__ import annotations

import fractions
import shutil
import time
from pathlib import Path

import av
import numpy as np
import pytest

from recording.muxer import Muxer, StreamSpec, container_for
from vault import EncryptedReader

KEY = bytes(range(32))
FPS = 25


def _video(codec: str, count: int, gop: int = 25) -> list[tuple[bytes, bool]]:
    """`count` frames of 320x240 encoded with libvpx or libx264 (Annex-B)."""
    name = {"vp8": "libvpx", "h264": "libx264"}[codec]
    ctx = av.CodecContext.create(name, "w")
    ctx.width, ctx.height, ctx.pix_fmt = 320, 240, "yuv420p"
    ctx.time_base = fractions.Fraction(1, FPS)
    ctx.gop_size = gop
    ctx.options = ({"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
                   if codec == "vp8" else {"preset": "ultrafast", "tune": "zerolatency"})
    out: list[tuple[bytes, bool]] = []
    for i in range(count):
        frame = av.VideoFrame(320, 240, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([(i * 5) % 256]) * plane.buffer_size)
        frame.pts = i
        out += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(frame)]
    out += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(None)]
    return out


def _audio(count: int) -> list[bytes]:
    """`count` 20 ms Opus packets of a tone."""
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate, ctx.layout, ctx.format = 48000, "stereo", "s16"
    ctx.time_base = fractions.Fraction(1, 48000)
    out: list[bytes] = []
    for i in range(count):
        t = (np.arange(960) + i * 960) / 48000
        mono = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(mono, 2).reshape(1, -1), format="s16",
                                           layout="stereo")
        frame.sample_rate, frame.pts = 48000, i * 960
        out += [bytes(p) for p in ctx.encode(frame)]
    return out


def _demux(path: Path) -> dict[str, list[av.Packet]]:
    out: dict[str, list[av.Packet]] = {"video": [], "audio": []}
    with EncryptedReader(path, KEY) as reader, av.open(reader) as container:
        for packet in container.demux():
            if packet.size:
                out[packet.stream.type].append(packet)
    return out


def _annexb(path: Path) -> list[bytes]:
    """The demuxed video as muxed: H.264 is stored length-prefixed in Matroska."""
    with EncryptedReader(path, KEY) as reader, av.open(reader) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        if stream.codec_context.name != "h264":
            return [bytes(p) for p in packets]
        bsf = av.BitStreamFilterContext("h264_mp4toannexb", stream)
        return [bytes(q) for p in packets for q in bsf.filter(p)]


def test_container_choice() -> None:
    assert container_for(["vp8", "opus"]) == ("webm", ".webm")
    assert container_for(["h264", "opus"]) == ("matroska", ".mkv")


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_stream_copy_with_offset_and_monotonic_timestamps(tmp_path: Path, codec: str) -> None:
    video, audio = _video(codec, 75), _audio(150)
    path = tmp_path / f"a{container_for([codec, 'opus'])[1]}"
    muxer = Muxer(path, KEY, [StreamSpec("video", codec), StreamSpec("audio", "opus")])
    for i, (data, key) in enumerate(video):
        muxer.put("video", data, 2.0 + i / FPS, key)
    muxer.put("video", video[-1][0], 0.5, False)  # out of order: pushed after the last
    for i, data in enumerate(audio):
        muxer.put("audio", data, 2.0 + i * 0.02, True)
    stats = muxer.close()
    assert muxer.error is None and not muxer.running
    assert stats.packets == len(video) + 1 + len(audio)
    assert stats.first_pts == 2.0 and abs(stats.duration - 3.0) < 0.05
    got = _demux(path)
    assert _annexb(path)[: len(video)] == [d for d, _ in video]
    times = [float(p.pts * p.time_base) for p in got["video"]]
    assert times == sorted(times) and times[0] == 2.0
    with EncryptedReader(path, KEY) as reader, av.open(reader) as container:
        assert container.streams.video[0].codec_context.width == 320
        assert container.duration is not None and container.duration > 2_900_000
        frames = list(container.decode(video=0))
    assert len(frames) == len(video) + 1
    with EncryptedReader(path, KEY) as reader, av.open(reader) as container:
        assert len(list(container.decode(audio=0))) == len(audio)


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_a_file_copied_mid_recording_demuxes_up_to_the_last_flush(tmp_path: Path,
                                                                  codec: str) -> None:
    video = _video(codec, 100)
    path = tmp_path / "live"
    muxer = Muxer(path, KEY, [StreamSpec("video", codec, 320, 240)], flush_interval=0.2)
    for i, (data, key) in enumerate(video):
        muxer.put("video", data, i / FPS, key)
    deadline = time.monotonic() + 5
    while muxer.stats.packets < len(video) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # a flush after the last packet
    crashed = tmp_path / "crashed"
    shutil.copy(path, crashed)  # what a SIGKILL leaves: no cues, no duration
    muxer.close()
    packets = _demux(crashed)["video"]
    last = float(packets[-1].pts * packets[-1].time_base)
    assert last >= (len(video) - 1) / FPS - 0.6  # at most the open cluster is missing
    with EncryptedReader(crashed, KEY) as reader, av.open(reader) as container:
        assert len(list(container.decode(video=0))) == len(packets)
