"""Room errors with stable wire codes."""

from __future__ import annotations

ROOM_CODES = frozenset(
    {
        "bad_request",
        "room_forbidden",
        "room_full",
        "already_in_room",
        "not_in_room",
        "permission_denied",
        "not_publishing",
        "bad_sdp",
        "negotiation_failed",
        "no_offer_pending",
        "room_locked",
        "participant_not_found",
        "recording_active",
        "not_recording",
        "snapshot_failed",
        "recording_failed",
    }
)


class RoomError(Exception):
    """A room request was refused; ``code`` is one of :data:`ROOM_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        if code not in ROOM_CODES:
            raise ValueError(f"unknown room error code {code!r}")
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")

    def to_dict(self) -> dict[str, dict[str, str]]:
        """The wire form ``{"error": {"code", "message"}}``."""
        return {"error": {"code": self.code, "message": self.message}}
