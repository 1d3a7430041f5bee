"""HTTP API: thin aiohttp routes (validate, authorise, call a service, answer).

:func:`setup_api` adds the routes and the JSON error middleware to an app.
Routes: ``POST /api/v1/auth/login``, ``POST /api/v1/auth/switch``, ``GET /api/v1/me``, ``GET /health``,
``GET /ready``, ``GET /metrics``. Errors are ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from accounts.orgs import OrgService
from accounts.service import UserService
from accounts.tokens import TokenService
from api.auth import AuthRoutes, bearer_token
from api.errors import ApiError, error_middleware, error_response, read_json_object
from api.health import OpsRoutes, RoomStats

__all__ = [
    "ApiError",
    "AuthRoutes",
    "OpsRoutes",
    "bearer_token",
    "error_middleware",
    "error_response",
    "read_json_object",
    "setup_api",
]


def setup_api(
    app: web.Application,
    *,
    tokens: TokenService,
    users: UserService,
    token_ttl_seconds: int,
    ready_check: Callable[[], Awaitable[bool]],
    rooms: RoomStats | None = None,
    media_totals: Callable[[], dict[str, Any]] | None = None,
    im_totals: Callable[[], dict[str, int]] | None = None,
    orgs: OrgService | None = None,
) -> AuthRoutes:
    """Register the API routes on ``app``; returns the auth routes (for ``authenticate``)."""
    auth = AuthRoutes(tokens, users, token_ttl_seconds, orgs)
    auth.register(app)
    OpsRoutes(ready_check, rooms, media_totals, im_totals).register(app)
    return auth
