"""accounts.tokens: strict verification with stable error codes."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from accounts.errors import AuthError
from accounts.tokens import Claims, TokenService

SECRET = "unit-test-secret-0123456789abcdef-0123456789"
tokens = TokenService(SECRET, issuer="carertc", audience="carertc")


def payload(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "carertc",
        "aud": "carertc",
        "sub": "user-1",
        "name": "Dr Li",
        "role": "doctor",
        "iat": now,
        "exp": now + 60,
        "jti": "j1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def code_of(token: Any) -> str:
    with pytest.raises(AuthError) as err:
        tokens.verify(token)
    return err.value.code


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_issued_token_verifies_to_its_claims() -> None:
    token = tokens.issue(
        user_id="u1", name="Nina", role="nurse", org="ward-7", room="r1", ttl_seconds=120
    )
    claims = tokens.verify(token)
    assert isinstance(claims, Claims)
    assert (claims.sub, claims.name, claims.role, claims.org, claims.room) == (
        "u1",
        "Nina",
        "nurse",
        "ward-7",
        "r1",
    )
    assert claims.exp - claims.iat == 120
    assert claims.jti and claims.user_id == "u1"
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_optional_org_and_room_default_to_none() -> None:
    claims = tokens.verify(tokens.issue(user_id="u1", name="G", role="guest"))
    assert claims.org is None and claims.room is None


def test_each_token_has_a_unique_jti() -> None:
    a = tokens.verify(tokens.issue(user_id="u1", name="n", role="elder"))
    b = tokens.verify(tokens.issue(user_id="u1", name="n", role="elder"))
    assert a.jti != b.jti


@pytest.mark.parametrize("token", [None, ""])
def test_missing_token_is_token_missing(token: str | None) -> None:
    assert code_of(token) == "token_missing"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 10000, 42, b"bytes"])
def test_malformed_token_is_token_invalid(token: Any) -> None:
    assert code_of(token) == "token_invalid"


def test_expired_token_is_token_expired() -> None:
    assert (
        code_of(tokens.issue(user_id="u1", name="n", role="doctor", ttl_seconds=-5))
        == "token_expired"
    )
    assert (
        code_of(jwt.encode(payload(exp=int(time.time()) - 1), SECRET, "HS256")) == "token_expired"
    )


def test_wrong_audience_is_token_audience() -> None:
    assert code_of(jwt.encode(payload(aud="someone-else"), SECRET, "HS256")) == "token_audience"
    other = TokenService(SECRET, issuer="carertc", audience="other")
    assert code_of(other.issue(user_id="u", name="n", role="guest")) == "token_audience"


def test_wrong_issuer_is_token_invalid() -> None:
    assert code_of(jwt.encode(payload(iss="evil"), SECRET, "HS256")) == "token_invalid"


def test_alg_none_is_token_invalid() -> None:
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload())}."
    assert code_of(unsigned) == "token_invalid"
    assert code_of(jwt.encode(payload(), None, algorithm="none")) == "token_invalid"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_hs512_is_not_allowed_even_with_the_right_secret() -> None:
    assert code_of(jwt.encode(payload(), SECRET, "HS512")) == "token_invalid"


def test_rs256_is_not_allowed() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert code_of(jwt.encode(payload(), key, "RS256")) == "token_invalid"


def test_tampered_signature_or_payload_is_token_invalid() -> None:
    token = tokens.issue(user_id="u1", name="n", role="family")
    head, body, sig = token.split(".")
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    assert code_of(f"{head}.{body}.{flipped}") == "token_invalid"
    forged_body = b64(payload(sub="u1", role="admin"))
    assert code_of(f"{head}.{forged_body}.{sig}") == "token_invalid"


def test_other_secret_is_token_invalid() -> None:
    other = TokenService("another-secret-0123456789abcdef-0123456789", "carertc", "carertc")
    assert code_of(other.issue(user_id="u1", name="n", role="doctor")) == "token_invalid"


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub", "name", "role", "jti"])
def test_missing_required_claim_is_token_invalid(claim: str) -> None:
    assert code_of(jwt.encode(payload(**{claim: None}), SECRET, "HS256")) == "token_invalid"


@pytest.mark.parametrize(
    "overrides",
    [{"role": "superuser"}, {"name": 5}, {"room": 7}, {"org": ["a"]}, {"sub": ""}],
)
def test_mistyped_or_unknown_claims_are_token_invalid(overrides: dict[str, Any]) -> None:
    assert code_of(jwt.encode(payload(**overrides), SECRET, "HS256")) == "token_invalid"


def test_service_refuses_non_hmac_algorithms() -> None:
    with pytest.raises(ValueError):
        TokenService(SECRET, "carertc", "carertc", algorithms=("RS256",))
    with pytest.raises(ValueError):
        TokenService(SECRET, "carertc", "carertc", algorithms=("none",))
    with pytest.raises(ValueError):
        tokens.issue(user_id="u", name="n", role="root")


def test_auth_error_wire_form() -> None:
    err = AuthError("token_expired")
    assert err.to_dict() == {"error": {"code": "token_expired", "message": err.message}}
    with pytest.raises(ValueError):
        AuthError("not_a_code")
