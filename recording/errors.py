"""Errors of the recording catalog and playback, with stable codes and HTTP statuses."""

from __future__ import annotations

RECORDING_STATUS = {
    "bad_request": 400,
    "permission_denied": 403,
    "recording_not_found": 404,
    "recording_file_not_found": 404,
    "recording_in_progress": 409,
    "range_not_satisfiable": 416,
}


class RecordingError(Exception):
    """A recording request was refused; ``code`` is a key of :data:`RECORDING_STATUS`."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        if code not in RECORDING_STATUS:
            raise ValueError(f"unknown recording error code {code!r}")
        self.code = code
        self.message = message
        self.headers = headers or {}
        super().__init__(f"{code}: {message}")

    @property
    def status(self) -> int:
        """The HTTP status."""
        return RECORDING_STATUS[self.code]
