"""Keyframe detection on RTP payloads (VP8 per RFC 7741, H.264 per RFC 6184)."""

from __future__ import annotations

from collections.abc import Callable

# H.264 NAL unit types that start a decodable picture: IDR slice (5) or SPS (7).
_H264_KEY_NALS = (5, 7)


def vp8_is_keyframe(payload: bytes) -> bool:
    """True if this VP8 RTP payload is the first packet of a key frame."""
    n = len(payload)
    if n < 1:
        return False
    b0 = payload[0]
    # S bit set and partition id 0: start of a frame
    if not (b0 & 0x10) or (b0 & 0x0F):
        return False
    i = 1
    if b0 & 0x80:  # X: extended control bits
        if n <= i:
            return False
        x = payload[i]
        i += 1
        if x & 0x80:  # I: picture id
            if n <= i:
                return False
            i += 2 if payload[i] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            i += 1
        if x & 0x30:  # T or K: TID/KEYIDX
            i += 1
    if n <= i:
        return False
    # VP8 payload header: P bit (inverse key frame flag) is bit 0
    return not (payload[i] & 0x01)


def h264_is_keyframe(payload: bytes) -> bool:
    """True if this H.264 RTP payload carries an IDR slice or an SPS (a picture can start here)."""
    n = len(payload)
    if n < 1:
        return False
    nal = payload[0] & 0x1F
    if nal in _H264_KEY_NALS:
        return True
    if nal == 24:  # STAP-A: 16-bit size then NAL unit, repeated
        i = 1
        while i + 2 < n:
            size = (payload[i] << 8) | payload[i + 1]
            if size == 0:
                return False
            if payload[i + 2] & 0x1F in _H264_KEY_NALS:
                return True
            i += 2 + size
        return False
    if nal in (28, 29):  # FU-A / FU-B: start bit and original NAL type
        return n > 1 and bool(payload[1] & 0x80) and (payload[1] & 0x1F) in _H264_KEY_NALS
    return False


def always_keyframe(payload: bytes) -> bool:
    """Audio and unknown formats: every packet is a valid starting point."""
    return True


def keyframe_detector(mime_type: str) -> Callable[[bytes], bool]:
    """Return the keyframe test for a codec mime type (audio: every packet passes)."""
    mime = mime_type.lower()
    if mime == "video/vp8":
        return vp8_is_keyframe
    if mime == "video/h264":
        return h264_is_keyframe
    return always_keyframe
