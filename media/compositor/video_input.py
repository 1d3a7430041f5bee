"""A video input of the compositor: tap → frame assembly → decode → recent frames by wallclock.

`on_packet` runs on the event loop and only queues; `process()` runs in the compositor's
decode thread: it reassembles frames, decodes them, pre-scales each picture to the size of
the tile it is shown in, and keeps the recent ones stamped with the server time at which
the publisher captured them (`producer.wallclock(ts)`), for the compose thread to pick.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from .layout import Rect, fit

logger = logging.getLogger(__name__)

DECODERS = {"video/vp8": "vp8", "video/h264": "h264"}
KEEP_FRAMES = 12  # decoded frames kept per input (~0.5 s at 25 fps; the playout delay is less)
MAX_PACKETS = 4000  # queued packets before the oldest are dropped (a stalled decode thread)
KEYFRAME_RETRY = 1.0  # seconds between keyframe requests while waiting for one
SCALER = Interpolation.BILINEAR
_RESTART = object()


@dataclass
class Picture:
    """A decoded picture: its capture time and planes scaled for one tile size."""

    wallclock: float
    frame: av.VideoFrame  # as decoded (for re-scaling after a layout change)
    size: tuple[int, int]  # (w, h) of the scaled planes; (0, 0) when not scaled yet
    planes: tuple[np.ndarray, np.ndarray, np.ndarray] | None


def to_planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, U, V of a yuv420p frame as 2-D uint8 arrays viewing the frame's memory (no copy)."""
    w, h = frame.width, frame.height
    out = []
    for index, (pw, ph) in enumerate(((w, h), ((w + 1) // 2, (h + 1) // 2),
                                      ((w + 1) // 2, (h + 1) // 2))):
        plane = frame.planes[index]
        data = np.frombuffer(memoryview(plane), dtype=np.uint8)
        out.append(data[:ph * plane.line_size].reshape(ph, plane.line_size)[:, :pw])
    return out[0], out[1], out[2]


class Scaler:
    """Scales decoded frames to a given size in yuv420p (one reusable swscale context)."""

    def __init__(self, interpolation: Interpolation = SCALER) -> None:
        self._reformatter = VideoReformatter()
        self._interpolation = interpolation
        self.seconds = 0.0
        self.count = 0

    def scale(self, frame: av.VideoFrame, w: int, h: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Planes of `frame` at `w` x `h`."""
        t0 = time.thread_time()
        if frame.width == w and frame.height == h and frame.format.name == "yuv420p":
            planes = to_planes(frame)
        else:
            out = self._reformatter.reformat(frame, w, h, "yuv420p",
                                             interpolation=self._interpolation)
            planes = to_planes(out)
        self.seconds += time.thread_time() - t0
        self.count += 1
        return planes


class VideoInput:
    """One video producer (camera or screen) feeding the compositor."""

    def __init__(self, producer: Any, mime_type: str | None = None,
                 request_keyframe: Callable[[], None] | None = None,
                 on_data: Callable[[], None] | None = None) -> None:
        self.producer = producer
        self.mime_type = str(mime_type or getattr(producer, "mime_type", "video/VP8")).lower()
        codec = DECODERS.get(self.mime_type)
        if codec is None:
            raise ValueError(f"cannot decode {self.mime_type}")
        self._codec_name = codec
        self._decoder = self._new_decoder()
        self._assembler: Any = None
        self._request_keyframe = request_keyframe or (lambda: None)
        self._on_data = on_data or (lambda: None)
        self._queue: collections.deque[Any] = collections.deque(maxlen=MAX_PACKETS)
        self._frames: collections.deque[Picture] = collections.deque(maxlen=KEEP_FRAMES)
        self._lock = threading.Lock()
        self._target: Rect | None = None
        self._scaler = Scaler()
        self._waiting_keyframe = True
        self._keyframe_asked = 0.0
        self.closed = False
        # stats
        self.decoded = 0
        self.decode_errors = 0
        self.decode_seconds = 0.0
        self.frames_in = 0
        self.last_size: tuple[int, int] | None = None

    def _new_decoder(self) -> av.VideoCodecContext:
        ctx = av.CodecContext.create(self._codec_name, "r")
        ctx.thread_count = 1  # many small decoders: no per-decoder thread pools
        return ctx  # type: ignore[return-value]

    # -- tap (event loop) ------------------------------------------------------------------

    def on_packet(self, payload: bytes, seq: int, ts: int, marker: bool, keyframe: bool) -> None:
        """Queue one RTP payload (cheap; the decode thread does the work)."""
        self._queue.append((payload, seq, ts, marker, keyframe, time.time()))
        self._on_data()

    def on_restart(self) -> None:
        """The packet stream restarts: forget partial frames and wait for a keyframe."""
        self._queue.append(_RESTART)
        self._on_data()

    def push_frame(self, data: bytes, timestamp: int, keyframe: bool,
                   wallclock: float | None = None) -> None:
        """Queue an already assembled encoded frame (bypasses the RTP depacketizer)."""
        self._queue.append((data, timestamp, keyframe, wallclock))
        self._on_data()

    # -- decode thread ---------------------------------------------------------------------

    def set_target(self, area: Rect | None) -> None:
        """The tile area this input is shown in (decoded pictures are pre-scaled to fit it)."""
        self._target = area

    def pending(self) -> bool:
        """True when packets or frames wait to be processed."""
        return bool(self._queue)

    def process(self, budget: int = 64) -> int:
        """Decode what is queued (at most `budget` items); returns the number of pictures."""
        made = 0
        for _ in range(budget):
            try:
                item = self._queue.popleft()
            except IndexError:
                break
            if item is _RESTART:
                if self._assembler is not None:
                    self._assembler.reset()
                self._waiting_keyframe = True
                self._ask_keyframe(force=True)
                continue
            if len(item) == 4:
                data, ts, keyframe, wallclock = item
                made += self._decode(data, ts, keyframe, wallclock)
                continue
            payload, seq, ts, marker, keyframe, arrival = item
            for frame in self._assemble(payload, seq, ts, marker, keyframe):
                made += self._decode(frame.data, frame.timestamp, frame.keyframe, None, arrival)
        return made

    def _assemble(self, payload: bytes, seq: int, ts: int, marker: bool,
                  keyframe: bool) -> list[Any]:
        if self._assembler is None:
            from media.depacketize import FrameAssembler
            self._assembler = FrameAssembler(self.producer.mime_type)
        frames: list[Any] = self._assembler.push(payload, seq, ts, marker, keyframe)
        return frames

    def _wallclock(self, ts: int) -> float | None:
        get = getattr(self.producer, "wallclock", None)
        return get(ts) if get is not None else None

    def _ask_keyframe(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._keyframe_asked >= KEYFRAME_RETRY:
            self._keyframe_asked = now
            self._request_keyframe()

    def _decode(self, data: bytes, ts: int, keyframe: bool, wallclock: float | None,
                arrival: float | None = None) -> int:
        if self._waiting_keyframe:
            if not keyframe:
                self._ask_keyframe()
                return 0
            self._waiting_keyframe = False
        self.frames_in += 1
        t0 = time.thread_time()
        try:
            frames = self._decoder.decode(av.Packet(data))
        except av.error.FFmpegError as exc:
            self.decode_errors += 1
            logger.debug("decode error on %s: %s", getattr(self.producer, "id", "?"), exc)
            self._decoder = self._new_decoder()
            self._waiting_keyframe = True
            self._ask_keyframe(force=True)
            return 0
        finally:
            self.decode_seconds += time.thread_time() - t0
        if not frames:
            return 0
        if wallclock is None:
            wallclock = self._wallclock(ts)
        if wallclock is None:
            wallclock = arrival if arrival is not None else time.time()
        made = 0
        for frame in frames:
            self.decoded += 1
            self.last_size = (frame.width, frame.height)
            target = self._target
            picture = Picture(wallclock, frame, (0, 0), None)
            if target is not None:
                box = fit(frame.width, frame.height, target)
                picture.planes = self._scaler.scale(frame, box.w, box.h)
                picture.size = (box.w, box.h)
            with self._lock:
                self._frames.append(picture)
            made += 1
        return made

    # -- compose thread --------------------------------------------------------------------

    def pick(self, at: float) -> Picture | None:
        """The newest picture captured at or before `at`; older ones are forgotten."""
        with self._lock:
            frames = self._frames
            best = None
            while frames and frames[0].wallclock <= at:
                best = frames.popleft()
            if best is not None:
                frames.appendleft(best)  # still the newest usable one until a newer is due
        return best

    @property
    def scale_seconds(self) -> float:
        """Seconds spent scaling in the decode thread."""
        return self._scaler.seconds

    def close(self) -> None:
        """Forget queued packets and pictures."""
        self.closed = True
        self._queue.clear()
        with self._lock:
            self._frames.clear()


__all__ = ["DECODERS", "Picture", "Scaler", "VideoInput", "to_planes"]
