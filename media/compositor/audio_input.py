"""An audio input of the compositor: tap → Opus frames → decode to 48 kHz stereo → samples
placed on the output timeline by the publisher's wallclock (lip sync with its video)."""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from av.audio.resampler import AudioResampler

from .mixer import CHANNELS, RATE, SampleBuffer

logger = logging.getLogger(__name__)

DECODERS = {"audio/opus": "opus", "audio/pcmu": "pcm_mulaw", "audio/pcma": "pcm_alaw",
            "audio/g722": "g722"}
MAX_PACKETS = 500
_RESTART = object()


class AudioInput:
    """One audio producer: decoded samples go into a `SampleBuffer` at their output position."""

    def __init__(self, producer: Any, place: Callable[[float], int],
                 mime_type: str | None = None) -> None:
        self.producer = producer
        self.mime_type = str(mime_type or getattr(producer, "mime_type", "audio/opus")).lower()
        codec = DECODERS.get(self.mime_type)
        if codec is None:
            raise ValueError(f"cannot decode {self.mime_type}")
        self._codec_name = codec
        self._decoder = self._new_decoder()
        self._resampler = AudioResampler(format="s16", layout="stereo", rate=RATE)
        self._assembler: Any = None
        self._place = place
        self._queue: collections.deque[Any] = collections.deque(maxlen=MAX_PACKETS)
        self.buffer = SampleBuffer()
        self.closed = False
        self.decoded = 0
        self.decode_errors = 0
        self.decode_seconds = 0.0

    def _new_decoder(self) -> av.AudioCodecContext:
        ctx: av.AudioCodecContext = av.CodecContext.create(self._codec_name, "r")  # type: ignore[assignment]
        if self._codec_name == "opus":
            ctx.sample_rate = RATE
            ctx.layout = "stereo"
        else:
            ctx.sample_rate = 16000 if self._codec_name == "g722" else 8000
            ctx.layout = "mono"
        return ctx

    # -- tap (event loop) ------------------------------------------------------------------

    def on_packet(self, payload: bytes, seq: int, ts: int, marker: bool, keyframe: bool) -> None:
        """Queue one RTP payload."""
        self._queue.append((payload, seq, ts, marker, keyframe, time.time()))

    def on_restart(self) -> None:
        """The packet stream restarts."""
        self._queue.append(_RESTART)

    def push_frame(self, data: bytes, timestamp: int, wallclock: float | None = None) -> None:
        """Queue an encoded frame directly (bypasses the RTP depacketizer)."""
        self._queue.append((data, timestamp, wallclock))

    # -- audio thread ----------------------------------------------------------------------

    def process(self) -> int:
        """Decode everything queued; returns the number of frames decoded."""
        made = 0
        while True:
            try:
                item = self._queue.popleft()
            except IndexError:
                return made
            if item is _RESTART:
                if self._assembler is not None:
                    self._assembler.reset()
                self.buffer.clear()
                continue
            if len(item) == 3:
                data, ts, wallclock = item
                made += self._decode(data, ts, wallclock, None)
                continue
            payload, seq, ts, marker, keyframe, arrival = item
            if self._assembler is None:
                from media.depacketize import FrameAssembler
                self._assembler = FrameAssembler(self.producer.mime_type)
            for frame in self._assembler.push(payload, seq, ts, marker, keyframe):
                made += self._decode(frame.data, frame.timestamp, None, arrival)

    def _decode(self, data: bytes, ts: int, wallclock: float | None,
                arrival: float | None) -> int:
        if wallclock is None:
            get = getattr(self.producer, "wallclock", None)
            wallclock = get(ts) if get is not None else None
        if wallclock is None:
            wallclock = arrival if arrival is not None else time.time()
        t0 = time.thread_time()
        try:
            frames = self._decoder.decode(av.Packet(data))
            chunks = [np.asarray(f.to_ndarray()).reshape(-1, CHANNELS)
                      for frame in frames for f in self._resampler.resample(frame)]
        except av.error.FFmpegError as exc:
            self.decode_errors += 1
            logger.debug("audio decode error: %s", exc)
            self._decoder = self._new_decoder()
            return 0
        finally:
            self.decode_seconds += time.thread_time() - t0
        position = self._place(wallclock)
        for chunk in chunks:
            self.buffer.write(position, chunk)
            position += len(chunk)
            self.decoded += 1
        return len(chunks)

    def close(self) -> None:
        """Forget everything queued and buffered."""
        self.closed = True
        self._queue.clear()
        self.buffer.clear()


__all__ = ["AudioInput"]
