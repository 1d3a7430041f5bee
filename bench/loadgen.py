"""Load generation and counting shared by bench/forwarding.py and bench/janus_baseline.py.

The publisher load is pre-encoded VP8 640x480 30 fps (~1 Mbps, keyframe every 1 s) +
Opus 20 ms, looped in real time by PacketTrack (aiortc packs the packets, nothing is
encoded during a run). Subscribers count RTP packets with Counter (never decode).
Process CPU is read from /proc/<pid>/stat.
"""

from __future__ import annotations

import array
import asyncio
import fractions
import math
import os
import pickle
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

FFMPEG = "/usr/bin/ffmpeg"
CLK_TCK = os.sysconf("SC_CLK_TCK")

Media = tuple[list[bytes], list[bytes]]
Snapshot = tuple[int, int, int, int]


# ---------------------------------------------------------------------------- media

def encode_media_ffmpeg(workdir: Path) -> Media:
    """10 s of VP8 640x480 30 fps ~1 Mbps (keyframe every 1 s) and Opus 20 ms packets,
    encoded by the ffmpeg CLI into `workdir` (kept there) and demuxed with PyAV."""
    video, audio = workdir / "bench-vp8.ivf", workdir / "bench-opus.ogg"
    if not video.exists():
        subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=size=640x480:rate=30", "-frames:v", "300", "-c:v", "libvpx",
                        "-b:v", "1M", "-minrate", "1M", "-maxrate", "1M", "-g", "30",
                        "-deadline", "realtime", "-cpu-used", "8", "-lag-in-frames", "0",
                        "-auto-alt-ref", "0", "-f", "ivf", str(video)], check=True)
    if not audio.exists():
        subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "sine=frequency=440:sample_rate=48000:duration=10", "-ac", "2",
                        "-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20", str(audio)],
                       check=True)
    with av.open(str(video)) as c:
        vp = [bytes(p) for p in c.demux(video=0) if p.size]
    with av.open(str(audio)) as c:
        ap = [bytes(p) for p in c.demux(audio=0) if p.size]
    return vp, ap


def encode_media_pyav(cache_dir: Path | None = None) -> Media:
    """10 s of VP8 640x480 30 fps ~1 Mbps (GOP 30) and 10 s of Opus 20 ms, encoded once
    with PyAV and cached (pickled) in `cache_dir`."""
    cache_dir = cache_dir or Path(tempfile.gettempdir()) / "carertc-bench"
    cache_dir.mkdir(exist_ok=True)
    cache = cache_dir / "janus-media-v2.pickle"
    if cache.exists():
        with open(cache, "rb") as f:
            return pickle.load(f)

    # PyAV's libvpx rate control lands far from bit_rate (2 Mbps asked 1 Mbps here):
    # encode, measure, rescale the target, at most 4 times.
    target = 1_000_000
    asked = target
    for _ in range(4):
        video = _encode_vp8(asked)
        got = sum(map(len, video)) * 8 * 30 / len(video)
        if abs(got - target) / target < 0.1:
            break
        asked = int(asked * target / got)

    audio: list[bytes] = []
    aenc = av.CodecContext.create("libopus", "w")
    aenc.sample_rate, aenc.layout, aenc.format = 48000, "stereo", "s16"
    aenc.bit_rate = 32000
    aenc.time_base = fractions.Fraction(1, 48000)
    aenc.options = {"frame_duration": "20"}
    tone = array.array("h")
    for i in range(960):  # 20 ms of a 450 Hz tone (9 whole periods), looped 500 times
        v = int(8000 * math.sin(2 * math.pi * 450 * i / 48000))
        tone.extend((v, v))  # interleaved stereo
    pcm = tone.tobytes()
    for i in range(500):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(pcm)
        frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, aenc.time_base
        audio += [bytes(p) for p in aenc.encode(frame) if p.size]
    audio += [bytes(p) for p in aenc.encode(None) if p.size]

    media = (video, audio)
    with open(cache, "wb") as f:
        pickle.dump(media, f)
    return media


