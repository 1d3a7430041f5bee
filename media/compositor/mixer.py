"""Audio mixing: per-input sample buffers placed on the output timeline, the mix, levels and
the active speaker (with hysteresis).

Samples are 48 kHz stereo int16, shaped (n, 2). Positions are output sample indexes: the
sample at position `p` is played at `p / 48000` seconds after the compositor started.
"""

from __future__ import annotations

import collections
import math
import threading

import numpy as np

RATE = 48000
CHANNELS = 2
FRAME = 960  # 20 ms
SNAP = 240  # samples: a chunk this close to the end of the previous one continues it
MAX_BUFFERED = RATE * 2  # samples kept ahead of the read position at most
SILENCE_DB = -90.0


def level_db(samples: np.ndarray) -> float:
    """RMS level of int16 samples in dBFS (SILENCE_DB for silence)."""
    if samples.size == 0:
        return SILENCE_DB
    x = samples.astype(np.float32)
    rms = float(np.sqrt(np.mean(x * x))) / 32768.0
    return max(SILENCE_DB, 20 * math.log10(rms)) if rms > 0 else SILENCE_DB


class SampleBuffer:
    """Chunks of one input at output positions; read in order, frame by frame. Thread-safe."""

    def __init__(self) -> None:
        self._chunks: collections.deque[tuple[int, np.ndarray]] = collections.deque()
        self._end: int | None = None
        self._lock = threading.Lock()

    def write(self, position: int, samples: np.ndarray) -> None:
        """Add `samples` ((n, 2) int16) starting at output `position`."""
        with self._lock:
            if self._end is not None and abs(position - self._end) <= SNAP:
                position = self._end  # timestamp rounding: keep the stream gapless
            self._end = position + len(samples)
            self._chunks.append((position, samples))
            if len(self._chunks) > 4 and self._chunks[-1][0] - self._chunks[0][0] > MAX_BUFFERED:
                self._chunks.popleft()

    def read(self, position: int, count: int = FRAME) -> np.ndarray | None:
        """Samples for [position, position + count) (zeros where none), None if nothing."""
        end = position + count
        out: np.ndarray | None = None
        with self._lock:
            chunks = self._chunks
            while chunks and chunks[0][0] + len(chunks[0][1]) <= position:
                chunks.popleft()
            for start, data in chunks:
                if start >= end:
                    break
                lo = max(start, position)
                hi = min(start + len(data), end)
                if hi <= lo:
                    continue
                if out is None:
                    out = np.zeros((count, CHANNELS), dtype=np.int16)
                out[lo - position:hi - position] = data[lo - start:hi - start]
        return out

    def clear(self) -> None:
        """Forget everything buffered."""
        with self._lock:
            self._chunks.clear()
            self._end = None


class ActiveSpeaker:
    """The loudest input, changed only when another is clearly louder for a while."""

    def __init__(self, threshold_db: float = -50.0, margin_db: float = 6.0,
                 hold_frames: int = 40, release_frames: int = 100) -> None:
        self.threshold_db = threshold_db
        self.margin_db = margin_db
        self.hold_frames = hold_frames  # frames a challenger must lead before taking over
        self.release_frames = release_frames  # frames of silence before the speaker is dropped
        self.current: str | None = None
        self._challenger: str | None = None
        self._lead = 0
        self._quiet = 0

    def update(self, levels: dict[str, float]) -> str | None:
        """Feed one frame of smoothed levels (dBFS); returns the active speaker."""
        if self.current is not None and self.current not in levels:
            self.current = None
        loud = {k: v for k, v in levels.items() if v >= self.threshold_db}
        if self.current is None:
            if loud:
                self.current = max(loud, key=lambda k: loud[k])
                self._challenger, self._lead, self._quiet = None, 0, 0
            return self.current
        current_level = levels.get(self.current, SILENCE_DB)
        self._quiet = self._quiet + 1 if current_level < self.threshold_db else 0
        others = {k: v for k, v in loud.items() if k != self.current}
        best = max(others, key=lambda k: others[k]) if others else None
        if best is not None and (others[best] >= current_level + self.margin_db
                                 or self._quiet > 0):
            if best == self._challenger:
                self._lead += 1
            else:
                self._challenger, self._lead = best, 1
            if self._lead >= self.hold_frames:
                self.current, self._challenger, self._lead, self._quiet = best, None, 0, 0
        else:
            self._challenger, self._lead = None, 0
        return self.current


class Mixer:
    """Sums input frames with clipping; tracks smoothed levels and the active speaker."""

    def __init__(self, speaker: ActiveSpeaker | None = None, attack: float = 0.6,
                 release: float = 0.1) -> None:
        self.speaker = speaker or ActiveSpeaker()
        self.levels: dict[str, float] = {}
        self._attack = attack
        self._release = release
        self._acc = np.zeros((FRAME, CHANNELS), dtype=np.int32)

    def mix(self, frames: dict[str, np.ndarray | None], count: int = FRAME) -> np.ndarray:
        """One output frame ((count, 2) int16) from each input's frame (None: silent)."""
        if self._acc.shape[0] != count:
            self._acc = np.zeros((count, CHANNELS), dtype=np.int32)
        acc = self._acc
        acc.fill(0)
        levels = {}
        for key, data in frames.items():
            instant = SILENCE_DB
            if data is not None:
                acc += data
                instant = level_db(data)
            old = self.levels.get(key, SILENCE_DB)
            k = self._attack if instant > old else self._release
            levels[key] = old + (instant - old) * k
        self.levels = levels
        self.speaker.update(levels)
        return np.clip(acc, -32768, 32767).astype(np.int16)

    @property
    def active_speaker(self) -> str | None:
        """Key of the active speaker, None when nobody spoke yet."""
        return self.speaker.current


__all__ = ["CHANNELS", "FRAME", "RATE", "ActiveSpeaker", "Mixer", "SampleBuffer", "level_db"]
