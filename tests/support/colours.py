"""Flat-colour video for composite tests: an aiortc track sending one solid colour, and
helpers to publish tracks and to read the colour of a region of a decoded picture."""

from __future__ import annotations

from typing import Any

import av
import numpy as np
from aiortc import (
    AudioStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy

from media.compositor.layout import Rect

RED = (220, 30, 30)
GREEN = (30, 200, 40)
BLUE = (30, 40, 220)
YELLOW = (230, 220, 30)
MAGENTA = (210, 40, 200)
CYAN = (30, 200, 210)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


class SolidColourTrack(VideoStreamTrack):
    """Frames of one colour (RGB) at aiortc's video clock; `colour` may change at any time."""

    def __init__(self, colour: tuple[int, int, int], width: int = 320, height: int = 240) -> None:
        super().__init__()
        self.width, self.height = width, height
        self.colour = colour
        self._planes: dict[tuple[int, int, int], av.VideoFrame] = {}
        self.frames_sent = 0

    def _template(self, colour: tuple[int, int, int]) -> av.VideoFrame:
        frame = self._planes.get(colour)
        if frame is None:
            rgb = np.empty((self.height, self.width, 3), np.uint8)
            rgb[:] = colour
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            self._planes[colour] = frame
        return frame

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        template = self._template(self.colour)
        frame = av.VideoFrame.from_ndarray(template.to_ndarray(), format="yuv420p")
        frame.pts = pts
        frame.time_base = time_base
        self.frames_sent += 1
        return frame


class ToneTrack(AudioStreamTrack):
    """A continuous 440 Hz tone (48 kHz stereo, 20 ms frames): someone talking."""

    def __init__(self, amplitude: int = 10000) -> None:
        super().__init__()
        self.amplitude = amplitude
        self._sent = 0

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()  # paced silence with the right timestamps
        t = (self._sent + np.arange(frame.samples)) / 48000
        mono = (self.amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        channels = len(frame.layout.channels)
        tone = av.AudioFrame.from_ndarray(np.repeat(mono, channels).reshape(1, -1),
                                          format="s16", layout=frame.layout.name)
        tone.sample_rate, tone.pts, tone.time_base = frame.sample_rate, frame.pts, frame.time_base
        self._sent += frame.samples
        return tone


async def publish_tracks(transport: Any, tracks: dict[str, MediaStreamTrack]
                         ) -> tuple[RTCPeerConnection, dict[str, Any]]:
    """A client peer publishing `tracks` (source → track) on a send transport; returns the
    peer and the producers by source."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[],
                                            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    mids: dict[int, str] = {}
    for index, (source, track) in enumerate(tracks.items()):
        pc.addTrack(track)
        mids[index] = source
    await pc.setLocalDescription(await pc.createOffer())
    sources = {t.mid: mids[i] for i, t in enumerate(pc.getTransceivers())}
    answer, producers = await transport.receive_offer(pc.localDescription.sdp, sources)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    by_source = {p.app_data.get("source"): p for p in producers}
    return pc, by_source


def mean_rgb(rgb: np.ndarray, rect: Rect, margin: float = 0.3) -> tuple[float, float, float]:
    """Mean colour of the middle of `rect` (a `margin` of its size left out on each side)."""
    mx, my = int(rect.w * margin), int(rect.h * margin)
    patch = rgb[rect.y + my:rect.y + rect.h - my, rect.x + mx:rect.x + rect.w - mx]
    mean = patch.reshape(-1, 3).mean(axis=0)
    return float(mean[0]), float(mean[1]), float(mean[2])


def close_to(actual: tuple[float, float, float], expected: tuple[int, int, int],
             tolerance: float = 45.0) -> bool:
    """True when every channel is within `tolerance` (codec and colour conversion losses)."""
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))
