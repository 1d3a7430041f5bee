"""A mux thread: encoded frames in (from any thread), an encrypted Matroska/WebM file out."""

from __future__ import annotations

import fractions
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from vault import EncryptedWriter

log = logging.getLogger(__name__)

TIME_BASE = fractions.Fraction(1, 1000)  # Matroska's default timescale: milliseconds
CLUSTER_MS = 500  # a cluster reaches the file within about this long
MAX_HELD = 2000  # packets held while waiting for the video's size
_WEBM_CODECS = {"vp8", "opus"}


@dataclass(frozen=True)
class StreamSpec:
    """One output stream: encoded frames copied as they are (no decode)."""

    kind: str  # "video" | "audio"
    codec: str  # "vp8" | "h264" | "opus"
    width: int = 0  # 0: taken from the first keyframe
    height: int = 0
    sample_rate: int = 48000
    channels: int = 2


def container_for(codecs: Sequence[str]) -> tuple[str, str]:
    """(FFmpeg format, file suffix): WebM for VP8/Opus, Matroska otherwise (H.264)."""
    if all(c in _WEBM_CODECS for c in codecs):
        return "webm", ".webm"
    return "matroska", ".mkv"


@dataclass
class MuxStats:
    """What has been muxed so far (updated by the mux thread)."""

    packets: int = 0
    bytes: int = 0  # media payload bytes
    size: int = 0  # plaintext file size written so far
    first_pts: float | None = None
    last_pts: float | None = None
    per_kind: dict[str, int] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Seconds between the first and the last packet."""
        if self.first_pts is None or self.last_pts is None:
            return 0.0
        return self.last_pts - self.first_pts


def _probe_size(codec: str, data: bytes) -> tuple[int, int]:
    """Width and height of a keyframe (decodes it once)."""
    ctx: Any = av.CodecContext.create(codec, "r")
    frames = ctx.decode(av.Packet(data))
    frames += ctx.decode(None)
    if not frames:
        raise ValueError(f"no frame decoded from a {codec} keyframe")
    return int(frames[0].width), int(frames[0].height)


class Muxer:
    """Owns one PyAV output container writing into an `EncryptedWriter`, in its own thread.

    `put()` from any thread; packets of a stream get monotonic timestamps (ms).
    The writer is flushed every `flush_interval` seconds so a killed process keeps
    what was flushed; `close()` finalises the file (cues, duration).
    """

    def __init__(self, path: str | Path, key: bytes, streams: Sequence[StreamSpec], *,
                 flush_interval: float = 1.0, name: str = "mux") -> None:
        if not streams:
            raise ValueError("a muxer needs at least one stream")
        self.path = Path(path)
        self.specs = list(streams)
        self.format, _ = container_for([s.codec for s in self.specs])
        self.stats = MuxStats()
        self.error: Exception | None = None
        self._key = key
        self._flush_interval = flush_interval
        self._queue: queue.SimpleQueue[tuple[str, bytes, float, bool] | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, kind: str, data: bytes, pts_seconds: float, keyframe: bool) -> None:
        """Queue one encoded frame of the stream of `kind` (thread-safe, never blocks)."""
        if not self._closed:
            self._queue.put((kind, data, pts_seconds, keyframe))

    def close(self, timeout: float | None = 30.0) -> MuxStats:
        """Finish the queued frames and finalise the file (blocking: call it in a thread)."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout)
        return self.stats

    @property
    def running(self) -> bool:
        """True while the mux thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        writer: EncryptedWriter | None = None
        container: Any = None
        try:
            writer = EncryptedWriter(self.path, self._key)
            state = _MuxState(self, writer)
            while True:
                try:
                    item = self._queue.get(timeout=self._flush_interval)
                except queue.Empty:
                    state.tick()
                    continue
                if item is None:
                    break
                state.push(*item)
            container = state.finish()
        except Exception as exc:  # reported via .error and the log
            self.error = exc
            log.exception("recording.mux_failed path=%s", self.path.name)
        finally:
            if container is not None:
                try:
                    container.close()
                except Exception:
                    log.exception("recording.mux_close_failed path=%s", self.path.name)
            if writer is not None:
                self.stats.size = writer.size
                writer.close()


class _MuxState:
    """The mux thread's state: container, streams, held packets, timestamps."""

    def __init__(self, muxer: Muxer, writer: EncryptedWriter) -> None:
        self.m = muxer
        self.writer = writer
        self.container: Any = None
        self.streams: dict[str, Any] = {}
        self.last_ms: dict[str, int] = {}
        self.held: list[tuple[str, bytes, float, bool]] = []
        self.sizes = {s.kind: (s.width, s.height) for s in muxer.specs}
        self.last_flush = time.monotonic()

    def push(self, kind: str, data: bytes, pts: float, keyframe: bool) -> None:
        """Mux one frame (or hold it until the video's size is known)."""
        if kind not in self.sizes:
            return
        if self.container is None:
            if not self._ready(kind, data, keyframe):
                if len(self.held) < MAX_HELD:
                    self.held.append((kind, data, pts, keyframe))
                return
            self._open()
            for item in self.held:
                self._mux(*item)
            self.held.clear()
        self._mux(kind, data, pts, keyframe)
        if time.monotonic() - self.last_flush >= self.m._flush_interval:
            self.tick()

    def tick(self) -> None:
        """Flush the writer (its partial chunk reaches the disk)."""
        self.writer.flush()
        self.m.stats.size = self.writer.size
        self.last_flush = time.monotonic()

    def finish(self) -> Any:
        """Mux what is held (the video size unknown: a default) and hand back the container."""
        if self.container is None and self.held:
            for spec in self.m.specs:
                if spec.kind == "video" and self.sizes["video"][0] == 0:
                    self.sizes["video"] = (640, 480)
            self._open()
            for item in self.held:
                self._mux(*item)
        return self.container

    def _ready(self, kind: str, data: bytes, keyframe: bool) -> bool:
        spec = next((s for s in self.m.specs if s.kind == "video"), None)
        if spec is None or self.sizes["video"][0]:
            return True
        if kind != "video" or not keyframe:
            return False
        try:
            self.sizes["video"] = _probe_size(spec.codec, data)
        except (ValueError, av.FFmpegError):
            log.warning("recording.probe_failed codec=%s path=%s", spec.codec, self.m.path.name)
            return False
        return True

    def _open(self) -> None:
        options = {"cluster_time_limit": str(CLUSTER_MS), "flush_packets": "1"}
        self.container = av.open(self.writer, "w", format=self.m.format,
                                 container_options=options)
        for spec in self.m.specs:
            if spec.kind == "video":
                width, height = self.sizes["video"]
                stream = self.container.add_mux_stream(spec.codec, width=width, height=height)
            else:
                layout = "stereo" if spec.channels == 2 else "mono"
                stream = self.container.add_stream("libopus", rate=spec.sample_rate,
                                                   layout=layout)
            stream.time_base = TIME_BASE
            self.streams[spec.kind] = stream

    def _mux(self, kind: str, data: bytes, pts: float, keyframe: bool) -> None:
        stream = self.streams[kind]
        ms = max(0, round(pts * 1000), self.last_ms.get(kind, -1) + 1)
        self.last_ms[kind] = ms
        packet = av.Packet(data)
        packet.stream = stream
        packet.time_base = TIME_BASE
        packet.pts = packet.dts = ms
        packet.is_keyframe = keyframe
        self.container.mux(packet)
        stats = self.m.stats
        stats.packets += 1
        stats.bytes += len(data)
        stats.per_kind[kind] = stats.per_kind.get(kind, 0) + 1
        seconds = ms / 1000
        if stats.first_pts is None:
            stats.first_pts = seconds
        stats.last_pts = seconds if stats.last_pts is None else max(stats.last_pts, seconds)
