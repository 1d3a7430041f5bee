"""The `carertc` console script, run as a real subprocess with its data in tmp."""

from __future__ import annotations

import os
import re
import selectors
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from accounts.errors import AuthError
from accounts.tokens import TokenService
from carertc.cli import lan_address, listening_lines
from carertc.config import load_settings
from db import migrate

CARERTC = Path(sys.executable).parent / "carertc"


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CARERTC_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(
        CARERTC_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'data' / 'cli.db'}",
        CARERTC_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def run(
    env: dict[str, str], *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CARERTC), *args],
        check=False,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_user_add_then_token_prints_only_a_jwt_that_verifies(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    added = run(
        env,
        "user",
        "add",
        "dr.li",
        "--role",
        "doctor",
        "--password",
        "pw",
        "--display-name",
        "Dr Li",
        "--org",
        "ward-7",
    )
    assert added.returncode == 0, added.stderr
    assert "dr.li" in added.stdout and "pw" not in added.stderr

    out = run(env, "token", "--user", "dr.li", "--room", "consult-1", "--ttl", "120")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert out.stdout == token + "\n" and re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", token)

    settings = load_settings(env)  # same env -> same persisted secret and database
    claims = TokenService(
        settings.auth.jwt_secret, settings.auth.issuer, settings.auth.audience
    ).verify(token)
    assert (claims.name, claims.role, claims.org, claims.room) == (
        "Dr Li",
        "doctor",
        "ward-7",
        "consult-1",
    )
    assert claims.exp - claims.iat == 120
    assert (tmp_path / "data" / "cli.db").exists()
    assert token not in out.stderr


def test_token_from_another_data_dir_secret_does_not_verify(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert run(env, "user", "add", "nina", "--role", "nurse", "--password", "pw").returncode == 0
    token = run(env, "token", "--user", "nina").stdout.strip()
    other = load_settings(cli_env(tmp_path / "other"))
    with pytest.raises(AuthError) as err:
        TokenService(other.auth.jwt_secret, "carertc", "carertc").verify(token)
    assert err.value.code == "token_invalid"


def test_user_add_reads_the_password_from_stdin_when_not_given(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert run(env, "user", "add", "fam", "--role", "family", input="from-stdin\n").returncode == 0
    assert run(env, "user", "list").stdout.startswith("fam\tfamily\tactive\t")


def test_user_errors_exit_nonzero_with_a_message(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert run(env, "user", "add", "dup", "--role", "staff", "--password", "pw").returncode == 0
    again = run(env, "user", "add", "dup", "--role", "staff", "--password", "pw")
    assert again.returncode == 1 and "user_exists" in again.stderr
    bad_role = run(env, "user", "add", "x", "--role", "surgeon", "--password", "pw")
    assert bad_role.returncode == 2 and "surgeon" in bad_role.stderr
    missing = run(env, "token", "--user", "ghost")
    assert missing.returncode == 1 and "user_not_found" in missing.stderr and missing.stdout == ""
    bad_room = run(env, "token", "--user", "dup", "--room", "no spaces")
    assert bad_room.returncode == 2 and bad_room.stdout == ""


def test_disabled_user_gets_no_token(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert run(env, "user", "add", "gone", "--role", "guest", "--password", "pw").returncode == 0
    assert run(env, "user", "disable", "gone").returncode == 0
    out = run(env, "token", "--user", "gone")
    assert out.returncode == 1 and out.stdout == ""


def test_bad_configuration_exits_2_naming_the_variable(tmp_path: Path) -> None:
    out = run(cli_env(tmp_path, CARERTC_SERVER_PORT="eighty"), "migrate")
    assert out.returncode == 2 and "CARERTC_SERVER_PORT" in out.stderr


def test_concurrent_migrate_processes_on_postgres_all_succeed(tmp_path: Path, pg_url: str) -> None:
    env = cli_env(tmp_path, DATABASE_URL=pg_url)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: run(env, "migrate"), range(4)))
    for r in results:
        assert r.returncode == 0, r.stderr
        assert f"is at revision {migrate.head_revision()}" in r.stdout
    assert "postgres@" in results[0].stdout
    assert run(env, "user", "add", "pg", "--role", "admin", "--password", "pw").returncode == 0


def test_serve_prints_the_url_answers_health_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = cli_env(tmp_path, CARERTC_LOG_LEVEL="INFO")
    proc = start_serve(env)
    try:
        line = _read_line(proc, timeout=30)
        match = re.match(
            r"CareRTC listening on (http://127\.0\.0\.1:(\d+)/) — open it in a browser", line
        )
        assert match, line
        with urllib.request.urlopen(match.group(1) + "health", timeout=10) as r:
            assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        stderr = proc.stderr.read()  # type: ignore[union-attr]
        events = [e for e in re.findall(r'"event": "([a-z_]+)"', stderr)]
        assert "listening" in events and "app_stopped" in events
        assert all(l.startswith("{") for l in stderr.splitlines() if l.strip())  # JSON lines only
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_serve(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`carertc serve` on 127.0.0.1 and a free port, as a subprocess with piped output."""
    return subprocess.Popen(
        [str(CARERTC), "serve", "--host", "127.0.0.1", "--port", "0", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sel.select(timeout=0.2):
            line = proc.stdout.readline()
            if line:
                return line.rstrip("\n")
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {proc.stderr.read()}")  # type: ignore[union-attr]
    raise AssertionError("server printed nothing")


def test_listening_lines_show_localhost_and_the_lan_address_for_0_0_0_0(tmp_path: Path) -> None:
    settings = load_settings(cli_env(tmp_path, CARERTC_SERVER_PORT="8080"))
    lines = listening_lines(settings)
    assert lines[0] == "CareRTC listening on http://localhost:8080/ — open it in a browser"
    lan = lan_address()
    if lan is not None:  # a machine without a network interface has none to show
        assert f"  on your network: http://{lan}:8080/" in lines
    public = load_settings(cli_env(tmp_path, CARERTC_SERVER_PUBLIC_URL="https://care.example.org"))
    assert listening_lines(public)[0].startswith("CareRTC listening on https://care.example.org")


def test_no_command_prints_help_and_exits_2(tmp_path: Path) -> None:
    out = run(cli_env(tmp_path))
    assert out.returncode == 2 and "serve" in out.stderr and "token" in out.stderr


def test_serve_https_uses_a_self_signed_certificate_for_lan_cameras(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    proc = start_serve(env, "--https")
    try:
        line = _read_line(proc, timeout=30)
        match = re.match(r"CareRTC listening on (https://127\.0\.0\.1:(\d+)/)", line)
        assert match, line
        cert = tmp_path / "data" / "tls" / "self-signed.crt"
        assert (tmp_path / "data" / "tls" / "self-signed.key").stat().st_mode & 0o077 == 0
        ctx = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(match.group(1) + "health", timeout=10, context=ctx) as r:
            assert r.status == 200
        untrusted = ssl.create_default_context()
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(match.group(1) + "health", timeout=10, context=untrusted)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_tls_cert_without_key_is_a_config_error(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    out = run(cli_env(tmp_path, CARERTC_SERVER_TLS_CERT=str(cert)), "serve")
    assert out.returncode != 0
    assert "CARERTC_SERVER_TLS_KEY" in out.stderr
