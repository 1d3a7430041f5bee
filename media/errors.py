"""Errors raised by the media layer, each with a stable code."""

from __future__ import annotations

CODES = frozenset({
    "bad_sdp", "negotiation_failed", "wrong_direction", "closed", "no_offer_pending",
    "wrong_kind", "timeout",
})


class MediaError(Exception):
    """A media operation failed; `code` is one of the stable codes in docs/MEDIA.md."""

    def __init__(self, code: str, message: str = "") -> None:
        if code not in CODES:
            raise ValueError(f"unknown media error code {code!r}")
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message or code
