"""Generated media for test peers: small VP8-encodable video and silent audio.

A camera track is 160x120 and a screen track 320x180, so a receiver can tell
them apart by the size of the frames it decodes.
"""

from __future__ import annotations

import av
from aiortc import AudioStreamTrack, VideoStreamTrack

SIZES = {"camera": (160, 120), "screen": (320, 180)}


def _planes(width: int, height: int, luma: int) -> tuple[bytes, bytes, bytes]:
    return (
        bytes([luma]) * (width * height),
        bytes([90]) * (width * height // 4),
        bytes([200]) * (width * height // 4),
    )


class GeneratedVideoTrack(VideoStreamTrack):
    """Frames of one flat colour with a moving bright band, at the track's clock."""

    def __init__(self, source: str = "camera") -> None:
        super().__init__()
        self.source = source
        self.width, self.height = SIZES[source]
        self._base = _planes(self.width, self.height, 60)
        self.frames_sent = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        y, u, v = self._base
        band = (self.frames_sent * 4) % self.height
        row = self.width
        luma = bytearray(y)
        luma[band * row : min(self.height, band + 8) * row] = b"\xeb" * (
            (min(self.height, band + 8) - band) * row
        )
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        for index, data in enumerate((bytes(luma), u, v)):
            plane = frame.planes[index]
            width = self.width if index == 0 else self.width // 2
            if plane.line_size != width:  # rows are padded
                data = b"".join(
                    data[r * width : (r + 1) * width] + bytes(plane.line_size - width)
                    for r in range(len(data) // width)
                )
            plane.update(data)
        frame.pts = pts
        frame.time_base = time_base
        self.frames_sent += 1
        return frame


class SilentAudioTrack(AudioStreamTrack):
    """aiortc's silent audio (20 ms frames), tagged as the microphone."""

    source = "microphone"


def track_for(source: str) -> VideoStreamTrack | AudioStreamTrack:
    """A new generated track for ``source``."""
    if source == "microphone":
        return SilentAudioTrack()
    return GeneratedVideoTrack(source)


__all__ = ["SIZES", "GeneratedVideoTrack", "SilentAudioTrack", "track_for"]
