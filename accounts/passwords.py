"""Password hashing with scrypt (hashlib), per-password salt, constant-time verify.

Encoded form: ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`` (unpadded URL-safe
base64), so the cost parameters can be raised later without breaking old
hashes (see :func:`needs_rehash`). Hashing costs tens of milliseconds of CPU:
call it from a worker thread (``asyncio.to_thread``) on the event loop.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
N = 2**15
R = 8
P = 1
SALT_BYTES = 16
KEY_BYTES = 32
MAX_PASSWORD_BYTES = 1024
# Bounds for parameters read back from a stored hash, so a corrupt or hostile
# value cannot make verify() allocate gigabytes.
_MAX_N = 2**20
_MAX_R = 16
_MAX_P = 16


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    data = password.encode("utf-8")
    if len(data) > MAX_PASSWORD_BYTES:
        raise ValueError(f"password longer than {MAX_PASSWORD_BYTES} bytes")
    return hashlib.scrypt(
        data, salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=128 * r * n * 2 + 1024 * 1024
    )


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """Hash ``password`` with a fresh random salt; returns the encoded string."""
    if not isinstance(password, str) or not password:
        raise ValueError("password must be a non-empty string")
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, n, r, p, KEY_BYTES)
    return f"{SCHEME}${n}${r}${p}${_b64e(salt)}${_b64e(key)}"


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    try:
        scheme, n_s, r_s, p_s, salt_s, key_s = encoded.split("$")
        if scheme != SCHEME:
            return None
        n, r, p = int(n_s), int(r_s), int(p_s)
        salt, key = _b64d(salt_s), _b64d(key_s)
    except (ValueError, TypeError, AttributeError):
        return None
    if not (2 <= n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        return None
    if len(salt) < 8 or not 16 <= len(key) <= 64:
        return None
    return n, r, p, salt, key


def verify_password(password: str, encoded: str | None) -> bool:
    """Whether ``password`` matches ``encoded``; False for malformed hashes."""
    if not isinstance(password, str) or not isinstance(encoded, str):
        return False
    parsed = _parse(encoded)
    if parsed is None:
        return False
    n, r, p, salt, key = parsed
    try:
        candidate = _derive(password, salt, n, r, p, len(key))
    except ValueError:
        return False
    return hmac.compare_digest(candidate, key)


def needs_rehash(encoded: str) -> bool:
    """Whether ``encoded`` uses weaker parameters than the current defaults."""
    parsed = _parse(encoded)
    if parsed is None:
        return True
    n, r, p, _salt, key = parsed
    return n < N or r < R or p < P or len(key) < KEY_BYTES


@functools.cache
def dummy_hash() -> str:
    """A hash of a random password, to verify against when the user does not exist.

    So "no such user" costs the same time as "wrong password".
    """
    return hash_password(secrets.token_urlsafe(16))
