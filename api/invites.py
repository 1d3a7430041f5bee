"""HTTP routes for meeting invite links, their QR codes, and guests joining by a link.

Hosts: ``POST/GET /api/v1/meetings/{id}/invites``,
``DELETE /api/v1/meetings/{id}/invites/{invite}`` (revoke),
``GET /api/v1/meetings/{id}/invites/{token}/qr.png|qr.svg``.
Guests (no account): ``GET /api/v1/invites/{token}``,
``POST /api/v1/invites/{token}/join {name}``.
"""

from __future__ import annotations

from aiohttp import web

from api.auth import AuthRoutes, LoginThrottle
from api.errors import ApiError, read_json_object
from api.meetings import principal_of
from rooms.meetings.invites import InviteService, join_link

# Guest joins allowed per client address per window (each one makes a guest account).
JOINS_PER_WINDOW = 30
JOIN_WINDOW_SECONDS = 600.0


class InviteRoutes:
    """Invite links for hosts, and the public join for guests."""

    def __init__(
        self, auth: AuthRoutes, invites: InviteService, public_url: str | None = None
    ) -> None:
        self.auth = auth
        self.invites = invites
        self.public_url = public_url
        self.throttle = LoginThrottle(JOINS_PER_WINDOW, JOIN_WINDOW_SECONDS)

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        r = app.router
        r.add_post("/api/v1/meetings/{mid}/invites", self.create)
        r.add_get("/api/v1/meetings/{mid}/invites", self.list)
        r.add_delete("/api/v1/meetings/{mid}/invites/{invite}", self.revoke)
        r.add_post("/api/v1/meetings/{mid}/invites/{invite}/revoke", self.revoke)
        r.add_get("/api/v1/meetings/{mid}/invites/{invite}/qr.png", self.qr_png)
        r.add_get("/api/v1/meetings/{mid}/invites/{invite}/qr.svg", self.qr_svg)
        r.add_get("/api/v1/invites/{token}", self.describe)
        r.add_post("/api/v1/invites/{token}/join", self.join)

    def base_url(self, request: web.Request) -> str:
        """Where guests reach this server: the configured public URL, else the request's origin."""
        return (self.public_url or str(request.url.origin())).rstrip("/")

    async def create(self, request: web.Request) -> web.Response:
        """``{expires_in_seconds?|expires_at?, max_uses?}`` -> the link, its token and URL."""
        principal = await principal_of(self.auth, request)
        body = await read_json_object(request)
        mid = request.match_info["mid"]
        invite, token = await self.invites.create(principal, mid, body)
        qr = f"/api/v1/meetings/{mid}/invites/{token}/qr"
        return web.json_response(
            {
                "invite": invite,
                "token": token,
                "url": join_link(self.base_url(request), token),
                "qr_png": qr + ".png",
                "qr_svg": qr + ".svg",
            },
            status=201,
        )

    async def list(self, request: web.Request) -> web.Response:
        """The meeting's links (tokens are never shown again)."""
        principal = await principal_of(self.auth, request)
        invites = await self.invites.list(principal, request.match_info["mid"])
        return web.json_response({"invites": invites})

    async def revoke(self, request: web.Request) -> web.Response:
        """Revoke a link (by its id or token)."""
        principal = await principal_of(self.auth, request)
        invite = await self.invites.revoke(
            principal, request.match_info["mid"], request.match_info["invite"]
        )
        return web.json_response(invite)

    async def _qr(self, request: web.Request, kind: str) -> web.Response:
        principal = await principal_of(self.auth, request)
        body = await self.invites.qr(
            principal,
            request.match_info["mid"],
            request.match_info["invite"],
            self.base_url(request),
            kind,
        )
        return web.Response(
            body=body,
            content_type="image/png" if kind == "png" else "image/svg+xml",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    async def qr_png(self, request: web.Request) -> web.Response:
        """The link as a PNG QR code."""
        return await self._qr(request, "png")

    async def qr_svg(self, request: web.Request) -> web.Response:
        """The link as an SVG QR code."""
        return await self._qr(request, "svg")

    async def describe(self, request: web.Request) -> web.Response:
        """What a guest sees before joining (404 ``invite_not_found``, 410 ``invite_invalid``)."""
        return web.json_response(await self.invites.describe(request.match_info["token"]))

    async def join(self, request: web.Request) -> web.Response:
        """``{name}`` -> a guest token for the meeting's room (410 ``invite_invalid``)."""
        key = [f"ip:{request.remote}"]
        retry = self.throttle.retry_after(key)
        if retry:
            raise ApiError(
                429,
                "too_many_requests",
                "too many joins from here; try again later",
                {"Retry-After": str(retry)},
            )
        body = await read_json_object(request)
        self.throttle.failed(key)  # counts every attempt
        result = await self.invites.join(request.match_info["token"], body.get("name"))
        return web.json_response(result, status=201)
