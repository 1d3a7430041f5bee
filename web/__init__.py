"""The browser client: sign-in, call and messages pages, static files, the Socket.IO client."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

WEB_DIR = Path(__file__).resolve().parent
PAGES_DIR = WEB_DIR / "pages"
STATIC_DIR = WEB_DIR / "static"
SOCKETIO_DIST = WEB_DIR / "node_modules" / "socket.io-client" / "dist"

# Vendored files served under /static/vendor/ (name -> file in socket.io-client's dist/).
VENDOR_FILES = {
    "socket.io.min.js": "socket.io.min.js",
    "socket.io.esm.min.js": "socket.io.esm.min.js",
}

ROOM_ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"
INVITE_TOKEN_PATTERN = r"[A-Za-z0-9_-]{16,128}"


def _security_headers(request: web.Request) -> dict[str, str]:
    """Headers for the HTML pages: same-origin scripts only, no referrer (tokens can sit in URLs)."""
    host = request.host
    csp = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",  # blob: previews an image while it uploads
            "media-src 'self' blob: mediastream:",
            f"connect-src 'self' ws://{host} wss://{host}",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ]
    )
    return {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Permissions-Policy": "camera=(self), microphone=(self), display-capture=(self)",
        "Cache-Control": "no-store",
    }


def _page(name: str, request: web.Request) -> web.FileResponse:
    """One HTML page from web/pages/ with the page headers."""
    return web.FileResponse(PAGES_DIR / name, headers=_security_headers(request))


async def _index(request: web.Request) -> web.StreamResponse:
    """The sign-in page with its "join room" box."""
    return _page("index.html", request)


async def _room(request: web.Request) -> web.StreamResponse:
    """The call page for one room; the room id is read by the script from the path."""
    return _page("room.html", request)


async def _chat(request: web.Request) -> web.StreamResponse:
    """The messages page: conversation list and the open conversation."""
    return _page("chat.html", request)


async def _admin_accounts(request: web.Request) -> web.StreamResponse:
    """The accounts admin page: create, search, disable, reset passwords."""
    return _page("admin-accounts.html", request)


async def _admin_orgs(request: web.Request) -> web.StreamResponse:
    """The organisations admin page: members and the permission grid per role."""
    return _page("admin-orgs.html", request)


async def _admin_recordings(request: web.Request) -> web.StreamResponse:
    """Recordings: search, play, download, and the audit log of who viewed what."""
    return _page("admin-recordings.html", request)


async def _consults(request: web.Request) -> web.StreamResponse:
    """The consults page: today's and upcoming consults, the open one with its chat and call."""
    return _page("consults.html", request)


async def _elder(request: web.Request) -> web.StreamResponse:
    """The elder's home: one huge SOS button, then who answered and the video."""
    return _page("elder.html", request)


async def _kiosk(request: web.Request) -> web.StreamResponse:
    """The SOS kiosk: one large button, signed in by the device token in ``?token=``."""
    return _page("kiosk.html", request)


async def _sos_log(request: web.Request) -> web.StreamResponse:
    """The SOS log of the organisation: every SOS with every step and its time."""
    return _page("sos-log.html", request)


async def _meetings(request: web.Request) -> web.StreamResponse:
    """The meeting scheduler: quick support now, scheduled meetings, invite links and QR codes."""
    return _page("meetings.html", request)


async def _join(request: web.Request) -> web.StreamResponse:
    """An invite link: a guest enters a name and joins the meeting's call."""
    return _page("join.html", request)


async def _records(request: web.Request) -> web.StreamResponse:
    """Service records: meetings by kind and period, with participants and duration."""
    return _page("records.html", request)


async def _stats(request: web.Request) -> web.StreamResponse:
    """Meeting statistics per organisation and period, with a chart and a CSV download."""
    return _page("stats.html", request)


async def _vendor(request: web.Request) -> web.StreamResponse:
    """The Socket.IO browser client, straight from web/node_modules (installed by npm ci)."""
    name = request.match_info["name"]
    path = SOCKETIO_DIST / VENDOR_FILES[name]
    if not path.is_file():
        raise web.HTTPServiceUnavailable(
            text="socket.io-client is not installed: run `npm ci` in web/ (scripts/setup does)"
        )
    return web.FileResponse(
        path,
        headers={"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-cache"},
    )


async def _static(request: web.Request) -> web.StreamResponse:
    """A file under web/static/ (no directory listing, no path escape)."""
    rel = request.match_info["path"]
    path = (STATIC_DIR / rel).resolve()
    if not path.is_relative_to(STATIC_DIR) or not path.is_file():
        raise web.HTTPNotFound()
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if path.suffix == ".js":
        headers["Content-Type"] = "text/javascript; charset=utf-8"
    elif path.suffix == ".css":
        headers["Content-Type"] = "text/css; charset=utf-8"
    elif path.suffix == ".svg":
        headers["Content-Type"] = "image/svg+xml"
    return web.FileResponse(path, headers=headers)


def setup_routes(app: web.Application) -> None:
    """Serve the web client: `/`, `/room/{room_id}`, `/chat`, `/static/...`, `/static/vendor/...`."""
    app.router.add_get("/", _index, name="web_index")
    app.router.add_get("/chat", _chat, name="web_chat")
    app.router.add_get("/meetings", _meetings, name="web_meetings")
    app.router.add_get("/join/{token:" + INVITE_TOKEN_PATTERN + "}", _join, name="web_join")
    app.router.add_get("/admin/records", _records, name="web_records")
    app.router.add_get("/admin/stats", _stats, name="web_stats")
    app.router.add_get("/elder", _elder, name="web_elder")
    app.router.add_get("/kiosk", _kiosk, name="web_kiosk")
    app.router.add_get("/admin/sos", _sos_log, name="web_sos_log")
    app.router.add_get("/consults", _consults, name="web_consults")
    app.router.add_get("/admin/accounts", _admin_accounts, name="web_admin_accounts")
    app.router.add_get("/admin/orgs", _admin_orgs, name="web_admin_orgs")
    app.router.add_get("/admin/recordings", _admin_recordings, name="web_admin_recordings")
    app.router.add_get("/room/{room_id:" + ROOM_ID_PATTERN + "}", _room, name="web_room")
    vendor = "|".join(n.replace(".", r"\.") for n in VENDOR_FILES)
    app.router.add_get("/static/vendor/{name:" + vendor + "}", _vendor, name="web_vendor")
    app.router.add_get("/static/{path:.+}", _static, name="web_static")


__all__ = ["setup_routes"]
