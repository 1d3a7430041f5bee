"""The HTTP API against the full app from the `server` fixture."""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import TYPE_CHECKING

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api.auth import LOGIN_FAILURES_ALLOWED
from carertc.app import CLIENT_MAX_SIZE, ROOMS, SETTINGS, TOKENS, USERS
from carertc.config import Settings
from carertc.logs import JsonFormatter
from db.engine import create_engine

if TYPE_CHECKING:
    from tests.conftest import RunningServer


@pytest.fixture
async def http() -> aiohttp.ClientSession:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_login_returns_a_token_that_verifies_and_the_public_user(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    user = await server.user(
        "dr.li", "doctor", "s3cret", display_name="Dr Li", organisation="ward-7"
    )
    async with http.post(
        f"{server.url}/api/v1/auth/login", json={"name": "dr.li", "password": "s3cret"}
    ) as r:
        assert r.status == 200
        body = await r.json()
    assert body["user"] == {
        "id": user.id,
        "name": "dr.li",
        "display_name": "Dr Li",
        "role": "doctor",
        "organisation": "ward-7",
    }
    claims = server.tokens.verify(body["token"])
    assert (claims.sub, claims.name, claims.role, claims.org, claims.room) == (
        user.id,
        "Dr Li",
        "doctor",
        "ward-7",
        None,
    )
    assert claims.exp - claims.iat == server.settings.auth.token_ttl_seconds
    assert "password_hash" not in str(body)


@pytest.mark.parametrize(
    ("name", "password"), [("dr.li", "wrong"), ("nobody", "s3cret"), ("DR.LI", "s3cret")]
)
async def test_login_with_bad_credentials_is_401_bad_credentials(
    server: RunningServer, http: aiohttp.ClientSession, name: str, password: str
) -> None:
    await server.user("dr.li", "doctor", "s3cret")
    async with http.post(
        f"{server.url}/api/v1/auth/login", json={"name": name, "password": password}
    ) as r:
        assert r.status == 401
        assert (await r.json())["error"]["code"] == "bad_credentials"


async def test_login_of_disabled_user_is_403_user_disabled(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    user = await server.user("old", "staff", "pw")
    await server.users.set_disabled(user.id)
    async with http.post(
        f"{server.url}/api/v1/auth/login", json={"name": "old", "password": "pw"}
    ) as r:
        assert r.status == 403
        assert (await r.json())["error"]["code"] == "user_disabled"


@pytest.mark.parametrize(
    "data",
    [
        b"{not json",
        b"[1, 2]",
        b'"a string"',
        b"{}",
        b'{"name": "x"}',
        b'{"name": 5, "password": "pw"}',
        b'{"name": "x", "password": ["pw"]}',
        b"\xff\xfe",
    ],
)
async def test_malformed_login_bodies_are_400_bad_request(
    server: RunningServer, http: aiohttp.ClientSession, data: bytes
) -> None:
    headers = {"Content-Type": "application/json"}
    async with http.post(f"{server.url}/api/v1/auth/login", data=data, headers=headers) as r:
        assert r.status == 400
        body = await r.json()
    assert body["error"]["code"] == "bad_request" and body["error"]["message"]


async def test_oversized_body_is_413_payload_too_large(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    data = b'{"name": "' + b"x" * (CLIENT_MAX_SIZE + 10) + b'"}'
    async with http.post(f"{server.url}/api/v1/auth/login", data=data) as r:
        assert r.status == 413
        assert (await r.json())["error"]["code"] == "payload_too_large"


async def test_repeated_failed_logins_are_throttled_with_429(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    await server.user("target", "doctor", "right")
    url = f"{server.url}/api/v1/auth/login"
    for _ in range(LOGIN_FAILURES_ALLOWED):
        async with http.post(url, json={"name": "target", "password": "guess"}) as r:
            assert r.status == 401
    async with http.post(url, json={"name": "target", "password": "right"}) as r:
        assert r.status == 429
        assert (await r.json())["error"]["code"] == "too_many_requests"
        assert int(r.headers["Retry-After"]) > 0


async def test_logs_never_contain_passwords_or_tokens(
    server: RunningServer, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    await server.user("dr.li", "doctor", "very-secret-pw")
    caplog.set_level(logging.DEBUG)
    async with http.post(
        f"{server.url}/api/v1/auth/login", json={"name": "dr.li", "password": "very-secret-pw"}
    ) as r:
        token = (await r.json())["token"]
    async with http.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}):
        pass
    async with http.post(
        f"{server.url}/api/v1/auth/login", json={"name": "dr.li", "password": "wrong-pw-123"}
    ):
        pass
    formatter = JsonFormatter()
    lines = [formatter.format(rec) for rec in caplog.records]
    assert any('"login_failed"' in line for line in lines)
    for line in lines:
        for secret in ("very-secret-pw", "wrong-pw-123", token, token.split(".")[2]):
            assert secret not in line


async def test_me_returns_the_user_behind_the_bearer_token(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    user = await server.user("nina", "nurse")
    token = server.token(user, room="ward-7")
    async with http.get(
        f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    ) as r:
        assert r.status == 200
        body = await r.json()
    assert body["user"]["id"] == user.id and body["user"]["role"] == "nurse"
    assert body["session"]["room"] == "ward-7"
    assert body["session"]["expires_at"] == server.tokens.verify(token).exp


async def test_me_errors_have_stable_codes_and_statuses(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    user = await server.user("nina", "nurse")
    cases = [
        ({}, 401, "token_missing"),
        ({"Authorization": "Basic bmluYTpwdw=="}, 401, "token_missing"),
        ({"Authorization": "Bearer not.a.jwt"}, 401, "token_invalid"),
        ({"Authorization": f"Bearer {server.token(user, ttl=-10)}"}, 401, "token_expired"),
    ]
    for headers, status, code in cases:
        async with http.get(f"{server.url}/api/v1/me", headers=headers) as r:
            assert (r.status, (await r.json())["error"]["code"]) == (status, code), headers
            if status == 401:
                assert r.headers["WWW-Authenticate"] == "Bearer"
    token = server.token(user)
    await server.users.set_disabled(user.id)
    async with http.get(
        f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    ) as r:
        assert r.status == 403
        assert (await r.json())["error"]["code"] == "user_disabled"


async def test_unknown_api_path_and_wrong_method_answer_json(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/api/v1/nothing-here") as r:
        assert r.status == 404
        assert (await r.json())["error"]["code"] == "not_found"
    async with http.get(f"{server.url}/api/v1/auth/login") as r:
        assert r.status == 405
        assert (await r.json())["error"]["code"] == "method_not_allowed"
        assert "POST" in r.headers["Allow"]


async def test_unhandled_exception_is_500_internal_error_without_details(
    server: RunningServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(name: str, password: str) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(server.users, "authenticate", broken)
    async with http.post(
        f"{server.url}/api/v1/auth/login", json={"name": "a", "password": "b"}
    ) as r:
        assert r.status == 500
        text = await r.text()
    assert '"internal_error"' in text and "hunter2" not in text and "RuntimeError" not in text


async def test_health_and_ready(server: RunningServer, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{server.url}/health") as r:
        assert (r.status, await r.json()) == (200, {"status": "ok"})
    async with http.get(f"{server.url}/ready") as r:
        assert (r.status, await r.json()) == (200, {"status": "ready"})


async def test_ready_is_503_when_the_database_is_gone(
    settings: Settings, pg_url: str, server_factory, http: aiohttp.ClientSession
) -> None:
    srv = await server_factory(dataclasses.replace(settings, database_url=pg_url))
    async with http.get(f"{srv.url}/ready") as r:
        assert r.status == 200
    admin = create_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            name = make_url(pg_url).database
            await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
    async with http.get(f"{srv.url}/ready") as r:
        assert r.status == 503
        assert (await r.json())["error"]["code"] == "db_unavailable"
    async with http.get(f"{srv.url}/health") as r:
        assert r.status == 200


async def test_metrics_expose_prometheus_text(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await r.text()
    values = dict(re.findall(r"^([a-z_]+) ([0-9.e+-]+)$", text, re.MULTILINE))
    for name in (
        "carertc_up",
        "carertc_rooms",
        "carertc_participants",
        "carertc_forwarded_packets_total",
        "carertc_forwarded_bytes_total",
        "carertc_keyframe_requests_total",
        "carertc_nacks_total",
    ):
        assert name in values, name
        assert f"# TYPE {name} " in text
    assert values["carertc_up"] == "1"
    stats = (
        server.app[ROOMS].stats()
        if server.app[ROOMS] is not None
        else {"rooms": 0, "participants": 0}
    )
    assert int(values["carertc_rooms"]) == stats["rooms"]
    assert int(values["carertc_participants"]) == stats["participants"]


async def test_app_keys_hold_the_services(server: RunningServer) -> None:
    assert server.app[SETTINGS] is server.settings
    assert server.app[TOKENS] is server.tokens and server.app[USERS] is server.users
