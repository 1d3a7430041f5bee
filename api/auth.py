"""Auth routes: ``POST /api/v1/auth/login``, ``POST /api/v1/auth/switch`` and ``GET /api/v1/me``.

A token acts for one organisation (``org`` claim = organisation id, ``role``
claim = the role there). Signing in picks the first membership; a global admin
(``users.role == "admin"``) keeps the role ``admin`` in every organisation.
Without any membership the token carries the account's own role and
organisation label, as before organisations existed.
"""

from __future__ import annotations

import logging
import time
from collections import deque

from aiohttp import web

from accounts.errors import AuthError
from accounts.flow_errors import FlowError
from accounts.models import User
from accounts.orgs import Membership, OrgActor, OrgService, check_id, org_public
from accounts.principal import Principal
from accounts.service import UserService
from accounts.tokens import Claims, TokenService
from api.errors import ApiError, read_json_object, require_str

log = logging.getLogger(__name__)

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
    """Login, switching organisation and "who am I"."""

    def __init__(
        self,
        tokens: TokenService,
        users: UserService,
        token_ttl_seconds: int,
        orgs: OrgService | None = None,
    ) -> None:
        self.tokens = tokens
        self.users = users
        self.token_ttl_seconds = token_ttl_seconds
        self.orgs = orgs
        self.throttle = LoginThrottle()

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        app.router.add_post("/api/v1/auth/login", self.login)
        app.router.add_post("/api/v1/auth/switch", self.switch)
        app.router.add_get("/api/v1/me", self.me)

    async def authenticate(self, request: web.Request) -> tuple[Claims, User]:
        """Verify the bearer token and that its user still exists and is active; raise AuthError."""
        claims = self.tokens.verify(bearer_token(request))
        user = await self.users.get(claims.sub)
        if user is None or user.disabled:
            raise AuthError("user_disabled")
        return claims, user

    async def principal(self, request: web.Request) -> Principal:
        """The verified caller as the token describes it (role in the token's org)."""
        claims, user = await self.authenticate(request)
        return Principal(user.id, user.display_name, claims.role, claims.org, claims.room)

    async def org_actor(self, request: web.Request) -> OrgActor:
        """The verified caller with its current role in the token's org (admin API)."""
        claims, user = await self.authenticate(request)
        return await self._orgs().actor(user, claims.org, claims.room)

    def _orgs(self) -> OrgService:
        if self.orgs is None:
            raise RuntimeError("AuthRoutes was built without an OrgService")
        return self.orgs

    async def _memberships(self, user: User) -> list[Membership]:
        return await self.orgs.memberships(user.id) if self.orgs is not None else []

    async def _acting(self, user: User, memberships: list[Membership]) -> tuple[str | None, str]:
        """The ``(org, role)`` a fresh sign-in acts with."""
        if memberships:
            first = memberships[0]
            return first.org_id, "admin" if user.role == "admin" else first.role
        org = user.organisation
        if org is not None and self.orgs is not None:
            try:  # a label naming a real organisation grants nothing without a membership
                await self.orgs.get(org)
                org = None
            except FlowError:
                pass
        return org, user.role

    def _issue(self, user: User, org: str | None, role: str) -> str:
        return self.tokens.issue(
            user_id=user.id,
            name=user.display_name,
            role=role,
            org=org,
            ttl_seconds=self.token_ttl_seconds,
        )

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
        memberships = await self._memberships(user)
        org, role = await self._acting(user, memberships)
        log.info("login", extra={"user_id": user.id, "org_id": org, "role": role})
        return web.json_response(
            {
                "token": self._issue(user, org, role),
                "user": user.public(),
                "org": org,
                "role": role,
                "global_admin": user.role == "admin",
                "memberships": [m.public() for m in memberships],
            }
        )

    async def switch(self, request: web.Request) -> web.Response:
        """``{org_id}`` -> ``{token, org, role}``: a token acting for another of the user's orgs."""
        claims, user = await self.authenticate(request)
        body = await read_json_object(request)
        orgs = self._orgs()
        org = await orgs.get(check_id(body.get("org_id"), "org_id"))
        if claims.room is not None:
            raise FlowError("permission_denied", "a room-bound token cannot switch organisation")
        if user.role == "admin":
            role = "admin"
        else:
            member = await orgs.membership(org.id, user.id)
            if member is None:
                raise FlowError(
                    "permission_denied", "the account is not a member of that organisation"
                )
            role = member.role
        log.info("org_switched", extra={"user_id": user.id, "org_id": org.id, "role": role})
        return web.json_response(
            {
                "token": self._issue(user, org.id, role),
                "user": user.public(),
                "org": org.id,
                "organisation": org_public(org),
                "role": role,
            }
        )

    async def me(self, request: web.Request) -> web.Response:
        """The signed-in user, what the token grants and the user's memberships."""
        claims, user = await self.authenticate(request)
        memberships = await self._memberships(user)
        return web.json_response(
            {
                "user": user.public(),
                "session": {
                    "room": claims.room,
                    "expires_at": claims.exp,
                    "org": claims.org,
                    "role": claims.role,
                },
                "global_admin": user.role == "admin",
                "memberships": [m.public() for m in memberships],
            }
        )
