"""Privacy pixelation: a producer transform that decodes, pixelates and re-encodes video.

The transform sits between a publisher and everything that reads its producer
(consumers, taps): `push()` only queues the RTP payload on the event loop; a worker
thread assembles frames, decodes them, pixelates the whole picture or a rectangle,
encodes with the producer's codec, packetizes and hands the packets back to the
event loop (`producer.emit`). Output frames keep the input RTP timestamps.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import random
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from .depacketize import EncodedFrame, FrameAssembler
from .errors import MediaError
from .packetize import Packetizer

if TYPE_CHECKING:
    from .producer import Producer

logger = logging.getLogger(__name__)

Rect = tuple[float, float, float, float]  # x, y, w, h as fractions (0..1) of the frame

DEFAULT_BLOCK = 24  # pixels of the decoded frame per pixelation block
MAX_QUEUED_FRAMES = 15  # worker backlog (complete frames) before dropping to a keyframe
MAX_QUEUED_PACKETS = 1500  # backlog bound whatever the markers say
KEYFRAME_INTERVAL = 0.25  # seconds: at most one forced output keyframe per interval
VIDEO_CLOCK = 90000
_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
_RESET = object()  # queue item: the input stream restarts (forget assembler state)


def codec_name(mime_type: str) -> str:
    """FFmpeg decoder name for a video mime type ("video/VP8" -> "vp8")."""
    mime = mime_type.lower()
    if mime == "video/vp8":
        return "vp8"
    if mime == "video/h264":
        return "h264"
    raise MediaError("wrong_kind", f"cannot decode {mime_type}")


def open_decoder(mime_type: str) -> av.VideoCodecContext:
    """A decoder for one video stream of `mime_type` (no frame threading: no added delay)."""
    decoder = av.CodecContext.create(codec_name(mime_type), "r")
    assert isinstance(decoder, av.VideoCodecContext)
    decoder.thread_type = "SLICE"
    return decoder


def validate_rect(rect: Rect | None) -> Rect | None:
    """Check a rectangle of 0..1 fractions; returns it as a tuple of floats."""
    if rect is None:
        return None
    if len(rect) != 4:
        raise ValueError("rect must be (x, y, w, h)")
    x, y, w, h = (float(v) for v in rect)
    if not (0.0 <= x < 1.0 and 0.0 <= y < 1.0 and 0.0 < w <= 1.0 and 0.0 < h <= 1.0):
        raise ValueError(f"rect out of range: {rect!r}")
    return (x, y, min(w, 1.0 - x), min(h, 1.0 - y))


def _block_average(region: np.ndarray, block: int) -> None:
    """Replace every block x block cell of a 2-D uint8 array by its mean, in place."""
    h, w = region.shape
    if h == 0 or w == 0:
        return
    rows = np.arange(0, h, block)
    cols = np.arange(0, w, block)
    # columns first: contiguous memory, and the row pass then works on a narrow array
    sums = np.add.reduceat(np.add.reduceat(region, cols, axis=1, dtype=np.uint32), rows, axis=0)
    heights = np.diff(np.append(rows, h))
    widths = np.diff(np.append(cols, w))
    area = np.outer(heights, widths)
    means = ((sums + area // 2) // area).astype(np.uint8)
    region[:, :] = np.repeat(np.repeat(means, widths, axis=1), heights, axis=0)


def pixel_rect(width: int, height: int, rect: Rect | None) -> tuple[int, int, int, int]:
    """The luma pixel rectangle (x, y, w, h) of `rect` in a frame, on even coordinates."""
    if rect is None:
        return (0, 0, width, height)
    fx, fy, fw, fh = rect
    x0 = int(fx * width) & ~1
    y0 = int(fy * height) & ~1
    x1 = min(width, (round((fx + fw) * width) + 1) & ~1)
    y1 = min(height, (round((fy + fh) * height) + 1) & ~1)
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def pixelate_frame(frame: av.VideoFrame, rect: Rect | None = None,
                   block: int = DEFAULT_BLOCK) -> av.VideoFrame:
    """A pixelated yuv420p copy of a frame (area average per block, nearest neighbour back up).

    The input is never written to: a decoder may still reference its buffers.
    """
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    out = av.VideoFrame(frame.width, frame.height, "yuv420p")
    x, y, w, h = pixel_rect(frame.width, frame.height, rect)
    for index, (src_plane, dst_plane) in enumerate(zip(frame.planes, out.planes, strict=True)):
        width, height = dst_plane.width, dst_plane.height
        src = np.frombuffer(memoryview(src_plane), np.uint8).reshape(height, src_plane.line_size)
        dst = np.frombuffer(memoryview(dst_plane), np.uint8).reshape(height, dst_plane.line_size)
        dst[:, :width] = src[:, :width]
        if w > 0 and h > 0:
            shift = 0 if index == 0 else 1  # chroma is subsampled 2x2: same block grid
            region = dst[y >> shift:(y + h) >> shift, x >> shift:(x + w) >> shift]
            _block_average(region, max(1, block >> shift))
    out.pts = frame.pts
    if frame.time_base is not None:
        out.time_base = frame.time_base
    return out


class VideoEncoder:
    """Encodes yuv420p frames with libvpx (VP8) or libx264 (H.264 baseline, Annex-B) for RTP."""

    def __init__(self, mime_type: str, width: int, height: int) -> None:
        name = codec_name(mime_type)
        self.width = width
        self.height = height
        bitrate = max(200_000, min(4_000_000, width * height * 3))
        if name == "vp8":
            ctx = av.CodecContext.create("libvpx", "w")
            ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                           "auto-alt-ref": "0", "error-resilient": "default"}
        else:
            ctx = av.CodecContext.create("libx264", "w")
            ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline",
                           "level": "3.1", "forced-idr": "1"}
        ctx.width = width
        ctx.height = height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = _TIME_BASE
        ctx.framerate = fractions.Fraction(30, 1)
        ctx.bit_rate = bitrate
        ctx.gop_size = 100000  # keyframes only on request
        ctx.max_b_frames = 0
        ctx.thread_count = 1
        self._ctx = ctx
        self._pts = -1

    def encode(self, frame: av.VideoFrame, pts: int,
               keyframe: bool) -> list[tuple[bytes, int, bool]]:
        """Encode one frame; returns (data, pts, is_keyframe) of every packet produced."""
        pts = max(pts, self._pts + 1)  # encoders want strictly increasing timestamps
        self._pts = pts
        frame.pts = pts
        frame.time_base = _TIME_BASE
        types = av.video.frame.PictureType
        frame.pict_type = types.I if keyframe else types.NONE
        return [(bytes(p), int(p.pts if p.pts is not None else pts), bool(p.is_keyframe))
                for p in self._ctx.encode(frame) if p.size]


class _Unwrapper:
    """Turns 32-bit RTP timestamps into a monotonic-ish 64-bit counter."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._value = 0

    def __call__(self, ts: int) -> int:
        if self._last is None:
            self._value = ts
        else:
            delta = (ts - self._last) & 0xFFFFFFFF
            if delta >= 0x80000000:
                delta -= 0x100000000
            self._value += delta
        self._last = ts
        return self._value


