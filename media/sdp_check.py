"""Parsing and validation of client SDP before it reaches aiortc."""

from __future__ import annotations

from aiortc import sdp

from .errors import MediaError

MAX_SDP_LENGTH = 256 * 1024


def parse_sdp(text: object) -> sdp.SessionDescription:
    """Parse SDP text or raise MediaError("bad_sdp")."""
    if not isinstance(text, str) or not text.strip():
        raise MediaError("bad_sdp", "SDP must be a non-empty string")
    if len(text) > MAX_SDP_LENGTH:
        raise MediaError("bad_sdp", "SDP too large")
    if not text.lstrip().startswith("v="):
        raise MediaError("bad_sdp", "SDP must start with v=")
    try:
        description = sdp.SessionDescription.parse(text)
    except Exception as exc:  # noqa: BLE001 - aiortc raises ValueError, KeyError, IndexError, ...
        raise MediaError("bad_sdp", f"unparsable SDP: {exc.__class__.__name__}") from None
    for media in description.media:
        if media.kind in ("audio", "video"):
            if media.rtp.muxId is None or media.rtp.muxId == "":
                raise MediaError("bad_sdp", "m-line without a=mid")
            if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
                raise MediaError("bad_sdp", "m-line without ICE credentials")
            if media.dtls is None or not media.dtls.fingerprints:
                raise MediaError("bad_sdp", "m-line without DTLS fingerprint")
    return description
