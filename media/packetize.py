"""Packetizer: one encoded frame into RTP payloads (VP8 RFC 7741, H.264 RFC 6184, audio)."""

from __future__ import annotations

import random

from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder


class Packetizer:
    """Splits encoded frames into RTP payloads for `mime_type`; the last one takes the marker."""

    def __init__(self, mime_type: str) -> None:
        self.mime_type = mime_type
        self._mime = mime_type.lower()
        if self._mime.startswith("video/") and self._mime not in ("video/vp8", "video/h264"):
            raise ValueError(f"cannot packetize {mime_type}")
        self._picture_id = random.getrandbits(15)

    def packetize(self, data: bytes) -> list[bytes]:
        """RTP payloads of one frame (H.264: Annex-B input; audio: one payload)."""
        if not data:
            return []
        if self._mime == "video/vp8":
            payloads = Vp8Encoder._packetize(data, self._picture_id)
            self._picture_id = (self._picture_id + 1) & 0x7FFF
            return payloads
        if self._mime == "video/h264":
            return H264Encoder._packetize(H264Encoder._split_bitstream(data))
        return [data]