def _encode_vp8(bit_rate: int, frames: int = 300) -> list[bytes]:
    """testsrc2 640x480 30 fps, GOP 30 (a keyframe a second), realtime libvpx."""
    enc = av.CodecContext.create("libvpx", "w")
    enc.width, enc.height, enc.pix_fmt = 640, 480, "yuv420p"
    enc.time_base = fractions.Fraction(1, 30)
    enc.framerate = fractions.Fraction(30, 1)
    enc.bit_rate = bit_rate
    enc.gop_size = 30
    enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                   "auto-alt-ref": "0"}
    video: list[bytes] = []
    with av.open("testsrc2=size=640x480:rate=30", format="lavfi") as src:
        for i, frame in enumerate(src.decode(video=0)):
            if i >= frames:
                break
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = i, enc.time_base
            video += [bytes(p) for p in enc.encode(frame) if p.size]
    video += [bytes(p) for p in enc.encode(None) if p.size]
    return video


def media_kbps(media: Media) -> tuple[float, float]:
    video, audio = media
    return (sum(map(len, video)) * 8 * 30 / len(video) / 1000,
            sum(map(len, audio)) * 8 * 50 / len(audio) / 1000)


class PacketTrack(MediaStreamTrack):
    """Loops pre-encoded packets in real time; aiortc's sender calls encoder.pack()
    (packs them, no encoding)."""

    def __init__(self, kind: str, packets: list[bytes], clock: int, step: int, interval: float):
        super().__init__()
        self.kind = kind
        self._packets, self._step, self._interval = packets, step, interval
        self._tb = fractions.Fraction(1, clock)
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._n * self._interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(self._packets[self._n % len(self._packets)])
        packet.pts = self._n * self._step
        packet.time_base = self._tb
        self._n += 1
        return packet


def add_publisher_tracks(pc: RTCPeerConnection, media: Media) -> None:
    """The publisher's load: VP8 at 30 fps (90 kHz clock) and Opus every 20 ms (48 kHz)."""
    vp, ap = media
    pc.addTrack(PacketTrack("video", vp, 90000, 3000, 1 / 30))
    pc.addTrack(PacketTrack("audio", ap, 48000, 960, 0.02))


# ---------------------------------------------------------------------------- counting

class Counter:
    """Counts the RTP packets of one received track; replaces the receiver's RTP handler."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.packets = self.bytes = self.frames = 0
        self.first: int | None = None
        self.last = 0  # highest extended sequence number

    async def handle(self, packet: Any, arrival_time_ms: int) -> None:
        seq = packet.sequence_number
        if self.first is None:
            self.first = self.last = seq
        else:
            ext = self.last + ((seq - self.last + 0x8000) & 0xFFFF) - 0x8000
            self.last = max(self.last, ext)
        self.packets += 1
        self.bytes += len(packet.payload)
        if packet.marker:
            self.frames += 1

    def snapshot(self) -> Snapshot:
        return self.packets, self.frames, self.last, self.bytes


def count_received(pc: RTCPeerConnection, counters: list[Counter]) -> None:
    """Give each of `pc`'s receivers a Counter (appended to `counters`): count, never decode."""
    for t in pc.getTransceivers():
        c = Counter(t.kind)
        counters.append(c)
        t.receiver._handle_rtp_packet = c.handle  # type: ignore[method-assign]


def window_rates(counters: Sequence[Counter], snaps0: Sequence[Snapshot],
                 snaps1: Sequence[Snapshot], elapsed: float, n: int) -> dict[str, float]:
    """What the subscribers received between two snapshots: fps and kbps per subscriber,
    loss (against the sequence-number span) and packets/s over all of them."""
    vframes = received = expected = nbytes = 0
    for c, a, b in zip(counters, snaps0, snaps1):
        received += b[0] - a[0]
        expected += b[2] - a[2]
        nbytes += b[3] - a[3]
        if c.kind == "video":
            vframes += b[1] - a[1]
    return {
        "fps": vframes / elapsed / n if n else 0.0,
        "loss": max(0.0, 1 - received / expected) if expected else 0.0,
        "pps": received / elapsed,
        "kbps": nbytes * 8 / 1000 / elapsed / n if n else 0.0,
    }


def cpu_seconds(pid: int) -> float:
    """utime + stime of process `pid`, in seconds (10 ms ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK
