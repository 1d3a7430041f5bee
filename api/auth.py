"""Auth routes: ``POST /api/v1/auth/login`` and ``GET /api/v1/me``."""

from __future__ import annotations

import time
from collections import deque

from aiohttp import web

from accounts.errors import AuthError
from accounts.models import User
from accounts.service import UserService
from accounts.tokens import Claims, TokenService
from api.errors import ApiError, read_json_object, require_str

# Failed logins allowed per client address (and per account name) per window.
LOGIN_FAILURES_ALLOWED = 10
LOGIN_WINDOW_SECONDS = 300.0


class LoginThrottle:
    """Counts recent failed logins per key; refuses once a key has too many."""

    def __init__(self, limit: int = LOGIN_FAILURES_ALLOWED, window: float = LOGIN_WINDOW_SECONDS):
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def retry_after(self, keys: list[str]) -> int:
        """Seconds to wait if any key is over the limit, else 0."""
        now = time.monotonic()
        wait = 0.0
        for key in keys:
            q = self._recent(key, now)
            if len(q) >= self.limit:
                wait = max(wait, q[0] + self.window - now)
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, keys: list[str]) -> None:
        """Record one failure for each key."""
        now = time.monotonic()
        if len(self._failures) > 100_000:  # bound memory under a spray of names
            self._failures.clear()
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, keys: list[str]) -> None:
        """Forget the failures of these keys."""
        for key in keys:
            self._failures.pop(key, None)


def bearer_token(request: web.Request) -> str | None:
    """The token from ``Authorization: Bearer <token>``, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


class AuthRoutes:
    """Login and "who am I"."""

    def __init__(self, tokens: TokenService, users: UserService, token_ttl_seconds: int) -> None:
        self.tokens = tokens
        self.users = users
        self.token_ttl_seconds = token_ttl_seconds
        self.throttle = LoginThrottle()

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        app.router.add_post("/api/v1/auth/login", self.login)
        app.router.add_get("/api/v1/me", self.me)

    async def authenticate(self, request: web.Request) -> tuple[Claims, User]:
        """Verify the bearer token and that its user still exists and is active; raise AuthError."""
        claims = self.tokens.verify(bearer_token(request))
        user = await self.users.get(claims.sub)
        if user is None or user.disabled:
            raise AuthError("user_disabled")
        return claims, user

    async def login(self, request: web.Request) -> web.Response:
        """``{name, password}`` → ``{token, user}``."""
        body = await read_json_object(request)
        name = require_str(body, "name", max_length=64)
        password = require_str(body, "password", max_length=1024)
        keys = [f"ip:{request.remote}", f"name:{name.lower()}"]
        retry = self.throttle.retry_after(keys)
        if retry:
            raise ApiError(
                429,
                "too_many_requests",
                "too many failed logins; try again later",
                {"Retry-After": str(retry)},
            )
        try:
            user = await self.users.authenticate(name, password)
        except AuthError as exc:
            if exc.code == "bad_credentials":
                self.throttle.failed(keys)
            raise
        self.throttle.succeeded(keys)
        token = self.tokens.issue(
            user_id=user.id,
            name=user.display_name,
            role=user.role,
            org=user.organisation,
            ttl_seconds=self.token_ttl_seconds,
        )
        return web.json_response({"token": token, "user": user.public()})

    async def me(self, request: web.Request) -> web.Response:
        """The signed-in user and what the token grants."""
        claims, user = await self.authenticate(request)
        return web.json_response(
            {"user": user.public(), "session": {"room": claims.room, "expires_at": claims.exp}}
        )
