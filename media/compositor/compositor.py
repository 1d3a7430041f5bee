"""The compositor: decodes each input once, composes a layout at a fixed rate, mixes audio,
encodes once, and hands the result to sinks and to local producers.

Threads (never the event loop): a decode thread (every video input), a compose thread
(pick → paste → encode video at `fps`) and an audio thread (decode → mix → encode Opus
every 20 ms). Media is placed by `producer.wallclock()` with a fixed playout delay: a
picture captured at `t` is shown, and a sample captured at `t` played, at `t + delay` on
the output timeline, so one publisher's audio and video stay in sync in the composite.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from .audio_input import AudioInput
from .encode import AUDIO_MIME, VIDEO_CODECS, AudioEncoder, StreamInfo, VideoEncoder
from .engine import AudioLoop, ComposeLoop, DecodeLoop
from .layout import LAYOUTS
from .mixer import RATE
from .scene import Source
from .video_input import VideoInput

logger = logging.getLogger(__name__)

PLAYOUT_DELAY = 0.2  # seconds between capture and the composite's timeline


class Compositor:
    """A composite of several participants' media (grid / speaker / pip), encoded once."""

    def __init__(self, width: int = 1280, height: int = 720, fps: int = 25,
                 video_codec: str = "vp8", layout: str = "grid", *,
                 playout_delay: float = PLAYOUT_DELAY, video_bitrate: int | None = None,
                 audio_bitrate: int = 64000, encoder_threads: int | None = None,
                 encoder_speed: int | None = None) -> None:
        if video_codec not in VIDEO_CODECS:
            raise ValueError(f"video_codec must be one of {sorted(VIDEO_CODECS)}")
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}")
        if width % 2 or height % 2 or width < 64 or height < 64:
            raise ValueError("width and height must be even and at least 64")
        self.width, self.height, self.fps = width, height, fps
        self.video_codec = video_codec
        self.playout_delay = playout_delay
        self.started_at: float | None = None
        self.closed = False
        self._layout = layout
        self._sources: dict[str, Source] = {}
        self._lock = threading.RLock()
        self._version = 0
        self._sinks: list[Any] = []
        self._sink_lock = threading.Lock()
        self._producers: tuple[Any, Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._force_keyframe = threading.Event()
        self._stop = threading.Event()
        self._video_encoder = VideoEncoder(video_codec, width, height, fps, video_bitrate,
                                           threads=encoder_threads, speed=encoder_speed)
        self._audio_encoder = AudioEncoder(audio_bitrate)
        self._decode = DecodeLoop(self)
        self._compose = ComposeLoop(self, self._video_encoder)
        self._audio = AudioLoop(self, self._audio_encoder)
        self._threads: list[threading.Thread] = []

    # -- inputs (event loop) ---------------------------------------------------------------

    def set_input(self, key: str, *, label: str = "", video: Any = None, audio: Any = None,
                  screen: Any = None) -> None:
        """Add or update a participant: its name and producers (None: none of that kind)."""
        if self.closed:
            return
        self._remember_loop()
        with self._lock:
            source = self._sources.get(key)
            if source is None:
                source = self._sources[key] = Source(key, label)
            source.label = label
            wanted = {"video": video, "audio": audio, "screen": screen}
            for slot, producer in wanted.items():
                if source.producers.get(slot) is producer:
                    continue
                self._detach(source, slot)
                if producer is not None and not getattr(producer, "closed", False):
                    self._attach(source, slot, producer)
            self._version += 1

    def remove_input(self, key: str) -> None:
        """Remove a participant (its tile goes; the layout is recomputed)."""
        with self._lock:
            source = self._sources.pop(key, None)
            if source is None:
                return
            for slot in ("video", "audio", "screen"):
                self._detach(source, slot)
            self._version += 1

    def set_layout(self, layout: str) -> None:
        """Switch to "grid", "speaker" or "pip" (pip falls back to grid without a share)."""
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}")
        with self._lock:
            self._layout = layout
            self._version += 1

    @property
    def layout(self) -> str:
        """The layout mode."""
        return self._layout

    @property
    def inputs(self) -> list[str]:
        """Keys of the participants, in order."""
        with self._lock:
            return list(self._sources)

    def _attach(self, source: Source, slot: str, producer: Any) -> None:
        if slot == "audio":
            tap: Any = AudioInput(producer, self._place_audio)
            source.audio = tap
        else:
            tap = VideoInput(producer, request_keyframe=self._keyframe_requester(producer),
                             on_data=self._decode.wake)
            setattr(source, slot, tap)
        source.producers[slot] = producer
        producer.add_tap(tap)
        observer = getattr(producer, "observer", None)
        if observer is not None:
            observer.once("close", lambda: self._producer_closed(source.key, slot, producer))
        if slot != "audio":
            self._call_on_loop(producer.request_keyframe)

    def _detach(self, source: Source, slot: str) -> None:
        producer = source.producers.pop(slot, None)
        tap = getattr(source, slot)
        setattr(source, slot, None)
        if tap is not None:
            tap.close()
            if producer is not None and not getattr(producer, "closed", False):
                try:
                    producer.remove_tap(tap)
                except Exception:  # a producer without the tap: nothing to undo
                    logger.debug("remove_tap failed", exc_info=True)

    def _producer_closed(self, key: str, slot: str, producer: Any) -> None:
        with self._lock:
            source = self._sources.get(key)
            if source is not None and source.producers.get(slot) is producer:
                self._detach(source, slot)
                self._version += 1

    def _keyframe_requester(self, producer: Any) -> Any:
        def request() -> None:
            self._call_on_loop(producer.request_keyframe)
        return request

    def _remember_loop(self) -> None:
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                pass

    def _call_on_loop(self, func: Any, *args: Any) -> None:
        """Run `func(*args)` on the event loop (from any thread); dropped once closed."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            if _running(loop):
                func(*args)
            else:
                loop.call_soon_threadsafe(func, *args)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def _place_audio(self, wallclock: float) -> int:
        """Output sample position of audio captured at `wallclock`."""
        started = self.started_at if self.started_at is not None else time.time()
        return round((wallclock + self.playout_delay - started) * RATE)

    def snapshot(self) -> tuple[int, str, list[Source]]:
        """(version, layout, sources) for the worker threads."""
        with self._lock:
            return self._version, self._layout, list(self._sources.values())

    # -- output ----------------------------------------------------------------------------

    def add_sink(self, sink: Any) -> None:
        """Receive every encoded packet: `sink.on_video(av.Packet)` / `sink.on_audio(av.Packet)`
        from worker threads (calls are serialized, never concurrent)."""
        with self._sink_lock:
            if sink not in self._sinks:
                self._sinks = [*self._sinks, sink]
        self.request_keyframe()

    def remove_sink(self, sink: Any) -> None:
        """Stop delivering to `sink`."""
        with self._sink_lock:
            self._sinks = [s for s in self._sinks if s is not sink]

    @property
    def video_stream_info(self) -> StreamInfo:
        """Codec, frame rate, size and packet time base (1/90000) of the video."""
        return self._video_encoder.info

    @property
    def audio_stream_info(self) -> StreamInfo:
        """Codec (Opus), sample rate, channels and packet time base (1/48000) of the audio."""
        return self._audio_encoder.info

    def create_producers(self, router: Any) -> tuple[Any, Any]:
        """The composite as local producers (video, audio) of `router`, for subscribers."""
        self._remember_loop()
        if self._producers is not None:
            return self._producers
        app = {"source": "composite"}
        stream = f"composite-{id(self):x}"  # one MediaStream: subscribers lip-sync the two
        video = router.create_local_producer("video", VIDEO_CODECS[self.video_codec][1],
                                             app_data=dict(app), stream_id=stream)
        audio = router.create_local_producer("audio", AUDIO_MIME, app_data=dict(app),
                                             stream_id=stream)
        video.on_keyframe_request = self.request_keyframe
        self._producers = (video, audio)
        self.request_keyframe()
        return self._producers

    def request_keyframe(self) -> None:
        """Make the next composed frame a keyframe (thread-safe)."""
        self._force_keyframe.set()

    def take_keyframe_request(self) -> bool:
        """True once after `request_keyframe()` (compose thread)."""
        if self._force_keyframe.is_set():
            self._force_keyframe.clear()
            return True
        return False

    def deliver(self, kind: str, packets: list[Any], timestamp: int) -> None:
        """Hand encoded packets to sinks and local producers (worker threads)."""
        if not packets:
            return
        with self._sink_lock:
            for sink in self._sinks:
                for packet in packets:
                    try:
                        (sink.on_video if kind == "video" else sink.on_audio)(packet)
                    except Exception:
                        logger.exception("compositor sink failed")
        lps = self._producers
        if lps is None:
            return
        lp, clock = (lps[0], 90000) if kind == "video" else (lps[1], RATE)
        started = self.started_at or 0.0
        for packet in packets:
            if kind == "audio" or packet.pts is None:
                ts = timestamp
            else:
                ts = int(packet.pts)
            self._call_on_loop(_send_frame, lp, bytes(packet), ts, bool(packet.is_keyframe),
                               started + ts / clock)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the worker threads; the output timeline starts now (`started_at`)."""
        if self._threads:
            return
        self._remember_loop()
        self.started_at = time.time()
        self.request_keyframe()
        for name, target in (("decode", self._decode.run), ("compose", self._compose.run),
                             ("audio", self._audio.run)):
            thread = threading.Thread(target=target, name=f"compositor-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()

    async def close(self) -> None:
        """Stop the threads, detach from every producer, close the local producers."""
        if self.closed:
            return
        self.closed = True
        self._stop.set()
        self._decode.wake()
        threads, self._threads = self._threads, []

        def join() -> None:
            for thread in threads:
                thread.join(timeout=5)

        await asyncio.to_thread(join)
        with self._lock:
            for source in list(self._sources.values()):
                for slot in ("video", "audio", "screen"):
                    self._detach(source, slot)
            self._sources.clear()
        if self._producers is not None:
            for lp in self._producers:
                try:
                    lp.close()
                except Exception:
                    logger.exception("closing a composite producer failed")
            self._producers = None
        self._sinks = []

    @property
    def stopping(self) -> bool:
        """True once close() was called (worker threads end)."""
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds` in a worker thread; True when the compositor is stopping."""
        return self._stop.wait(seconds)

    def stats(self) -> dict[str, Any]:
        """Frames composed, dropped ticks, mean milliseconds per stage, the active speaker."""
        with self._lock:
            sources = list(self._sources.values())
        videos = [v for s in sources for v in (s.video, s.screen) if v is not None]
        decoded = sum(v.decoded for v in videos)
        decode_s = sum(v.decode_seconds for v in videos)
        scaled = sum(v._scaler.count for v in videos)
        scale_s = sum(v.scale_seconds for v in videos)
        compose = self._compose.stats()
        audio = self._audio.stats()
        return {
            "frames": compose["frames"],
            "dropped_ticks": compose["dropped_ticks"],
            "keyframes": self._video_encoder.keyframes,
            "video_bytes": self._video_encoder.bytes,
            "audio_frames": audio["frames"],
            "decoded_frames": decoded,
            "decode_errors": sum(v.decode_errors for v in videos),
            "decode_ms": 1000 * decode_s / decoded if decoded else 0.0,
            "scale_ms": 1000 * scale_s / scaled if scaled else 0.0,
            "compose_ms": compose["compose_ms"],
            "encode_ms": compose["encode_ms"],
            "audio_ms": audio["audio_ms"],
            "active_speaker": self._audio.mixer.active_speaker,
            "levels": dict(self._audio.mixer.levels),
            "layout": self._layout,
            "inputs": [s.key for s in sources],
        }


def _running(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _send_frame(lp: Any, data: bytes, timestamp: int, keyframe: bool, at: float) -> None:
    if not getattr(lp, "closed", False):
        lp.send_frame(data, timestamp, keyframe, at)


__all__ = ["PLAYOUT_DELAY", "Compositor"]
