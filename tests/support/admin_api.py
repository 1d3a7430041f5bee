"""HTTP helpers for the organisation and account admin tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningServer, make_settings

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


async def start_on(
    backend: str, tmp_path: Path, server_factory: Any, request: Any
) -> RunningServer:
    """The full app on SQLite or a fresh PostgreSQL database."""
    env = {"DATABASE_URL": request.getfixturevalue("pg_url")} if backend == "postgresql" else {}
    return await server_factory(make_settings(tmp_path / "data", **env))


class Api:
    """JSON requests against one server, as whoever's token is given."""

    def __init__(self, srv: RunningServer, http: aiohttp.ClientSession) -> None:
        self.srv = srv
        self.http = http

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        status: int = 200,
    ) -> Any:
        """One request; asserts the status; returns the JSON body (None for 204)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(
            method, self.srv.url + path, json=body, headers=headers
        ) as res:
            text = await res.text()
            assert res.status == status, (method, path, res.status, text)
            return None if res.status == 204 else await res.json()

    async def error(
        self, method: str, path: str, token: str | None, body: Any, status: int, code: str
    ) -> str:
        """A request that must fail with ``status`` and ``code``; returns the message."""
        out = await self.call(method, path, token, body, status=status)
        assert out["error"]["code"] == code, out
        return str(out["error"]["message"])

    async def login(self, name: str, password: str = "pw", status: int = 200) -> Any:
        """``POST /api/v1/auth/login``."""
        return await self.call(
            "POST", "/api/v1/auth/login", body={"name": name, "password": password}, status=status
        )

    async def token(self, name: str, password: str = "pw") -> str:
        """A token from signing in."""
        return str((await self.login(name, password))["token"])

    async def org(self, token: str, name: str, kind: str = "hospital") -> str:
        """Create an organisation; its id."""
        out = await self.call("POST", "/api/v1/orgs", token, {"name": name, "kind": kind}, 201)
        return str(out["id"])

    async def member(
        self, token: str, org_id: str, user_id: str, role: str, duty_desk: bool = False
    ) -> Any:
        """Add a member."""
        body = {"user_id": user_id, "role": role, "duty_desk": duty_desk}
        return await self.call("POST", f"/api/v1/orgs/{org_id}/members", token, body, 201)
