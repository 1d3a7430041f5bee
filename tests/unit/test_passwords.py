"""accounts.passwords: scrypt hashes with parameters, salt, constant-time verify."""

from __future__ import annotations

import pytest

from accounts import passwords
from accounts.passwords import hash_password, needs_rehash, verify_password


def test_hash_verifies_only_the_right_password() -> None:
    encoded = hash_password("correct horse")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct hors", encoded)
    assert not verify_password("", encoded)
    assert "correct horse" not in encoded


def test_encoding_carries_scheme_and_parameters() -> None:
    scheme, n, r, p, salt, key = hash_password("pw").split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", passwords.N, passwords.R, passwords.P)
    assert salt and key


def test_each_hash_has_its_own_salt() -> None:
    assert hash_password("same") != hash_password("same")


def test_unicode_passwords_round_trip() -> None:
    encoded = hash_password("pässwörd-密码-🙂")
    assert verify_password("pässwörd-密码-🙂", encoded)
    assert not verify_password("passwörd-密码-🙂", encoded)


def test_older_cheaper_parameters_still_verify_and_ask_for_rehash() -> None:
    weak = hash_password("pw", n=2**10, r=8, p=1)
    assert verify_password("pw", weak)
    assert needs_rehash(weak)
    assert not needs_rehash(hash_password("pw"))


@pytest.mark.parametrize(
    "encoded",
    [
        None,
        "",
        "plaintext",
        "bcrypt$1$2$3$c2FsdA$a2V5",
        "scrypt$notint$8$1$c2FsdHNhbHQ$" + "A" * 43,
        "scrypt$3$8$1$c2FsdHNhbHQ$" + "A" * 43,  # n not a power of two
        "scrypt$1073741824$8$1$c2FsdHNhbHQ$" + "A" * 43,  # n far too large: refused, not computed
        "scrypt$16384$8$1$!!$" + "A" * 43,
    ],
)
def test_malformed_or_hostile_hashes_never_verify(encoded: str | None) -> None:
    assert not verify_password("pw", encoded)


def test_empty_and_oversized_passwords_are_refused() -> None:
    with pytest.raises(ValueError):
        hash_password("")
    with pytest.raises(ValueError):
        hash_password("x" * (passwords.MAX_PASSWORD_BYTES + 1))
    assert not verify_password("x" * (passwords.MAX_PASSWORD_BYTES + 1), hash_password("pw"))
