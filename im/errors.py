"""Messaging errors with stable wire codes and HTTP statuses."""

from __future__ import annotations

IM_STATUS = {
    "bad_request": 400,
    "conversation_not_found": 404,
    "message_not_found": 404,
    "attachment_not_found": 404,
    "user_not_found": 404,
    "not_allowed": 403,
    "room_forbidden": 403,
    "recall_window_passed": 403,
    "already_recalled": 409,
    "client_msg_id_conflict": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "image_too_large": 422,
    "unavailable": 503,
}


class ImError(Exception):
    """A messaging request was refused; ``code`` is a key of :data:`IM_STATUS`."""

    def __init__(self, code: str, message: str) -> None:
        if code not in IM_STATUS:
            raise ValueError(f"unknown im error code {code!r}")
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")

    @property
    def status(self) -> int:
        """The HTTP status for this error."""
        return IM_STATUS[self.code]

    def to_dict(self) -> dict[str, dict[str, str]]:
        """The wire form ``{"error": {"code", "message"}}``."""
        return {"error": {"code": self.code, "message": self.message}}


def not_found() -> ImError:
    """The one answer for "no such conversation" and "not a member" alike."""
    return ImError("conversation_not_found", "no such conversation")
