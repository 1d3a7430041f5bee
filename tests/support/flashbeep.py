"""A/V sync test media: a white flash and a beep at the same instant, once a period.

`flash_beep_tracks()` gives an aiortc video track and audio track sharing one clock:
frame `n` of either track is produced at `clock.start + pts`, so the RTP timestamps
aiortc sends and the sender reports it derives from them describe the same capture
instants. Flash frames are white, others black; the beep is a 1 kHz tone of
`beep_seconds`, silence otherwise. Detect them with `flash_onsets` / `beep_onsets`.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import Iterable
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

VIDEO_CLOCK = 90000
AUDIO_RATE = 48000
AUDIO_FRAME = 960  # 20 ms
BEEP_HZ = 1000.0


class SharedClock:
    """The start time both tracks count from (set by whichever track runs first)."""

    def __init__(self, period: float = 1.0) -> None:
        self.period = period
        self.start: float | None = None

    def started(self) -> float:
        """The shared start (time.time()), fixed on first use."""
        if self.start is None:
            self.start = time.time()
        return self.start

    async def wait_until(self, seconds: float) -> None:
        """Sleep until `seconds` after the start."""
        delay = self.started() + seconds - time.time()
        if delay > 0:
            await asyncio.sleep(delay)


class FlashVideoTrack(MediaStreamTrack):
    """Black frames with `flash_frames` white frames at the start of every period."""

    kind = "video"

    def __init__(self, clock: SharedClock, fps: int = 30, width: int = 160, height: int = 120,
                 flash_frames: int = 3) -> None:
        super().__init__()
        self.clock, self.fps, self.width, self.height = clock, fps, width, height
        self.flash_frames = flash_frames
        self._count = 0
        self._time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._frames = {flash: self._frame(235 if flash else 16) for flash in (True, False)}

    def _frame(self, luma: int) -> av.VideoFrame:
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        for index, plane in enumerate(frame.planes):
            plane.update(bytes([luma if index == 0 else 128]) * plane.buffer_size)
        return frame

    def is_flash(self, n: int) -> bool:
        """Whether frame `n` is white."""
        per = max(1, round(self.clock.period * self.fps))
        return n % per < self.flash_frames

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        n = self._count
        self._count += 1
        await self.clock.wait_until(n / self.fps)
        source = self._frames[self.is_flash(n)]
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        for dst, src in zip(frame.planes, source.planes, strict=True):
            dst.update(bytes(src))
        frame.pts = n * VIDEO_CLOCK // self.fps
        frame.time_base = self._time_base
        return frame


class BeepAudioTrack(MediaStreamTrack):
    """20 ms stereo s16 frames: a tone for `beep_seconds` at the start of every period."""

    kind = "audio"

    def __init__(self, clock: SharedClock, beep_seconds: float = 0.1,
                 amplitude: int = 12000) -> None:
        super().__init__()
        self.clock, self.beep_seconds, self.amplitude = clock, beep_seconds, amplitude
        self._count = 0
        self._time_base = fractions.Fraction(1, AUDIO_RATE)

    def samples(self, first: int, count: int) -> np.ndarray:
        """Mono samples `first`..`first+count` of the signal (int16)."""
        index = np.arange(first, first + count)
        t = index / AUDIO_RATE
        phase = np.mod(t, self.clock.period)
        tone = self.amplitude * np.sin(2 * math.pi * BEEP_HZ * t)
        return np.where(phase < self.beep_seconds, tone, 0).astype(np.int16)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        n = self._count
        self._count += 1
        first = n * AUDIO_FRAME
        await self.clock.wait_until(first / AUDIO_RATE)
        mono = self.samples(first, AUDIO_FRAME)
        stereo = np.repeat(mono, 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = first
        frame.time_base = self._time_base
        return frame


def flash_beep_tracks(period: float = 1.0, fps: int = 30) -> tuple[FlashVideoTrack,
                                                                   BeepAudioTrack]:
    """A video and an audio track on one shared clock."""
    clock = SharedClock(period)
    return FlashVideoTrack(clock, fps=fps), BeepAudioTrack(clock)


def flash_onsets(frames: Iterable[Any], threshold: float = 128.0) -> list[float]:
    """Times (s) of decoded video frames that turn white after a dark one."""
    out: list[float] = []
    dark = True
    for frame in frames:
        luma = float(np.frombuffer(bytes(frame.planes[0]), np.uint8).mean())
        if luma > threshold and dark:
            out.append(float(frame.time))
        dark = luma <= threshold
    return out


def beep_onsets(frames: Iterable[Any], threshold: int = 3000,
                min_gap: float = 0.5) -> list[float]:
    """Times (s) where decoded audio gets loud after at least `min_gap` s of quiet."""
    out: list[float] = []
    last_loud: float | None = None
    for frame in frames:
        data = frame.to_ndarray()
        channels = len(frame.layout.channels)
        first = data[0] if frame.format.is_planar else data.reshape(-1, channels)[:, 0]
        mono = np.abs(first.astype(np.float64))
        if frame.format.name.startswith(("flt", "dbl")):
            mono *= 32768
        rate = frame.sample_rate
        for index in np.flatnonzero(mono > threshold):
            t = float(frame.time) + int(index) / rate
            if last_loud is None or t - last_loud >= min_gap:
                out.append(t)
            last_loud = t
    return out
