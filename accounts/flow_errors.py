"""Errors of the care flows (consults, SOS, meetings) with stable codes and HTTP statuses."""

from __future__ import annotations

FLOW_STATUS = {
    "bad_request": 400,
    "api_key_invalid": 401,
    "permission_denied": 403,
    "room_forbidden": 403,
    "user_not_found": 404,
    "org_not_found": 404,
    "consult_not_found": 404,
    "sos_not_found": 404,
    "meeting_not_found": 404,
    "invite_not_found": 404,
    "webhook_not_found": 404,
    "api_key_not_found": 404,
    "bad_state": 409,
    "conflict": 409,
    "sos_already_answered": 409,
    "invite_invalid": 410,
}


class FlowError(Exception):
    """A care-flow request was refused; ``code`` is a key of :data:`FLOW_STATUS`."""

    def __init__(self, code: str, message: str) -> None:
        if code not in FLOW_STATUS:
            raise ValueError(f"unknown flow error code {code!r}")
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")

    @property
    def status(self) -> int:
        """The HTTP status."""
        return FLOW_STATUS[self.code]

    def to_dict(self) -> dict[str, dict[str, str]]:
        """The wire form ``{"error": {"code", "message"}}``."""
        return {"error": {"code": self.code, "message": self.message}}
