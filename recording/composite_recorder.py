"""Records the compositor's output: a sink muxing its packets into WebM or Matroska."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from .muxer import Muxer, MuxStats, StreamSpec, container_for


def composite_suffix(compositor: Any) -> str:
    """`.webm` for VP8+Opus, `.mkv` for H.264+Opus."""
    return container_for([compositor.video_stream_info.codec, "opus"])[1]


class CompositeRecorder:
    """A compositor sink: packets are muxed as encoded, on the recording's timeline.

    Packet times are the compositor's (from `comp.started_at`); they are shifted by
    `comp.started_at - started_at`. Video starts at a keyframe.
    """

    def __init__(self, compositor: Any, path: str | Path, key: bytes, started_at: float, *,
                 flush_interval: float = 1.0) -> None:
        self.compositor = compositor
        self.path = Path(path)
        self.started_at = started_at
        video, audio = compositor.video_stream_info, compositor.audio_stream_info
        self.codec = video.codec
        self._muxer = Muxer(self.path, key, [
            StreamSpec("video", video.codec, video.width, video.height),
            StreamSpec("audio", audio.codec, sample_rate=audio.rate,
                       channels=audio.channels or 2),
        ], flush_interval=flush_interval, name="mux-composite")
        self._waiting_key = True
        self._stopped = False

    def start(self) -> None:
        """Attach to the compositor (it is asked for a keyframe)."""
        self.compositor.add_sink(self)

    def on_video(self, packet: Any) -> None:
        """A video packet from the compositor's worker thread."""
        if self._stopped or packet.pts is None:
            return
        if self._waiting_key:
            if not packet.is_keyframe:
                return
            self._waiting_key = False
        self._muxer.put("video", bytes(packet), self._seconds(packet), bool(packet.is_keyframe))

    def on_audio(self, packet: Any) -> None:
        """An audio packet from the compositor's worker thread."""
        if not self._stopped and packet.pts is not None:
            self._muxer.put("audio", bytes(packet), self._seconds(packet), True)

    @property
    def stats(self) -> MuxStats:
        """What has been muxed so far."""
        return self._muxer.stats

    @property
    def error(self) -> Exception | None:
        """Why the file could not be written, if it could not."""
        return self._muxer.error

    async def stop(self) -> MuxStats:
        """Detach and finalise the file (in a thread)."""
        if not self._stopped:
            self._stopped = True
            self.compositor.remove_sink(self)
        return await asyncio.to_thread(self._muxer.close)

    def _seconds(self, packet: Any) -> float:
        started = self.compositor.started_at
        offset = (started - self.started_at) if started is not None else 0.0
        return float(packet.pts * packet.time_base) + offset
