"""Operations routes: ``/health`` (liveness), ``/ready`` (database), ``/metrics`` (Prometheus)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

log = logging.getLogger(__name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RoomStats(Protocol):
    """Anything with ``stats() -> {"rooms": int, "participants": int}``."""

    def stats(self) -> dict[str, int]: ...


# Named counters from media.totals(): metric -> (help, accepted keys). Every other
# numeric key is exported as carertc_media_<key>_total.
MEDIA_COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "carertc_forwarded_packets_total": (
        "RTP packets forwarded to subscribers",
        ("forwarded_packets", "packets_forwarded"),
    ),
    "carertc_forwarded_bytes_total": (
        "RTP bytes forwarded to subscribers",
        ("forwarded_bytes", "bytes_forwarded"),
    ),
    "carertc_keyframe_requests_total": (
        "keyframe requests (PLI/FIR) from subscribers",
        ("keyframe_requests",),
    ),
    "carertc_nacks_total": ("NACKs received from subscribers", ("nacks", "nacks_received")),
}
IM_COUNTERS = {
    "messages_written": "messages stored (resends not counted)",
    "write_batches": "group-commit transactions that stored messages",
}
_NAME_OK = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class OpsRoutes:
    """Health, readiness and metrics."""

    def __init__(
        self,
        ready_check: Callable[[], Awaitable[bool]],
        rooms: RoomStats | None = None,
        media_totals: Callable[[], dict[str, Any]] | None = None,
        im_totals: Callable[[], dict[str, int]] | None = None,
    ) -> None:
        self.ready_check = ready_check
        self.rooms = rooms
        self.media_totals = media_totals
        self.im_totals = im_totals
        self.started = time.monotonic()

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        app.router.add_get("/health", self.health)
        app.router.add_get("/ready", self.ready)
        app.router.add_get("/metrics", self.metrics)

    async def health(self, _request: web.Request) -> web.Response:
        """The process is up."""
        return web.json_response({"status": "ok"})

    async def ready(self, _request: web.Request) -> web.Response:
        """The database answers; 503 otherwise."""
        if await self.ready_check():
            return web.json_response({"status": "ready"})
        return web.json_response(
            {
                "status": "unavailable",
                "error": {"code": "db_unavailable", "message": "the database does not answer"},
            },
            status=503,
        )

    async def metrics(self, _request: web.Request) -> web.Response:
        """Prometheus text exposition."""
        return web.Response(
            body=self.render().encode(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE}
        )

    def render(self) -> str:
        """The current metrics in Prometheus text format."""
        lines: list[str] = []

        def sample(name: str, kind: str, help_: str, value: float) -> None:
            lines.append(f"# HELP {name} {help_}")
            lines.append(f"# TYPE {name} {kind}")
            lines.append(f"{name} {_fmt(value)}")

        sample("carertc_up", "gauge", "1 while the server runs", 1)
        sample(
            "carertc_uptime_seconds",
            "gauge",
            "seconds since the server started",
            time.monotonic() - self.started,
        )
        rooms = participants = 0
        if self.rooms is not None:
            try:
                stats = self.rooms.stats()
                rooms, participants = int(stats.get("rooms", 0)), int(stats.get("participants", 0))
            except Exception:
                log.exception("metrics_rooms_failed")
        sample("carertc_rooms", "gauge", "open rooms", rooms)
        sample("carertc_participants", "gauge", "participants in rooms", participants)
        totals: dict[str, Any] = {}
        if self.media_totals is not None:
            try:
                totals = dict(self.media_totals())
            except Exception:
                log.exception("metrics_media_failed")
        named: set[str] = set()
        for name, (help_, keys) in MEDIA_COUNTERS.items():
            key = next((k for k in keys if k in totals), None)
            named.add(key or "")
            sample(name, "counter", help_, _number(totals.get(key, 0)) if key else 0)
        for key in sorted(totals):
            value = _number(totals[key], None)
            if key in named or not _NAME_OK.match(key) or value is None:
                continue
            sample(f"carertc_media_{key}_total", "counter", f"media counter {key}", value)
        im: dict[str, int] = {}
        if self.im_totals is not None:
            try:
                im = dict(self.im_totals())
            except Exception:
                log.exception("metrics_im_failed")
        for key, help_ in IM_COUNTERS.items():
            sample(f"carertc_im_{key}_total", "counter", help_, _number(im.get(key, 0)))
        return "\n".join(lines) + "\n"


def _number(value: Any, default: float | None = 0) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return value


def _fmt(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))
