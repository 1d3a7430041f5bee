"""HTTP route for meeting statistics: ``GET /api/v1/stats/meetings`` (JSON or ``format=csv``)."""

from __future__ import annotations

from aiohttp import web

from api.auth import AuthRoutes
from api.meetings import principal_of
from rooms.meetings import values as v
from rooms.meetings.stats import MeetingStats


class StatsRoutes:
    """Statistics per organisation and period (permission ``stats.view``)."""

    def __init__(self, auth: AuthRoutes, stats: MeetingStats) -> None:
        self.auth = auth
        self.stats = stats

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        app.router.add_get("/api/v1/stats/meetings", self.meetings)

    async def meetings(self, request: web.Request) -> web.Response:
        """``?org_id&from&to[&format=csv]`` -> totals, by category and by day (or CSV rows)."""
        principal = await principal_of(self.auth, request)
        q = request.query
        fmt = q.get("format") or "json"
        if fmt not in ("json", "csv"):
            raise v.bad("'format' must be json or csv")
        summary, records = await self.stats.summary(
            principal,
            org_id=q.get("org_id") or None,
            start=v.parse_bound(q.get("from"), "from", end=False),
            end=v.parse_bound(q.get("to"), "to", end=True),
        )
        if fmt == "json":
            return web.json_response(summary)
        name = "meetings-" + "-".join(
            p for p in (summary["org_id"], q.get("from"), q.get("to")) if p
        )
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:120]
        return web.Response(
            text=self.stats.csv(records),
            content_type="text/csv",
            charset="utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{safe}.csv"',
                "Cache-Control": "no-store",
            },
        )