class PixelateTransform:
    """A producer transform pixelating video (all of it, or `rect`), encoded with the same codec."""

    def __init__(self, producer: Producer, rect: Rect | None = None,
                 block: int = DEFAULT_BLOCK) -> None:
        if producer.kind != "video":
            raise MediaError("wrong_kind", "only video can be pixelated")
        codec_name(producer.mime_type)
        if block < 2:
            raise ValueError("block must be at least 2 pixels")
        self.producer = producer
        self.mime_type = producer.mime_type
        self.block = block
        self._rect = validate_rect(rect)
        self._loop = asyncio.get_running_loop()
        self._cond = threading.Condition()
        self._queue: deque[Any] = deque()
        self._queued_frames = 0
        self._skipping = False  # after an overflow: drop input until a keyframe
        self._closed = False
        self._force_key = True
        self._last_key_at = 0.0
        # every producer.request_keyframe() (a consumer's PLI, a new consumer or tap) counts
        self._requests_seen = producer.keyframe_requests
        self._seq = random.getrandbits(16)
        # stats
        self.frames_in = 0
        self.frames_out = 0
        self.decode_errors = 0
        self.overflows = 0
        self.cpu_seconds = 0.0
        self._thread = threading.Thread(target=self._run, name=f"pixelate-{producer.id}",
                                        daemon=True)
        self._thread.start()

    @property
    def rect(self) -> Rect | None:
        """The pixelated region (None: the whole frame)."""
        return self._rect

    def set_rect(self, rect: Rect | None) -> None:
        """Change the pixelated region from the next frame on."""
        self._rect = validate_rect(rect)

    @property
    def closed(self) -> bool:
        """True once closed (the worker stops)."""
        return self._closed

    # -- event loop side ---------------------------------------------------------------------

    def push(self, payload: bytes, seq: int, ts: int, marker: bool, keyframe: bool) -> None:
        """Queue one incoming RTP payload (event loop; cheap)."""
        if self._closed or self.producer.paused:  # paused: nothing would be forwarded
            return
        with self._cond:
            if self._skipping:
                if not keyframe:
                    return
                self._skipping = False
            if (self._queued_frames >= MAX_QUEUED_FRAMES
                    or len(self._queue) >= MAX_QUEUED_PACKETS):
                self._overflow()
                if not keyframe:
                    return
                self._skipping = False
            self._queue.append((payload, seq, ts, marker, keyframe))
            if marker:
                self._queued_frames += 1
            self._cond.notify()

    def _overflow(self) -> None:
        """The worker is behind: drop the backlog and wait for the next keyframe (lock held)."""
        self.overflows += 1
        self._queue.clear()
        self._queue.append(_RESET)
        self._queued_frames = 0
        self._skipping = True
        logger.warning("pixelation of %s is behind: dropping to the next keyframe",
                       self.producer.id)
        self._loop.call_soon(self.producer.request_keyframe)

    def on_restart(self) -> None:
        """The input stream restarts (sequence and timestamp space may jump)."""
        with self._cond:
            self._queue.append(_RESET)
            self._cond.notify()

    def request_keyframe(self) -> None:
        """A consumer needs a keyframe: the next output frame is encoded as one."""
        self._force_key = True

    def close(self) -> None:
        """Stop the worker (it finishes the frame in hand); later pushes are ignored."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker thread to end (not on the event loop: it blocks)."""
        self._thread.join(timeout)

    def _emit(self, packets: list[tuple[bytes, int, int, bool, bool]]) -> None:
        if self._closed or self.producer.closed:
            return
        for payload, seq, ts, marker, keyframe in packets:
            self.producer.emit(payload, seq, ts, marker, keyframe)

    def _request_upstream_keyframe(self) -> None:
        if not self._closed:
            self.producer.request_keyframe()

    def dump(self) -> dict[str, Any]:
        """Description and statistics."""
        return {"kind": "pixelate", "rect": self._rect, "block": self.block,
                "frames_in": self.frames_in, "frames_out": self.frames_out,
                "decode_errors": self.decode_errors, "overflows": self.overflows,
                "cpu_seconds": round(self.cpu_seconds, 3)}

    # -- worker thread -----------------------------------------------------------------------

    def _next(self) -> Any:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            item = self._queue.popleft()
            if item is not _RESET and item[3]:
                self._queued_frames = max(0, self._queued_frames - 1)
            return item

    def _run(self) -> None:
        assembler = FrameAssembler(self.mime_type)
        packetizer = Packetizer(self.mime_type)
        decoder = open_decoder(self.mime_type)
        encoder: VideoEncoder | None = None
        unwrap = _Unwrapper()
        while True:
            item = self._next()
            if item is None:
                break
            if item is _RESET:
                assembler.reset()
                unwrap = _Unwrapper()
                self._force_key = True
                continue
            started = time.thread_time()
            try:
                for encoded in assembler.push(*item):
                    encoder = self._process(encoded, decoder, encoder, packetizer, unwrap)
            except Exception:  # never let one bad frame end the worker
                logger.exception("pixelation of %s failed on a frame", self.producer.id)
                self._force_key = True
            self.cpu_seconds += time.thread_time() - started

    def _process(self, encoded: EncodedFrame, decoder: av.VideoCodecContext,
                 encoder: VideoEncoder | None, packetizer: Packetizer,
                 unwrap: _Unwrapper) -> VideoEncoder | None:
        self.frames_in += 1
        pts = unwrap(encoded.timestamp)
        packet = av.Packet(encoded.data)
        packet.pts = pts
        packet.time_base = _TIME_BASE
        try:
            frames = decoder.decode(packet)
        except av.error.FFmpegError as exc:
            self.decode_errors += 1
            logger.debug("pixelation decode error on %s: %s", self.producer.id, exc)
            self._to_loop(self._request_upstream_keyframe)
            return encoder
        for frame in frames:
            if self._closed:
                return encoder
            frame = pixelate_frame(frame, self._rect, self.block)
            if encoder is None or (encoder.width, encoder.height) != (frame.width, frame.height):
                encoder = VideoEncoder(self.mime_type, frame.width, frame.height)
                self._force_key = True
            frame_pts = frame.pts if frame.pts is not None else pts
            keyframe = False
            requests = self.producer.keyframe_requests
            if requests != self._requests_seen:
                self._requests_seen = requests
                self._force_key = True
            now = time.monotonic()
            if self._force_key and now - self._last_key_at >= KEYFRAME_INTERVAL:
                keyframe = True
                self._force_key = False
                self._last_key_at = now
            ts = frame_pts & 0xFFFFFFFF  # the input frame's RTP timestamp
            # zero-latency encoders: what comes out is this frame
            for data, _, is_key in encoder.encode(frame, frame_pts, keyframe):
                self._send(packetizer.packetize(data), ts, is_key)
        return encoder

    def _send(self, payloads: list[bytes], ts: int, keyframe: bool) -> None:
        out = []
        last = len(payloads) - 1
        for index, payload in enumerate(payloads):
            out.append((payload, self._seq, ts, index == last, keyframe and index == 0))
            self._seq = (self._seq + 1) & 0xFFFF
        if out:
            self.frames_out += 1
            self._to_loop(self._emit, out)

    def _to_loop(self, callback: Any, *args: Any) -> None:
        """Run `callback(*args)` on the event loop; a closed loop ends the worker."""
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody will read our output
            self._closed = True


def set_pixelation(producer: Producer, on: bool, rect: Rect | None = None,
                   block: int = DEFAULT_BLOCK) -> PixelateTransform | None:
    """Turn pixelation of a video producer on (whole frame or `rect`) or off (plain forwarding)."""
    current = producer.transform
    if not on:
        if current is not None and not isinstance(current, PixelateTransform):
            return None  # another kind of transform: not ours to remove
        producer.set_transform(None)
        return None
    if isinstance(current, PixelateTransform) and not current.closed and current.block == block:
        current.set_rect(rect)
        return current
    transform = PixelateTransform(producer, rect, block)
    producer.set_transform(transform)
    return transform


__all__ = ["DEFAULT_BLOCK", "PixelateTransform", "Rect", "VideoEncoder", "codec_name",
           "open_decoder", "pixel_rect", "pixelate_frame", "set_pixelation", "validate_rect"]
