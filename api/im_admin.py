"""HTTP routes for message search and conversation export (thin over im.search / im.export)."""

from __future__ import annotations

import contextlib

import aiofiles
from aiohttp import web

from api.auth import AuthRoutes
from im import Actor
from im import validation as v
from im.errors import ImError
from im.export import ConversationExporter, download_name
from im.search import DEFAULT_LIMIT, MAX_LIMIT, SearchService

CHUNK = 256 * 1024


class ImAdminRoutes:
    """``GET /api/v1/im/search`` and ``GET /api/v1/conversations/{id}/export``."""

    def __init__(
        self, auth: AuthRoutes, search: SearchService, exporter: ConversationExporter
    ) -> None:
        self.auth = auth
        self.search_service = search
        self.exporter = exporter

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        app.router.add_get("/api/v1/im/search", self.search)
        app.router.add_get("/api/v1/conversations/{cid}/export", self.export)

    async def actor(self, request: web.Request) -> Actor:
        """The verified caller."""
        _, user = await self.auth.authenticate(request)
        return Actor(user.id, user.display_name, user.role)

    async def search(self, request: web.Request) -> web.Response:
        """``?q=&conversation_id=&limit=`` -> ``{results: [...], has_more}``."""
        actor = await self.actor(request)
        query = request.query
        cid = query.get("conversation_id") or None
        if cid is not None:
            cid = v.ident({"conversation_id": cid}, "conversation_id")
        limit = DEFAULT_LIMIT
        if "limit" in query:
            raw = query["limit"]
            ok = raw.isascii() and raw.isdigit() and len(raw) <= 6
            if not ok or not 1 <= int(raw) <= MAX_LIMIT:
                raise ImError("bad_request", f"'limit' must be between 1 and {MAX_LIMIT}")
            limit = int(raw)
        result = await self.search_service.search(
            actor.user_id, query.get("q"), conversation_id=cid, limit=limit
        )
        return web.json_response(result)

    async def export(self, request: web.Request) -> web.StreamResponse:
        """A ZIP of the whole conversation (global admins only), streamed from a temp file."""
        actor = await self.actor(request)
        cid = v.ident({"conversation_id": request.match_info["cid"]}, "conversation_id")
        path, summary = await self.exporter.export_for(actor, cid)
        try:
            response = web.StreamResponse(
                headers={
                    "Content-Type": "application/zip",
                    "Content-Disposition": f'attachment; filename="{download_name(cid)}"',
                    "Cache-Control": "no-store",
                }
            )
            response.content_length = summary.size
            await response.prepare(request)
            async with aiofiles.open(path, "rb") as f:
                with contextlib.suppress(OSError):  # POSIX: gone now, readable until closed
                    path.unlink()
                while chunk := await f.read(CHUNK):
                    await response.write(chunk)
            await response.write_eof()
            return response
        finally:
            path.unlink(missing_ok=True)
