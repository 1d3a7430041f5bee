"""carertc.config: defaults, environment overrides, bad values, the generated JWT secret."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from carertc.config import (
    AuthSettings,
    ConfigError,
    ServerSettings,
    Settings,
    load_settings,
    normalise_database_url,
    redact_url,
)

SECRET = "x" * 40


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"CARERTC_DATA_DIR": str(tmp_path / "data"), **extra}


def test_defaults_run_on_one_machine(tmp_path: Path) -> None:
    s = load_settings(env(tmp_path))
    assert (s.server.host, s.server.port, s.server.public_url) == ("0.0.0.0", 8080, None)
    assert s.data_dir == tmp_path / "data"
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'carertc.db'}"
    assert s.redis_url is None
    assert (s.auth.issuer, s.auth.audience, s.auth.token_ttl_seconds) == (
        "carertc",
        "carertc",
        43200,
    )
    assert s.auth.admin_name is None and s.auth.admin_password is None
    assert (s.rooms.empty_grace_seconds, s.rooms.max_participants) == (30.0, 16)
    assert s.media.ice_servers == []
    assert (s.log.level, s.log.json) == ("INFO", True)


def test_default_data_dir_is_relative_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings({})
    assert s.data_dir == Path("data")
    assert s.database_url == "sqlite+aiosqlite:///data/carertc.db"
    assert (tmp_path / "data" / "jwt_secret").exists()


def test_every_section_is_overridable_by_env(tmp_path: Path) -> None:
    s = load_settings(
        env(
            tmp_path,
            CARERTC_SERVER_HOST="127.0.0.1",
            CARERTC_SERVER_PORT="9443",
            CARERTC_SERVER_PUBLIC_URL="https://care.example.org",
            CARERTC_AUTH_JWT_SECRET=SECRET,
            CARERTC_AUTH_ISSUER="iss",
            CARERTC_AUTH_AUDIENCE="aud",
            CARERTC_AUTH_TOKEN_TTL_SECONDS="600",
            CARERTC_AUTH_ADMIN_NAME="root",
            CARERTC_AUTH_ADMIN_PASSWORD="hunter2",
            CARERTC_ROOMS_EMPTY_GRACE_SECONDS="2.5",
            CARERTC_ROOMS_MAX_PARTICIPANTS="4",
            CARERTC_MEDIA_ICE_SERVERS='[{"urls": "stun:stun.example.org"},'
            ' {"urls": ["turn:t.example.org"], "username": "u", "credential": "c"}]',
            CARERTC_LOG_LEVEL="debug",
            CARERTC_LOG_JSON="false",
            DATABASE_URL="postgresql://app:pw@db:5432/care",
            REDIS_URL="redis://cache:6379/0",
        )
    )
    assert s.server == ServerSettings("127.0.0.1", 9443, "https://care.example.org")
    assert s.auth.jwt_secret == SECRET
    assert (s.auth.issuer, s.auth.audience, s.auth.token_ttl_seconds) == ("iss", "aud", 600)
    assert (s.auth.admin_name, s.auth.admin_password) == ("root", "hunter2")
    assert (s.rooms.empty_grace_seconds, s.rooms.max_participants) == (2.5, 4)
    assert s.media.ice_servers[1] == {
        "urls": ["turn:t.example.org"],
        "username": "u",
        "credential": "c",
    }
    assert (s.log.level, s.log.json) == ("DEBUG", False)
    assert s.database_url == "postgresql+asyncpg://app:pw@db:5432/care"
    assert s.redis_url == "redis://cache:6379/0"
    # an explicit secret is not written to disk
    assert not (tmp_path / "data" / "jwt_secret").exists()


def test_empty_variables_count_as_unset(tmp_path: Path) -> None:
    s = load_settings(
        env(
            tmp_path,
            CARERTC_SERVER_PORT="",
            CARERTC_SERVER_PUBLIC_URL="",
            CARERTC_AUTH_JWT_SECRET="",
            CARERTC_AUTH_ADMIN_NAME="",
            CARERTC_AUTH_ADMIN_PASSWORD="",
            DATABASE_URL="",
            REDIS_URL="",
        )
    )
    assert s.server.port == 8080 and s.server.public_url is None
    assert s.auth.admin_name is None and s.redis_url is None
    assert s.auth.jwt_secret == (tmp_path / "data" / "jwt_secret").read_text().strip()
    assert s.db_url.startswith("sqlite+aiosqlite:///")


def test_carertc_prefixed_database_and_redis_urls_win(tmp_path: Path) -> None:
    s = load_settings(
        env(
            tmp_path,
            DATABASE_URL="postgresql://a@h/one",
            CARERTC_DATABASE_URL="postgres://a@h/two",
            REDIS_URL="redis://h/1",
            CARERTC_REDIS_URL="redis://h/2",
        )
    )
    assert s.database_url == "postgresql+asyncpg://a@h/two"
    assert s.redis_url == "redis://h/2"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u:p@h:5433/db", "postgresql+asyncpg://u:p@h:5433/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
    ],
)
def test_database_urls_are_normalised_to_async_drivers(url: str, expected: str) -> None:
    assert normalise_database_url(url) == expected


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("CARERTC_SERVER_PORT", "eighty"),
        ("CARERTC_SERVER_PORT", "70000"),
        ("CARERTC_SERVER_PORT", "-1"),
        ("CARERTC_SERVER_HOST", " "),
        ("CARERTC_SERVER_PUBLIC_URL", "care.example.org"),
        ("CARERTC_AUTH_JWT_SECRET", "short"),
        ("CARERTC_AUTH_TOKEN_TTL_SECONDS", "0"),
        ("CARERTC_AUTH_TOKEN_TTL_SECONDS", "1.5"),
        ("CARERTC_AUTH_ADMIN_PASSWORD", "pw-without-name"),
        ("CARERTC_ROOMS_EMPTY_GRACE_SECONDS", "soon"),
        ("CARERTC_ROOMS_EMPTY_GRACE_SECONDS", "-1"),
        ("CARERTC_ROOMS_MAX_PARTICIPANTS", "0"),
        ("CARERTC_MEDIA_ICE_SERVERS", "stun:stun.example.org"),
        ("CARERTC_MEDIA_ICE_SERVERS", '{"urls": "stun:x"}'),
        ("CARERTC_MEDIA_ICE_SERVERS", '[{"urls": "http://x"}]'),
        ("CARERTC_MEDIA_ICE_SERVERS", '[{"urls": "turn:x", "credential": 5}]'),
        ("CARERTC_LOG_LEVEL", "LOUD"),
        ("CARERTC_LOG_JSON", "maybe"),
        ("DATABASE_URL", "mysql://u@h/db"),
        ("DATABASE_URL", "not a url"),
        ("REDIS_URL", "http://cache:6379"),
    ],
)
def test_bad_values_raise_config_error_naming_the_variable(
    tmp_path: Path, var: str, value: str
) -> None:
    values = env(tmp_path, CARERTC_AUTH_JWT_SECRET=SECRET)
    values[var] = value
    with pytest.raises(ConfigError) as err:
        load_settings(values)
    expected = "CARERTC_AUTH_ADMIN_NAME" if var == "CARERTC_AUTH_ADMIN_PASSWORD" else var
    assert err.value.variable == expected
    assert str(err.value).startswith(f"{expected}: ")


def test_direct_construction_validates_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        ServerSettings(port=True)  # type: ignore[arg-type]
    assert err.value.variable == "CARERTC_SERVER_PORT"
    s = Settings(auth=AuthSettings(jwt_secret=SECRET), data_dir=tmp_path)  # type: ignore[arg-type]
    assert s.data_dir == tmp_path and s.db_url.startswith("sqlite+aiosqlite:///")


def test_jwt_secret_is_generated_once_and_persisted_0600(tmp_path: Path) -> None:
    first = load_settings(env(tmp_path))
    path = tmp_path / "data" / "jwt_secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first.auth.jwt_secret) >= 32
    assert path.read_text().strip() == first.auth.jwt_secret
    second = load_settings(env(tmp_path))
    assert second.auth.jwt_secret == first.auth.jwt_secret
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".jwt_secret")]


def test_unwritable_data_dir_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError) as err:
        load_settings({"CARERTC_DATA_DIR": str(blocker / "data")})
    assert err.value.variable == "CARERTC_AUTH_JWT_SECRET"


def test_secrets_stay_out_of_repr_and_redacted_view(tmp_path: Path) -> None:
    s = load_settings(
        env(
            tmp_path,
            CARERTC_AUTH_JWT_SECRET=SECRET,
            CARERTC_AUTH_ADMIN_NAME="root",
            CARERTC_AUTH_ADMIN_PASSWORD="hunter2-pw",
            DATABASE_URL="postgresql://app:dbpass@db/care",
            CARERTC_MEDIA_ICE_SERVERS='[{"urls": "turn:t", "username": "u", "credential": "turnpass"}]',
        )
    )
    for text in (repr(s), str(s.redacted())):
        for secret in (SECRET, "hunter2-pw", "turnpass"):
            assert secret not in text
    assert "dbpass" not in str(s.redacted())
    assert (
        redact_url("postgresql+asyncpg://app:dbpass@db/care")
        == "postgresql+asyncpg://app:***@db/care"
    )


def test_recording_key_is_generated_once_and_persisted_0600(tmp_path: Path) -> None:
    first = load_settings(env(tmp_path, CARERTC_AUTH_JWT_SECRET=SECRET))
    path = tmp_path / "data" / "recording_key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first.recording.key_bytes) == 32
    second = load_settings(env(tmp_path, CARERTC_AUTH_JWT_SECRET=SECRET))
    assert second.recording.key_bytes == first.recording.key_bytes
    assert first.recording.key not in repr(first) and "key" not in first.redacted()["recording"]


def test_recording_key_from_env_and_composite_settings(tmp_path: Path) -> None:
    key = base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
    s = load_settings(env(tmp_path, CARERTC_AUTH_JWT_SECRET=SECRET, CARERTC_RECORDING_KEY=key,
                          CARERTC_RECORDING_COMPOSITE_CODEC="h264",
                          CARERTC_RECORDING_RETENTION_DAYS="30",
                          CARERTC_RECORDING_DIR=str(tmp_path / "rec")))
    assert s.recording.key_bytes == bytes(range(32))
    assert not (tmp_path / "data" / "recording_key").exists()
    assert (s.recording.composite_codec, s.recording.retention_days) == ("h264", 30)
    assert s.recording.dir == tmp_path / "rec"


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("CARERTC_RECORDING_KEY", "not base64!"),
        ("CARERTC_RECORDING_KEY", base64.b64encode(b"short").decode()),
        ("CARERTC_RECORDING_RETENTION_DAYS", "-1"),
        ("CARERTC_RECORDING_COMPOSITE_CODEC", "av1"),
        ("CARERTC_RECORDING_COMPOSITE_WIDTH", "641"),
        ("CARERTC_RECORDING_COMPOSITE_FPS", "0"),
        ("CARERTC_RECORDING_DEFAULT_LAYOUT", "carousel"),
    ],
)
def test_bad_recording_settings_name_the_variable(tmp_path: Path, var: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env(tmp_path, CARERTC_AUTH_JWT_SECRET=SECRET, **{var: value}))
    assert err.value.variable == var
