"""Records one producer's track into one encrypted file: a tap, a frame assembler, a muxer."""

from __future__ import annotations

import asyncio
import collections
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media.depacketize import EncodedFrame, FrameAssembler

from .muxer import Muxer, MuxStats, StreamSpec, container_for

log = logging.getLogger(__name__)

CODECS = {"video/vp8": "vp8", "video/h264": "h264", "audio/opus": "opus"}
MAX_HELD = 1500  # frames held while waiting for the first sender report (oldest dropped)
_RESTART = object()
_STOP = object()


def track_codec(mime_type: str) -> str:
    """The recorded codec of a producer's MIME type; ValueError if it cannot be recorded."""
    try:
        return CODECS[mime_type.lower()]
    except KeyError:
        raise ValueError(f"cannot record {mime_type}") from None


def track_suffix(mime_type: str) -> str:
    """The file suffix for a track: `.webm` for VP8/Opus, `.mkv` for H.264."""
    return container_for([track_codec(mime_type)])[1]


@dataclass(frozen=True)
class TrackStats:
    """A recorder's figures: frames and bytes muxed, file size, media span (recording time)."""

    frames: int
    bytes: int
    size: int
    first_pts: float | None
    last_pts: float | None
    duration: float
    dropped: int  # frames not recorded: incomplete, before a keyframe, or held too long


class TrackRecorder:
    """Taps a producer and muxes its frames as received (no decode) into `path`.

    Timestamps are `producer.wallclock(ts) - started_at`: frames wait for the first
    sender report (at most MAX_HELD of them), so audio and video of one publisher share
    the recording's timeline. Video starts at a keyframe.
    """

    def __init__(self, producer: Any, path: str | Path, key: bytes, started_at: float, *,
                 flush_interval: float = 1.0) -> None:
        self.producer = producer
        self.kind: str = producer.kind
        self.codec = track_codec(producer.mime_type)
        self.path = Path(path)
        self.started_at = started_at
        self._muxer = Muxer(self.path, key, [StreamSpec(self.kind, self.codec)],
                            flush_interval=flush_interval, name=f"mux-{producer.id}")
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._dropped = 0
        self._stopped = False
        self._asked_at = 0.0
        self._gate = self.kind == "video"
        self._loop: asyncio.AbstractEventLoop | None
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._thread = threading.Thread(target=self._run, name=f"rec-{producer.id}", daemon=True)
        self._thread.start()
        producer.add_tap(self)

    # -- the tap (event loop; cheap) -----------------------------------------------------

    def on_packet(self, payload: bytes, seq: int, ts: int, marker: bool, keyframe: bool) -> None:
        """Queue one RTP payload for the worker thread."""
        if not self._stopped:
            self._queue.put((payload, seq, ts, marker, keyframe, time.time()))

    def on_restart(self) -> None:
        """The packet stream restarts: the worker forgets partial frames."""
        if not self._stopped:
            self._queue.put(_RESTART)

    # -- control ---------------------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        """True once `stop()` was called."""
        return self._stopped

    @property
    def error(self) -> Exception | None:
        """Why the file could not be written, if it could not."""
        return self._muxer.error

    def stats(self) -> TrackStats:
        """Current figures (safe to call while recording)."""
        m: MuxStats = self._muxer.stats
        return TrackStats(frames=m.packets, bytes=m.bytes, size=m.size, first_pts=m.first_pts,
                          last_pts=m.last_pts, duration=m.duration, dropped=self._dropped)

    async def stop(self) -> TrackStats:
        """Untap, mux what is queued and finalise the file (in a thread)."""
        if not self._stopped:
            self._stopped = True
            self.producer.remove_tap(self)
            self._queue.put(_STOP)
        await asyncio.to_thread(self._finish)
        return self.stats()

    def _finish(self) -> None:
        self._thread.join()
        self._muxer.close()

    # -- the worker thread -----------------------------------------------------------------

    def _run(self) -> None:
        assembler = FrameAssembler(self.producer.mime_type)
        held: collections.deque[tuple[EncodedFrame, float]] = collections.deque()
        self._gate = self.kind == "video"
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.25)
                except queue.Empty:
                    self._release(held, final=False)
                    continue
                if item is _STOP:
                    self._release(held, final=True)
                    return
                if item is _RESTART:
                    assembler.reset()
                    self._gate = self.kind == "video"
                    continue
                payload, seq, ts, marker, keyframe, arrival = item
                for frame in assembler.push(payload, seq, ts, marker, keyframe):
                    if len(held) >= MAX_HELD:
                        held.popleft()
                        self._dropped += 1
                    held.append((frame, arrival))
                self._release(held, final=False)
        except Exception:  # the recording of this track ends; logged
            log.exception("recording.track_failed producer=%s", self.producer.id)
        finally:
            self._dropped += assembler.dropped

    def _release(self, held: collections.deque[tuple[EncodedFrame, float]], final: bool) -> None:
        """Mux held frames whose capture time is known (at the end: arrival time otherwise)."""
        while held:
            frame, arrival = held[0]
            wall = self.producer.wallclock(frame.timestamp)
            if wall is None:
                if not final:
                    return
                wall = arrival
            held.popleft()
            if self._gate and not frame.keyframe:
                self._dropped += 1
                self._ask_keyframe()
                continue
            self._gate = False
            self._muxer.put(self.kind, frame.data, wall - self.started_at, frame.keyframe)

    def _ask_keyframe(self) -> None:
        """Ask the producer for a keyframe (from the worker thread, via the event loop)."""
        now = time.monotonic()
        if self._loop is None or now - self._asked_at < 1.0:
            return
        self._asked_at = now
        try:
            self._loop.call_soon_threadsafe(self.producer.request_keyframe)
        except RuntimeError:  # the loop is closed
            self._loop = None
