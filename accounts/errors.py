"""Account and authentication errors with stable codes."""

from __future__ import annotations

AUTH_CODES = frozenset(
    {
        "token_missing",
        "token_invalid",
        "token_expired",
        "token_audience",
        "user_disabled",
        "bad_credentials",
    }
)

_DEFAULT_MESSAGES = {
    "token_missing": "no token was given",
    "token_invalid": "the token is not valid",
    "token_expired": "the token has expired",
    "token_audience": "the token is not meant for this server",
    "user_disabled": "the account does not exist or is disabled",
    "bad_credentials": "wrong name or password",
}


class AuthError(Exception):
    """Authentication failed; ``code`` is one of :data:`AUTH_CODES`."""

    def __init__(self, code: str, message: str | None = None) -> None:
        if code not in AUTH_CODES:
            raise ValueError(f"unknown auth error code {code!r}")
        self.code = code
        self.message = message or _DEFAULT_MESSAGES[code]
        super().__init__(f"{code}: {self.message}")

    def to_dict(self) -> dict[str, dict[str, str]]:
        """The wire form ``{"error": {"code", "message"}}``."""
        return {"error": {"code": self.code, "message": self.message}}


class AccountError(ValueError):
    """A user-management request was refused; ``code`` is stable.

    Codes: ``user_exists``, ``bad_name``, ``bad_role``, ``bad_password``,
    ``bad_display_name``, ``bad_organisation``, ``user_not_found``.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class UserExists(AccountError):
    """A user with that name already exists."""

    def __init__(self, name: str) -> None:
        super().__init__("user_exists", f"a user named {name!r} already exists")
