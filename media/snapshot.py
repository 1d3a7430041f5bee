"""Snapshots: the next decodable picture of a video producer, as a JPEG."""

from __future__ import annotations

import asyncio
import io
import logging
import queue
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import av

from .depacketize import FrameAssembler
from .errors import MediaError
from .pixelate import open_decoder

if TYPE_CHECKING:
    from .producer import Producer

logger = logging.getLogger(__name__)

JPEG_QUALITY = 90
KEYFRAME_RETRY = 1.0  # seconds between keyframe requests while waiting for a picture
_RESTART = object()  # queue item: the packet stream restarted
_CLOSED = object()  # queue item: the producer closed


@dataclass(frozen=True)
class Snapshot:
    """One picture of a video track."""

    jpeg: bytes
    width: int
    height: int


class _SnapshotTap:
    """Queues the producer's packets for the decoding thread (event loop side: cheap)."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.stopped = False

    def on_packet(self, payload: bytes, seq: int, ts: int, marker: bool, keyframe: bool) -> None:
        """Queue one RTP payload."""
        if not self.stopped:
            self.queue.put((payload, seq, ts, marker, keyframe))

    def on_restart(self) -> None:
        """Forget partial frames: the sequence space may jump."""
        if not self.stopped:
            self.queue.put(_RESTART)

    def stop(self, reason: object = None) -> None:
        """Make the decoding thread give up."""
        self.stopped = True
        self.queue.put(_CLOSED if reason is None else reason)


def frame_to_jpeg(frame: av.VideoFrame, quality: int = JPEG_QUALITY) -> Snapshot:
    """Encode a decoded video frame as a JPEG snapshot (Pillow)."""
    image = frame.to_image()
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Snapshot(buffer.getvalue(), frame.width, frame.height)


def _first_picture(tap: _SnapshotTap, mime_type: str, deadline: float,
                   quality: int) -> Snapshot | None:
    """Worker thread: assemble and decode until one picture comes out (None: gave up)."""
    assembler = FrameAssembler(mime_type)
    decoder = open_decoder(mime_type)
    seen_keyframe = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            item = tap.queue.get(timeout=min(remaining, 0.1))
        except queue.Empty:
            continue
        if item is _CLOSED:
            return None
        if item is _RESTART:
            assembler.reset()
            continue
        for encoded in assembler.push(*item):
            if not seen_keyframe:
                if not encoded.keyframe:
                    continue
                seen_keyframe = True
            try:
                frames = decoder.decode(av.Packet(encoded.data))
            except av.error.FFmpegError as exc:
                logger.debug("snapshot decode error: %s", exc)
                seen_keyframe = False
                continue
            for frame in frames:
                return frame_to_jpeg(frame, quality)


async def take_snapshot(producer: Producer, timeout: float = 5.0,
                        quality: int = JPEG_QUALITY) -> Snapshot:
    """The producer's next decodable picture (what its consumers get), as a JPEG."""
    if producer.kind != "video":
        raise MediaError("wrong_kind", "snapshots are taken of video producers")
    if producer.closed:
        raise MediaError("closed", "the producer is closed")
    tap = _SnapshotTap()
    deadline = time.monotonic() + timeout

    def on_close() -> None:
        tap.stop()

    producer.observer.once("close", on_close)
    producer.add_tap(tap)
    try:
        producer.request_keyframe()
        task = asyncio.ensure_future(
            asyncio.to_thread(_first_picture, tap, producer.mime_type, deadline, quality))
        while True:
            done, _ = await asyncio.wait({task}, timeout=KEYFRAME_RETRY)
            if done:
                break
            producer.request_keyframe()
        snapshot = task.result()
    finally:
        tap.stop()
        producer.remove_tap(tap)
        producer.observer.remove_listener("close", on_close)
    if snapshot is None:
        if producer.closed:
            raise MediaError("closed", "the producer closed before a picture arrived")
        raise MediaError("timeout", f"no decodable picture within {timeout:g} s")
    return snapshot


__all__ = ["JPEG_QUALITY", "Snapshot", "frame_to_jpeg", "take_snapshot"]
