"""The OpenAPI 3.1 document of the HTTP API, served at ``GET /api/v1/openapi.json``.

:func:`build_document` assembles it from one module per area (``auth``,
``im``, ``im_files``, ``orgs``, ``consults``, ``sos``, ``meetings``); limits that
depend on the settings (the longest text message) are read from the app.
``tests/integration/test_openapi.py`` checks that it is valid, that it names
exactly the routes the app registers, and fuzzes the running server with it.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from aiohttp import web

from api.openapi import auth, consults, im, im_files, meetings, orgs, recordings, sos
from api.openapi.common import SCHEMAS, Json

OPENAPI_PATH = "/api/v1/openapi.json"
DEFAULT_MAX_TEXT_LENGTH = 4000

DESCRIPTION = """\
Self-hosted telemedicine: messaging, organisations and accounts, consults,
one-tap SOS and remote-support meetings. Every `/api/v1` route except signing
in, guest invites, device SOS and this document needs
`Authorization: Bearer <JWT>`. Errors are `{"error": {"code", "message"}}`
with a stable `code`; each operation lists the codes it may answer with.
JSON strings (keys included) must not contain NUL (U+0000) or unpaired
surrogates, nor the path or the query NUL: such requests answer 400
`bad_request`.
Real-time events (Socket.IO) are described in docs/PROTOCOL.md, docs/IM.md
and docs/CARE.md.
"""


def _version() -> str:
    try:
        return metadata.version("carertc")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _max_text_length(app: web.Application | None) -> int:
    if app is None:
        return DEFAULT_MAX_TEXT_LENGTH
    from carertc.app import SETTINGS  # the composition root imports this package

    settings = app.get(SETTINGS)
    return settings.im.max_text_length if settings is not None else DEFAULT_MAX_TEXT_LENGTH


def build_document(app: web.Application | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the HTTP API (limits taken from ``app``'s settings)."""
    paths: Json = {}
    for area in (
        auth.paths(),
        im.paths(_max_text_length(app)),
        im_files.paths(),
        orgs.paths(),
        consults.paths(),
        sos.paths(),
        meetings.paths(),
        recordings.paths(),
    ):
        for path, item in area.items():
            paths.setdefault(path, {}).update(item)
    schemas: Json = {}
    for module_schemas in (
        SCHEMAS, auth.SCHEMAS, im.SCHEMAS, im_files.SCHEMAS, orgs.SCHEMAS, consults.SCHEMAS,
        sos.SCHEMAS, meetings.SCHEMAS, recordings.SCHEMAS,
    ):
        schemas.update(module_schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CareRTC HTTP API",
            "version": _version(),
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": name, "description": text}
            for name, text in (
                ("auth", "Signing in, switching organisation, who am I."),
                ("messaging", "Conversations, messages, attachments, search, export."),
                ("organisations", "Organisations, members, role permissions, care contacts."),
                ("accounts", "Account administration."),
                ("consults", "Consults in text, voice and video."),
                ("sos", "One-tap SOS."),
                ("integrations", "API keys and webhooks for device integrations."),
                ("meetings", "Remote-support meetings, invite links, statistics."),
                ("recordings", "Recordings: search, playback, download, the access log."),
                ("operations", "Health, readiness, metrics, this document."),
            )
        ],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "From POST /api/v1/auth/login (or an invite join).",
                },
                "apiKeyAuth": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Api-Key",
                    "description": "An organisation's integration key (device SOS).",
                },
                "tokenQuery": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "The JWT as ?token= (attachment and recording media only).",
                },
            },
        },
    }


class OpenApiRoute:
    """``GET /api/v1/openapi.json`` (public); the document is built once."""

    def __init__(self) -> None:
        self._document: dict[str, Any] | None = None

    def register(self, app: web.Application) -> None:
        """Add the route to ``app``."""
        app.router.add_get(OPENAPI_PATH, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        """The document as JSON."""
        if self._document is None:
            self._document = build_document(request.app)
        return web.json_response(self._document, headers={"Cache-Control": "no-cache"})


def setup_openapi(app: web.Application) -> None:
    """Serve the document at :data:`OPENAPI_PATH`."""
    OpenApiRoute().register(app)


__all__ = ["OPENAPI_PATH", "build_document", "setup_openapi"]
