"""Encoders of the composite: VP8 (libvpx) or H.264 (libx264, Annex-B) video, Opus audio.

Packets come out with time bases fit for RTP and muxers: video 1/90000, audio 1/48000.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.video.frame import PictureType

from .mixer import CHANNELS, FRAME, RATE

VIDEO_CLOCK = 90000
VIDEO_CODECS = {"vp8": ("libvpx", "video/VP8"), "h264": ("libx264", "video/H264")}
AUDIO_MIME = "audio/opus"


@dataclass(frozen=True)
class StreamInfo:
    """What a muxer needs to know about one output stream of the compositor."""

    kind: str  # "video" / "audio"
    codec: str  # "vp8", "h264", "opus"
    mime_type: str
    rate: int  # frames per second (video) or sample rate (audio)
    time_base: Fraction  # of the packets handed to sinks
    width: int = 0
    height: int = 0
    channels: int = 0
    layout: str = ""


def default_bitrate(width: int, height: int, fps: int) -> int:
    """Target bits per second: ~1.8 Mbps at 1280x720 25 fps, scaled by pixel rate."""
    return int(max(300_000, min(6_000_000, 1_800_000 * (width * height * fps) / (1280 * 720 * 25))))


class VideoEncoder:
    """Encodes composed frames; a keyframe on request and at least every `keyframe_interval`."""

    def __init__(self, codec: str, width: int, height: int, fps: int,
                 bitrate: int | None = None, keyframe_interval: float = 2.0,
                 threads: int | None = None, speed: int | None = None) -> None:
        if codec not in VIDEO_CODECS:
            raise ValueError(f"unknown video codec {codec!r}")
        self.codec = codec
        self.fps = fps
        self.width, self.height = width, height
        self.bitrate = bitrate or default_bitrate(width, height, fps)
        self._gop = max(1, round(keyframe_interval * fps))
        self._threads = threads or 1  # more threads cost more CPU than they save here
        self._speed = speed
        self._ctx = self._open()
        self._since_key = 0
        self.frames = 0
        self.keyframes = 0
        self.bytes = 0

    def _open(self) -> av.VideoCodecContext:
        encoder, _ = VIDEO_CODECS[self.codec]
        ctx: av.VideoCodecContext = av.CodecContext.create(encoder, "w")  # type: ignore[assignment]
        ctx.width, ctx.height = self.width, self.height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, self.fps)
        ctx.framerate = Fraction(self.fps, 1)
        ctx.bit_rate = self.bitrate
        ctx.gop_size = self._gop
        ctx.thread_count = self._threads
        if self.codec == "vp8":
            ctx.options = {
                "deadline": "realtime", "cpu-used": str(self._speed or 12),
                "lag-in-frames": "0", "auto-alt-ref": "0", "error-resilient": "1",
                "static-thresh": "100", "max-intra-rate": "300", "undershoot-pct": "95",
                "buf-initial": "500", "buf-optimal": "600", "buf-sz": "1000",
                "qmin": "4", "qmax": "56",
            }
        else:
            ctx.profile = "Constrained Baseline"
            ctx.options = {
                "preset": "ultrafast", "tune": "zerolatency", "forced-idr": "1",
                "x264-params": (f"keyint={self._gop}:min-keyint={self._gop}:scenecut=0"
                                f":repeat-headers=1:vbv-maxrate={self.bitrate // 1000}"
                                f":vbv-bufsize={self.bitrate // 2000}"),
            }
        ctx.open()
        return ctx

    def encode(self, frame: av.VideoFrame, tick: int, keyframe: bool = False) -> list[av.Packet]:
        """Encode the frame of output tick `tick` (pts tick / fps seconds)."""
        frame.pts = tick
        frame.time_base = Fraction(1, self.fps)
        if keyframe or self._since_key + 1 >= self._gop:
            frame.pict_type = PictureType.I
        else:
            frame.pict_type = PictureType.NONE
        packets = self._ctx.encode(frame)
        self.frames += 1
        self._since_key += 1
        for packet in packets:
            if packet.pts is not None:
                packet.pts = packet.pts * VIDEO_CLOCK // self.fps
                packet.dts = packet.pts
            packet.time_base = Fraction(1, VIDEO_CLOCK)
            self.bytes += packet.size
            if packet.is_keyframe:
                self.keyframes += 1
                self._since_key = 0
        return packets

    @property
    def info(self) -> StreamInfo:
        """Stream description for muxers."""
        return StreamInfo("video", self.codec, VIDEO_CODECS[self.codec][1], self.fps,
                          Fraction(1, VIDEO_CLOCK), self.width, self.height)


class AudioEncoder:
    """Opus, 48 kHz stereo, 20 ms frames; pts in samples of the output timeline."""

    def __init__(self, bitrate: int = 64000) -> None:
        ctx: av.AudioCodecContext = av.CodecContext.create("libopus", "w")  # type: ignore[assignment]
        ctx.sample_rate = RATE
        ctx.layout = "stereo"
        ctx.format = "s16"
        ctx.bit_rate = bitrate
        ctx.time_base = Fraction(1, RATE)
        ctx.options = {"application": "voip", "frame_duration": "20"}
        ctx.open()
        self._ctx = ctx
        self.frames = 0

    def encode(self, samples: np.ndarray, position: int) -> list[av.Packet]:
        """Encode one 20 ms frame ((960, 2) int16) starting at output sample `position`."""
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = RATE
        frame.pts = position
        frame.time_base = Fraction(1, RATE)
        packets = self._ctx.encode(frame)
        self.frames += 1
        for packet in packets:
            packet.time_base = Fraction(1, RATE)
        return packets

    @property
    def info(self) -> StreamInfo:
        """Stream description for muxers."""
        return StreamInfo("audio", "opus", AUDIO_MIME, RATE, Fraction(1, RATE),
                          channels=CHANNELS, layout="stereo")


__all__ = ["AUDIO_MIME", "FRAME", "VIDEO_CLOCK", "VIDEO_CODECS", "AudioEncoder", "StreamInfo",
           "VideoEncoder", "default_bitrate"]
