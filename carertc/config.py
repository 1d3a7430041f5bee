"""Typed configuration: one tree of dataclasses, validated on construction.

Every setting has a default that runs on one machine and can be given by an
environment variable named ``CARERTC_<SECTION>_<FIELD>`` (for example
``CARERTC_SERVER_PORT``, ``CARERTC_AUTH_JWT_SECRET``,
``CARERTC_ROOMS_EMPTY_GRACE_SECONDS``); top-level fields drop the section
(``CARERTC_DATA_DIR``). ``DATABASE_URL`` and ``REDIS_URL`` are read as well
(``CARERTC_DATABASE_URL`` / ``CARERTC_REDIS_URL`` win if both are set). An
empty variable counts as unset. A relative ``data_dir`` is relative to the
working directory.

A bad value raises :class:`ConfigError`, whose message starts with the name
of the variable to fix.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import logging
import os
import secrets
import stat
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

ENV_PREFIX = "CARERTC_"
JWT_SECRET_FILE = "jwt_secret"
MIN_JWT_SECRET_LENGTH = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting has a bad value; ``variable`` names the environment variable."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable
        self.message = message


def env_name(section: str | None, name: str) -> str:
    """The environment variable that sets ``section.name``."""
    parts = [section, name] if section else [name]
    return ENV_PREFIX + "_".join(p.upper() for p in parts)


@dataclass(frozen=True)
class ServerSettings:
    """Where the HTTP/Socket.IO server listens and how it is reached."""

    host: str = "0.0.0.0"
    port: int = 8080
    public_url: str | None = None
    # HTTPS: browsers give camera and microphone only to https:// pages (or
    # localhost). With `https` and no cert/key, a self-signed certificate is
    # generated under data_dir/tls/ for localhost and this machine's LAN address.
    https: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host.strip():
            raise ConfigError(env_name("server", "host"), "must be a non-empty host name")
        _check_int(self.port, env_name("server", "port"), 0, 65535)
        if (self.tls_cert is None) != (self.tls_key is None):
            missing = "tls_key" if self.tls_key is None else "tls_cert"
            raise ConfigError(
                env_name("server", missing), "tls_cert and tls_key must be given together"
            )
        for name in ("tls_cert", "tls_key"):
            value = getattr(self, name)
            if value is not None and not Path(value).is_file():
                raise ConfigError(env_name("server", name), f"no such file: {value}")
        if self.public_url is not None:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(
                    env_name("server", "public_url"),
                    f"must be an http:// or https:// URL, got {self.public_url!r}",
                )


@dataclass(frozen=True)
class AuthSettings:
    """JWT signing and the optional first-run admin account."""

    jwt_secret: str
    issuer: str = "carertc"
    audience: str = "carertc"
    token_ttl_seconds: int = 43200
    admin_name: str | None = None
    admin_password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.jwt_secret, str) or len(self.jwt_secret) < MIN_JWT_SECRET_LENGTH:
            raise ConfigError(
                env_name("auth", "jwt_secret"),
                f"must be at least {MIN_JWT_SECRET_LENGTH} characters "
                "(leave it unset to have one generated and kept in the data directory)",
            )
        for name in ("issuer", "audience"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigError(env_name("auth", name), "must be a non-empty string")
        _check_int(self.token_ttl_seconds, env_name("auth", "token_ttl_seconds"), 1, 366 * 86400)
        if (self.admin_name is None) != (self.admin_password is None):
            missing = "admin_password" if self.admin_password is None else "admin_name"
            raise ConfigError(
                env_name("auth", missing),
                "admin_name and admin_password must be given together",
            )
        if self.admin_name is not None and not self.admin_name:
            raise ConfigError(env_name("auth", "admin_name"), "must not be empty")
        if self.admin_password is not None and not self.admin_password:
            raise ConfigError(env_name("auth", "admin_password"), "must not be empty")

    def __repr__(self) -> str:  # never print the secret
        return (
            f"AuthSettings(jwt_secret='***', issuer={self.issuer!r}, audience={self.audience!r}, "
            f"token_ttl_seconds={self.token_ttl_seconds}, admin_name={self.admin_name!r})"
        )


@dataclass(frozen=True)
class RoomsSettings:
    """Room lifecycle limits."""

    empty_grace_seconds: float = 30.0
    max_participants: int = 16

    def __post_init__(self) -> None:
        var = env_name("rooms", "empty_grace_seconds")
        if isinstance(self.empty_grace_seconds, bool) or not isinstance(
            self.empty_grace_seconds, (int, float)
        ):
            raise ConfigError(var, f"must be a number, got {self.empty_grace_seconds!r}")
        if not 0 <= self.empty_grace_seconds <= 86400:
            raise ConfigError(var, f"must be between 0 and 86400, got {self.empty_grace_seconds}")
        _check_int(self.max_participants, env_name("rooms", "max_participants"), 1, 1000)


@dataclass(frozen=True)
class MediaSettings:
    """Media plane settings (ICE servers handed to clients and to aiortc)."""

    ice_servers: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        var = env_name("media", "ice_servers")
        if not isinstance(self.ice_servers, list):
            raise ConfigError(var, "must be a JSON list of RTCIceServer objects")
        for i, server in enumerate(self.ice_servers):
            if not isinstance(server, dict):
                raise ConfigError(var, f"item {i} must be an object with 'urls'")
            urls = server.get("urls")
            url_list = [urls] if isinstance(urls, str) else urls
            if (
                not isinstance(url_list, list)
                or not url_list
                or not all(
                    isinstance(u, str) and u.split(":", 1)[0] in ("stun", "stuns", "turn", "turns")
                    for u in url_list
                )
            ):
                raise ConfigError(
                    var, f"item {i}: 'urls' must be a stun:/turn: URL or a list of them"
                )
            for key in ("username", "credential"):
                if key in server and not isinstance(server[key], str):
                    raise ConfigError(var, f"item {i}: {key!r} must be a string")

    def __repr__(self) -> str:  # never print TURN credentials
        return f"MediaSettings(ice_servers={[redact_ice(s) for s in self.ice_servers]!r})"


@dataclass(frozen=True)
class LogSettings:
    """Logging: level and one-JSON-object-per-line output."""

    level: str = "INFO"
    json: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.level, str) or self.level.upper() not in LOG_LEVELS:
            raise ConfigError(
                env_name("log", "level"),
                f"must be one of {', '.join(LOG_LEVELS)}, got {self.level!r}",
            )
        object.__setattr__(self, "level", self.level.upper())
        if not isinstance(self.json, bool):
            raise ConfigError(env_name("log", "json"), "must be true or false")


@dataclass(frozen=True)
class ImSettings:
    """Messaging: recall window, text and upload limits, retention per conversation type."""

    recall_window_seconds: int = 120
    max_text_length: int = 4000
    retention_days_direct: int = 0
    retention_days_group: int = 0
    retention_days_room: int = 0
    max_image_bytes: int = 20 * 1024 * 1024
    max_file_bytes: int = 100 * 1024 * 1024
    max_audio_bytes: int = 50 * 1024 * 1024
    max_video_bytes: int = 500 * 1024 * 1024
    max_image_pixels: int = 40_000_000

    def __post_init__(self) -> None:
        _check_int(
            self.recall_window_seconds, env_name("im", "recall_window_seconds"), 0, 86400 * 365
        )
        _check_int(self.max_text_length, env_name("im", "max_text_length"), 1, 1_000_000)
        for name in ("retention_days_direct", "retention_days_group", "retention_days_room"):
            _check_int(getattr(self, name), env_name("im", name), 0, 36500)
        for name in ("max_image_bytes", "max_file_bytes", "max_audio_bytes", "max_video_bytes"):
            _check_int(getattr(self, name), env_name("im", name), 1, 1 << 40)
        _check_int(self.max_image_pixels, env_name("im", "max_image_pixels"), 1, 1 << 34)


@dataclass(frozen=True)
class SosSettings:
    """One-tap SOS: ring timeout per escalation step, webhook delivery, kiosk tokens."""

    ring_timeout_seconds: float = 30.0
    webhook_retries: int = 3
    webhook_backoff_seconds: float = 1.0
    webhook_timeout_seconds: float = 5.0
    kiosk_token_ttl_days: int = 365

    def __post_init__(self) -> None:
        for name, hi in (
            ("ring_timeout_seconds", 3600.0),
            ("webhook_backoff_seconds", 3600.0),
            ("webhook_timeout_seconds", 300.0),
        ):
            value = getattr(self, name)
            var = env_name("sos", name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(var, f"must be a number, got {value!r}")
            if not 0 < value <= hi:
                raise ConfigError(var, f"must be above 0 and at most {hi:g}, got {value}")
        _check_int(self.webhook_retries, env_name("sos", "webhook_retries"), 0, 20)
        _check_int(self.kiosk_token_ttl_days, env_name("sos", "kiosk_token_ttl_days"), 1, 3650)


RECORDING_KEY_FILE = "recording_key"
LAYOUTS = ("grid", "speaker", "pip")
COMPOSITE_CODECS = ("vp8", "h264")


@dataclass(frozen=True)
class RecordingSettings:
    """Recording: the key for encryption at rest, retention, and the composite's format."""

    key: str = ""  # 32 bytes, base64 (standard or url-safe); generated into data_dir if unset
    dir: Path | None = None  # default <data_dir>/recordings
    retention_days: int = 180  # 0 keeps recordings forever
    composite_width: int = 1280
    composite_height: int = 720
    composite_fps: int = 25
    composite_codec: str = "vp8"
    default_layout: str = "grid"

    def __post_init__(self) -> None:
        key_bytes(self.key, env_name("recording", "key"))
        _check_int(self.retention_days, env_name("recording", "retention_days"), 0, 36500)
        for name, lo, hi in (("composite_width", 160, 3840), ("composite_height", 120, 2160),
                             ("composite_fps", 1, 60)):
            _check_int(getattr(self, name), env_name("recording", name), lo, hi)
            if name != "composite_fps" and getattr(self, name) % 2:
                raise ConfigError(env_name("recording", name), "must be even")
        if self.composite_codec not in COMPOSITE_CODECS:
            raise ConfigError(env_name("recording", "composite_codec"),
                              f"must be one of {', '.join(COMPOSITE_CODECS)}")
        if self.default_layout not in LAYOUTS:
            raise ConfigError(env_name("recording", "default_layout"),
                              f"must be one of {', '.join(LAYOUTS)}")

    def __repr__(self) -> str:  # never print the key
        return f"RecordingSettings(key='***', retention_days={self.retention_days})"

    @property
    def key_bytes(self) -> bytes:
        """The 32-byte AES-256-GCM key."""
        return key_bytes(self.key, env_name("recording", "key"))


