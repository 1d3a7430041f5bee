"""HTTP routes for attachments: upload (streamed), download (Range), thumbnail.

The two GET routes accept the token as ``?token=<jwt>`` as well as in the
``Authorization`` header, so ``<img src>``, ``<audio src>`` and ``<video src>``
work in a browser (the access log never records query strings).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import aiofiles.os
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from accounts.errors import AuthError
from api.auth import AuthRoutes, bearer_token
from im import Actor, ImError
from im import validation as v
from im.attachments import AttachmentService
from im.filetypes import IMAGE_TYPES, ascii_filename, extension

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
MAX_FILENAME_PARAM = 1024
# an attachment opened directly in a tab runs nothing and loads nothing
SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "private, no-cache",
}


class AttachmentRoutes:
    """``POST /api/v1/conversations/{cid}/attachments`` and ``GET /api/v1/attachments/{id}``."""

    def __init__(self, auth: AuthRoutes, attachments: AttachmentService) -> None:
        self.auth = auth
        self.attachments = attachments

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        r = app.router
        r.add_post("/api/v1/conversations/{cid}/attachments", self.upload)
        r.add_get("/api/v1/attachments/{aid}", self.download)
        r.add_get("/api/v1/attachments/{aid}/thumbnail", self.thumbnail)

    async def actor(self, request: web.Request, *, query_token: bool = False) -> Actor:
        """The verified caller; with ``query_token`` a ``?token=`` stands in for the header."""
        token = bearer_token(request)
        if token is None and query_token:
            token = request.query.get("token")
        claims = self.auth.tokens.verify(token)
        user = await self.auth.users.get(claims.sub)
        if user is None or user.disabled:
            raise AuthError("user_disabled")
        return Actor(user.id, user.display_name, user.role)

    async def upload(self, request: web.Request) -> web.Response:
        """Raw body, ``?filename=&type=`` -> 201 Attachment."""
        actor = await self.actor(request)
        cid = v.ident({"conversation_id": request.match_info["cid"]}, "conversation_id")
        filename = request.query.get("filename", "")
        if not filename or len(filename) > MAX_FILENAME_PARAM:
            raise v.bad(f"'filename' must be 1-{MAX_FILENAME_PARAM} characters")
        kind = request.query.get("type", "file")
        try:
            att = await self.attachments.upload(
                actor,
                cid,
                filename,
                kind,
                request.content.iter_chunked(READ_SIZE),
                request.content_length,
            )
        except (ConnectionResetError, HttpProcessingError) as exc:
            # the client went away or sent a broken body; the partial file is already gone
            log.info("attachment_upload_aborted", extra={"reason": type(exc).__name__})
            raise v.bad("the upload was interrupted or its body is malformed") from None
        return web.json_response(att, status=201)

    async def download(self, request: web.Request) -> web.StreamResponse:
        """The file (Range requests answer 206); images inline, the rest as a download."""
        actor = await self.actor(request, query_token=True)
        att = await self.attachments.get(actor, _aid(request))
        path = self.attachments.path_for(att)
        if not await aiofiles.os.path.isfile(path):
            raise ImError("attachment_not_found", "the attachment's file is no longer stored")
        inline = att.content_type in IMAGE_TYPES
        headers = {
            **SAFE_HEADERS,
            "Content-Type": _with_charset(att.content_type),
            "Content-Disposition": content_disposition(att.filename, inline=inline),
        }
        if att.encrypted:
            return await self._decrypted(request, att, headers)
        return web.FileResponse(path, chunk_size=READ_SIZE, headers=headers)

    async def _decrypted(
        self, request: web.Request, att: Any, headers: dict[str, str]
    ) -> web.StreamResponse:
        """An encrypted attachment, decrypted on the fly; a single Range answers 206."""
        size = att.size
        start, end, status = 0, size - 1, 200
        try:
            wanted = request.http_range
        except ValueError:
            wanted = None
        if wanted is not None and (wanted.start is not None or wanted.stop is not None):
            first, last = wanted.start, wanted.stop
            if first is None:  # a suffix: the last -stop bytes
                first, last = max(size + (last or 0), 0), size
            elif first < 0:
                first, last = max(size + first, 0), size
            last = size if last is None else min(last, size)
            if first >= size or last <= first:
                return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
            start, end, status = first, last - 1, 206
        response = web.StreamResponse(status=status, headers=headers)
        response.headers["Accept-Ranges"] = "bytes"
        response.content_length = end - start + 1
        if status == 206:
            response.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        await response.prepare(request)
        if request.method != "HEAD":
            async for block in self.attachments.read_range(att, start, end):
                await response.write(block)
        await response.write_eof()
        return response

    async def thumbnail(self, request: web.Request) -> web.StreamResponse:
        """The JPEG thumbnail of an image attachment; 404 if it has none."""
        actor = await self.actor(request, query_token=True)
        att = await self.attachments.get(actor, _aid(request))
        path = self.attachments.thumbnail_path_for(att)
        if path is None or not await aiofiles.os.path.isfile(path):
            raise ImError("attachment_not_found", "the attachment has no thumbnail")
        ext = extension(att.filename)
        stem = att.filename[: -len(ext)] if ext else att.filename
        headers = {
            **SAFE_HEADERS,
            "Content-Type": "image/jpeg",
            "Content-Disposition": content_disposition(f"{stem}-thumbnail.jpg", inline=True),
        }
        return web.FileResponse(path, headers=headers)


def content_disposition(filename: str, *, inline: bool) -> str:
    """``inline``/``attachment`` with an ASCII ``filename`` and an RFC 5987 ``filename*``."""
    kind = "inline" if inline else "attachment"
    encoded = quote(filename, safe="!#$&+-.^_`|~")
    return f"{kind}; filename=\"{ascii_filename(filename)}\"; filename*=UTF-8''{encoded}"


def _with_charset(content_type: str) -> str:
    if content_type.startswith("text/") or content_type == "application/json":
        return f"{content_type}; charset=utf-8"
    return content_type


def _aid(request: web.Request) -> str:
    try:
        return v.ident({"attachment_id": request.match_info["aid"]}, "attachment_id")
    except ImError:
        raise ImError("attachment_not_found", "no such attachment") from None
