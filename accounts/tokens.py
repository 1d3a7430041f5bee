"""JWT access tokens: issue and verify (HMAC only, strict claims)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from accounts.errors import AuthError
from accounts.roles import ROLES

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
MAX_TOKEN_LENGTH = 8192
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")


@dataclass(frozen=True)
class Claims:
    """The verified contents of an access token."""

    sub: str
    name: str
    role: str
    org: str | None
    room: str | None
    exp: int
    iat: int
    jti: str

    @property
    def user_id(self) -> str:
        """Alias for ``sub``."""
        return self.sub


class TokenService:
    """Issues and verifies HMAC-signed JWTs for one issuer and audience."""

    def __init__(
        self,
        secret: str,
        issuer: str,
        audience: str,
        algorithms: Iterable[str] = ("HS256",),
        *,
        leeway: int = 0,
    ) -> None:
        algs = tuple(algorithms)
        if not algs or not set(algs) <= HMAC_ALGORITHMS:
            raise ValueError(f"algorithms must be HMAC ones from {sorted(HMAC_ALGORITHMS)}")
        if not secret:
            raise ValueError("secret must not be empty")
        self._secret = secret
        self.issuer = issuer
        self.audience = audience
        self.algorithms = algs
        self.leeway = leeway

    def __repr__(self) -> str:
        return f"TokenService(issuer={self.issuer!r}, audience={self.audience!r}, algorithms={self.algorithms})"

    def issue(
        self,
        *,
        user_id: str,
        name: str,
        role: str,
        org: str | None = None,
        room: str | None = None,
        ttl_seconds: int = 3600,
        now: int | None = None,
    ) -> str:
        """Sign a token for ``user_id``; a negative ``ttl_seconds`` makes an expired one (tests)."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        if not user_id or not isinstance(user_id, str):
            raise ValueError("user_id must be a non-empty string")
        iat = int(time.time()) if now is None else int(now)
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user_id,
            "name": name,
            "role": role,
            "iat": iat,
            "exp": iat + int(ttl_seconds),
            "jti": uuid.uuid4().hex,
        }
        if org is not None:
            payload["org"] = org
        if room is not None:
            payload["room"] = room
        return jwt.encode(payload, self._secret, algorithm=self.algorithms[0])

    def verify(self, token: str | None) -> Claims:
        """Check signature, algorithm, ``exp``/``iat``/``iss``/``aud``/``sub``; raise AuthError."""
        if token is None or token == "":
            raise AuthError("token_missing")
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            raise AuthError("token_invalid")
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS), "verify_signature": True},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token_expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError("token_audience") from None
        except jwt.InvalidIssuerError:
            raise AuthError("token_invalid", "the token was issued by someone else") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError("token_invalid", f"the token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidAlgorithmError:
            raise AuthError("token_invalid", "the token's algorithm is not allowed") from None
        except jwt.PyJWTError:
            raise AuthError("token_invalid") from None
        return _claims(payload)


def _required_str(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise AuthError("token_invalid", f"the token's {key!r} claim is missing or not a string")
    return value


def _optional_str(payload: dict[str, Any], key: str) -> str | None:
    if payload.get(key) is None:
        return None
    return _required_str(payload, key)


def _claims(payload: dict[str, Any]) -> Claims:
    role = _required_str(payload, "role")
    if role not in ROLES:
        raise AuthError("token_invalid", "the token's role is unknown")
    exp, iat = payload.get("exp"), payload.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise AuthError("token_invalid", "exp and iat must be integers")
    return Claims(
        sub=_required_str(payload, "sub"),
        name=_required_str(payload, "name"),
        role=role,
        org=_optional_str(payload, "org"),
        room=_optional_str(payload, "room"),
        exp=exp,
        iat=iat,
        jti=_required_str(payload, "jti"),
    )