def key_bytes(value: str, var: str) -> bytes:
    """Decode a base64 (standard or url-safe) 32-byte key; '' is allowed (not yet loaded)."""
    if value == "":
        return b""
    text = value.strip()
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4),
                               validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(var, "must be base64") from None
    if len(raw) != 32:
        raise ConfigError(var, f"must decode to 32 bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True)
class Settings:
    """The whole configuration tree."""

    auth: AuthSettings
    server: ServerSettings = field(default_factory=ServerSettings)
    data_dir: Path = Path("./data")
    database_url: str | None = None
    redis_url: str | None = None
    rooms: RoomsSettings = field(default_factory=RoomsSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    log: LogSettings = field(default_factory=LogSettings)
    im: ImSettings = field(default_factory=ImSettings)
    sos: SosSettings = field(default_factory=SosSettings)
    recording: RecordingSettings = field(default_factory=RecordingSettings)

    def __post_init__(self) -> None:
        data_dir = Path(self.data_dir).expanduser()
        object.__setattr__(self, "data_dir", data_dir)
        url = self.database_url or default_database_url(data_dir)
        object.__setattr__(self, "database_url", normalise_database_url(url))
        if self.redis_url is not None:
            scheme = urlsplit(self.redis_url).scheme
            if scheme not in ("redis", "rediss", "unix"):
                raise ConfigError(
                    "REDIS_URL", f"must be a redis:// or rediss:// URL, got scheme {scheme!r}"
                )

    def __repr__(self) -> str:  # never print secrets or database passwords
        return f"Settings({self.redacted()!r})"

    @property
    def db_url(self) -> str:
        """The normalised async SQLAlchemy URL (never None after construction)."""
        assert self.database_url is not None
        return self.database_url

    def redacted(self) -> dict[str, Any]:
        """A loggable view of the settings: secrets and passwords removed."""
        return {
            "server": dataclasses.asdict(self.server),
            "data_dir": str(self.data_dir),
            "database_url": redact_url(self.db_url),
            "redis_url": redact_url(self.redis_url) if self.redis_url else None,
            "auth": {
                "issuer": self.auth.issuer,
                "audience": self.auth.audience,
                "token_ttl_seconds": self.auth.token_ttl_seconds,
                "admin_name": self.auth.admin_name,
            },
            "rooms": dataclasses.asdict(self.rooms),
            "media": {"ice_servers": [redact_ice(s) for s in self.media.ice_servers]},
            "log": dataclasses.asdict(self.log),
            "im": dataclasses.asdict(self.im),
            "recording": {k: (str(v) if isinstance(v, Path) else v)
                          for k, v in dataclasses.asdict(self.recording).items() if k != "key"},
            "sos": dataclasses.asdict(self.sos),
        }


def default_database_url(data_dir: Path) -> str:
    """SQLite under the data directory."""
    return f"sqlite+aiosqlite:///{(data_dir / 'carertc.db').as_posix()}"


def normalise_database_url(url: str) -> str:
    """Turn postgres://, postgresql:// and sqlite:// into their async-driver URLs."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError("DATABASE_URL", "must be a URL such as postgresql://user@host/db")
    scheme, rest = url.split("://", 1)
    mapping = {
        "postgres": "postgresql+asyncpg",
        "postgresql": "postgresql+asyncpg",
        "postgresql+asyncpg": "postgresql+asyncpg",
        "sqlite": "sqlite+aiosqlite",
        "sqlite+aiosqlite": "sqlite+aiosqlite",
    }
    if scheme.lower() not in mapping:
        raise ConfigError(
            "DATABASE_URL",
            f"unsupported scheme {scheme!r}: use postgresql:// (asyncpg) or sqlite:// (aiosqlite)",
        )
    return f"{mapping[scheme.lower()]}://{rest}"


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def redact_ice(server: dict[str, Any]) -> dict[str, Any]:
    """An ICE server entry without its credential."""
    return {k: ("***" if k == "credential" else v) for k, v in server.items()}


# ---------------------------------------------------------------- loading

_SECTIONS: dict[str, type] = {
    "server": ServerSettings,
    "auth": AuthSettings,
    "rooms": RoomsSettings,
    "media": MediaSettings,
    "log": LogSettings,
    "im": ImSettings,
    "sos": SosSettings,
    "recording": RecordingSettings,
}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from defaults and environment variables.

    If no JWT secret is configured, one is generated on first use and kept in
    ``<data_dir>/jwt_secret`` (mode 0600) so tokens survive restarts.
    """
    if env is None:
        env = os.environ
    data_dir = Path(env.get(env_name(None, "data_dir")) or "./data").expanduser()
    sections: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        kwargs: dict[str, Any] = {}
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            var = env_name(section, f.name)
            raw = env.get(var)
            if raw is None or raw == "":  # an empty variable counts as unset
                continue
            kwargs[f.name] = _parse(raw, hints[f.name], var)
        if section == "auth" and "jwt_secret" not in kwargs:
            kwargs["jwt_secret"] = load_or_create_jwt_secret(data_dir)
        if section == "recording" and "key" not in kwargs:
            kwargs["key"] = load_or_create_recording_key(data_dir)
        sections[section] = cls(**kwargs)
    database_url = env.get("CARERTC_DATABASE_URL") or env.get("DATABASE_URL") or None
    redis_url = env.get("CARERTC_REDIS_URL") or env.get("REDIS_URL") or None
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        **sections,
    )


def load_or_create_jwt_secret(data_dir: Path) -> str:
    """Read ``data_dir/jwt_secret``, creating it (0600, atomically) if missing."""
    path = data_dir / JWT_SECRET_FILE
    var = env_name("auth", "jwt_secret")
    try:
        return _read_secret(path, var)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(
            var, f"not set and {path} cannot be read ({exc.strerror or exc})"
        ) from exc
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".{JWT_SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48) + "\n")
            try:
                os.link(tmp, path)  # atomic; loses cleanly to a concurrent creator
                log.info("jwt_secret_generated", extra={"path": str(path)})
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
        return _read_secret(path, var)
    except OSError as exc:
        raise ConfigError(
            var, f"not set and {path} could not be created ({exc.strerror or exc})"
        ) from exc


def load_or_create_recording_key(data_dir: Path) -> str:
    """Read ``data_dir/recording_key`` (base64 of 32 bytes), creating it (0600) if missing."""
    path = data_dir / RECORDING_KEY_FILE
    var = env_name("recording", "key")
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(var, f"not set and {path} cannot be read ({exc.strerror or exc})") from exc
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".{RECORDING_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
            try:
                os.link(tmp, path)  # atomic; loses cleanly to a concurrent creator
                log.info("recording_key_generated", extra={"path": str(path)})
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(var, f"not set and {path} could not be created ({exc.strerror or exc})"
                          ) from exc


def _read_secret(path: Path, var: str) -> str:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "jwt_secret_file_permissive", extra={"path": str(path), "mode": oct(mode & 0o777)}
        )
    secret = path.read_text().strip()
    if len(secret) < MIN_JWT_SECRET_LENGTH:
        raise ConfigError(
            var, f"{path} holds a secret shorter than {MIN_JWT_SECRET_LENGTH} characters"
        )
    return secret


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse(raw: str, hint: Any, var: str) -> Any:
    """Parse one environment value into the field's type."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    if hint is bool:
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ConfigError(var, f"must be true or false, got {raw!r}")
    if hint is int:
        try:
            return int(raw.strip())
        except ValueError:
            raise ConfigError(var, f"must be an integer, got {raw!r}") from None
    if hint is float:
        try:
            return float(raw.strip())
        except ValueError:
            raise ConfigError(var, f"must be a number, got {raw!r}") from None
    if hint is str:
        return raw
    if hint is Path:
        return Path(raw)
    if origin in (list, dict):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(var, f"must be JSON ({exc.msg} at position {exc.pos})") from None
        if not isinstance(value, origin):
            raise ConfigError(var, f"must be a JSON {'list' if origin is list else 'object'}")
        return value
    raise ConfigError(var, f"cannot parse values of type {hint!r}")  # pragma: no cover


def _check_int(value: Any, var: str, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(var, f"must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(var, f"must be between {lo} and {hi}, got {value}")
