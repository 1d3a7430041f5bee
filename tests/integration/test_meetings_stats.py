"""Service records and statistics match the meetings held (SQLite and PostgreSQL).

Three meetings are held with real Socket.IO clients while a settable clock
says when each join and leave happened, so counts and durations are exact.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from rooms.meetings.models import Attendance
from tests.support.client import TestClient
from tests.support.meetings import Api, Clock, db_server_fixture, iso, services  # noqa: F401

T0 = datetime(2030, 1, 15, 8, 0, tzinfo=UTC)


class Held:
    """Drives joins and leaves at known times and waits until each one is recorded."""

    def __init__(self, server: Any, clock: Clock, api: Api) -> None:
        self.server = server
        self.clock = clock
        self.api = api
        self.clients: list[TestClient] = []
        self.expected_stays = 0
        self.expected_left = 0

    async def client(self, token: str, name: str) -> TestClient:
        client = TestClient(self.server.url, token, name=name)
        self.clients.append(client)
        await client.connect()
        return client

    async def at(self, offset: float) -> None:
        """Set the clock to T0 + ``offset`` seconds."""
        self.clock.now = T0 + timedelta(seconds=offset)

    async def join(self, client: TestClient, room_id: str, mid: str) -> None:
        await client.join(room_id)
        self.expected_stays += 1
        await self.settled(mid)

    async def leave(self, client: TestClient, mid: str) -> None:
        await client.leave()
        self.expected_left += 1
        await self.settled(mid)

    async def settled(self, mid: str) -> None:
        """Wait until the expected stays (and leaves) of ``mid`` are recorded."""
        _, _, stats, _ = services(self.server)
        for _ in range(200):
            rows = await _stays(stats, mid)
            if rows[0] >= self.expected_stays and rows[1] >= self.expected_left:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"attendance of {mid} not recorded")

    def reset(self) -> None:
        self.expected_stays = self.expected_left = 0

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)


async def _stays(stats: Any, mid: str) -> tuple[int, int]:
    async with stats.sessions() as s:
        rows = list(
            (await s.execute(select(Attendance).where(Attendance.meeting_id == mid))).scalars()
        )
    return len(rows), sum(1 for r in rows if r.left_at is not None)


async def _status(api: Api, mid: str, want: str) -> dict[str, Any]:
    for _ in range(200):
        meeting = await api("GET", f"/api/v1/meetings/{mid}", expect=200)
        if meeting["status"] == want:
            return dict(meeting)
        await asyncio.sleep(0.02)
    raise AssertionError(f"meeting {mid} never became {want}")


async def test_statistics_match_the_meetings_held(db_server: Any) -> None:
    server = db_server
    meetings, _, _, _ = services(server)
    clock = Clock(T0)
    meetings.clock = clock
    host = await server.user("host", "doctor", display_name="Dr Host", organisation="org-a")
    nurse = await server.user("nurse", "nurse", organisation="org-a")
    family = await server.user("family", "family", organisation="org-a")
    viewer = await server.user("clerk", "staff", organisation="org-a")
    elsewhere = await server.user("far", "doctor", organisation="org-b")
    api = Api(server.url, server.token(host))
    public = Api(server.url)
    held = Held(server, clock, api)
    try:
        # 1. quick support at T0: host 0-100 s, guest 10-70 s -> 100 s, 2 people
        m1 = await api("POST", "/api/v1/meetings", {"category": "quick", "title": "Q1"}, expect=201)
        link = await api("POST", f"/api/v1/meetings/{m1['id']}/invites", {}, expect=201)
        guest_token = (
            await public(
                "POST", f"/api/v1/invites/{link['token']}/join", {"name": "Guest One"}, expect=201
            )
        )["token"]
        h = await held.client(server.token(host), "host")
        g = await held.client(guest_token, "guest")
        await held.at(0)
        await held.join(h, m1["room_id"], m1["id"])
        await held.at(10)
        await held.join(g, m1["room_id"], m1["id"])
        await held.at(70)
        await held.leave(g, m1["id"])
        await held.at(100)
        await held.leave(h, m1["id"])
        await _status(api, m1["id"], "ended")  # its call emptied: quick support ends

        # 2. scheduled for T0+1h: host, nurse 30-300 s, a guest 60-200 s; the host ends it at 600 s
        held.reset()
        m2 = await api(
            "POST",
            "/api/v1/meetings",
            {
                "title": "R2",
                "category": "realtime",
                "start_at": iso(T0.replace(hour=9)),
                "invitees": ["nurse"],
            },
            expect=201,
        )
        link = await api("POST", f"/api/v1/meetings/{m2['id']}/invites", {}, expect=201)
        guest_token = (
            await public(
                "POST", f"/api/v1/invites/{link['token']}/join", {"name": "Guest Two"}, expect=201
            )
        )["token"]
        h = await held.client(server.token(host), "host2")
        n = await held.client(server.token(nurse), "nurse")
        g = await held.client(guest_token, "guest2")
        await held.at(3600)
        await held.join(h, m2["room_id"], m2["id"])
        await held.at(3630)
        await held.join(n, m2["room_id"], m2["id"])
        await held.at(3660)
        await held.join(g, m2["room_id"], m2["id"])
        await held.at(3800)
        await held.leave(g, m2["id"])
        await held.at(3900)
        await held.leave(n, m2["id"])
        await held.at(4200)
        await h.request("room:end", {})
        held.expected_left = 3
        await held.settled(m2["id"])
        ended = await _status(api, m2["id"], "ended")
        assert ended["started_at"] == "2030-01-15T09:00:00.000Z"
        assert ended["ended_at"] == "2030-01-15T09:10:00.000Z"

        # 3. quick support at T0+2h: host 0-90 s, family 20-40 s and 60-120 s -> 120 s, 2 people
        held.reset()
        await held.at(7200)
        m3 = await api(
            "POST",
            "/api/v1/meetings",
            {"category": "quick", "title": "Q3", "invitees": ["family"]},
            expect=201,
        )
        h = await held.client(server.token(host), "host3")
        f = await held.client(server.token(family), "family")
        await held.join(h, m3["room_id"], m3["id"])
        await held.at(7220)
        await held.join(f, m3["room_id"], m3["id"])
        await held.at(7240)
        await held.leave(f, m3["id"])
        await held.at(7260)
        f2 = await held.client(server.token(family), "family-again")
        await held.join(f2, m3["room_id"], m3["id"])
        await held.at(7290)
        await held.leave(h, m3["id"])
        await held.at(7320)
        await held.leave(f2, m3["id"])
        await _status(api, m3["id"], "ended")

        # not held: a cancelled one and one nobody joined yet; and another organisation's
        await held.at(7400)
        m4 = await api(
            "POST",
            "/api/v1/meetings",
            {"title": "C4", "start_at": iso(T0.replace(hour=12))},
            expect=201,
        )
        await api("POST", f"/api/v1/meetings/{m4['id']}/cancel", expect=200)
        await api(
            "POST",
            "/api/v1/meetings",
            {"title": "S5", "start_at": iso(T0.replace(hour=13))},
            expect=201,
        )
        far = Api(server.url, server.token(elsewhere))
        await far("POST", "/api/v1/meetings", {"category": "quick"}, expect=201)

        stats = await Api(server.url, server.token(viewer))(
            "GET", "/api/v1/stats/meetings?org_id=org-a&from=2030-01-15&to=2030-01-15", expect=200
        )
        assert stats["meetings"] == 3
        assert stats["participants"] == 2 + 3 + 2
        assert stats["total_duration_seconds"] == 100 + 600 + 120
        assert stats["average_duration_seconds"] == round(820 / 3, 1)
        assert stats["by_category"] == {
            "quick": {
                "meetings": 2,
                "participants": 4,
                "total_duration_seconds": 220,
                "average_duration_seconds": 110.0,
            },
            "realtime": {
                "meetings": 1,
                "participants": 3,
                "total_duration_seconds": 600,
                "average_duration_seconds": 600.0,
            },
        }
        assert stats["by_day"] == [
            {
                "date": "2030-01-15",
                "meetings": 3,
                "participants": 7,
                "total_duration_seconds": 820,
                "average_duration_seconds": round(820 / 3, 1),
            }
        ]
        # the token's organisation is the default
        assert (await api("GET", "/api/v1/stats/meetings", expect=200))["meetings"] == 3
        # a period that leaves the third one out
        morning = await api(
            "GET",
            "/api/v1/stats/meetings?from=2030-01-15T07:00:00Z&to=2030-01-15T10:00:00Z",
            expect=200,
        )
        assert (morning["meetings"], morning["total_duration_seconds"]) == (2, 700)

        # CSV: one row per meeting held
        status, headers, body = await api.raw(
            "GET", "/api/v1/stats/meetings?org_id=org-a&from=2030-01-15&to=2030-01-15&format=csv"
        )
        assert status == 200 and headers["Content-Type"].startswith("text/csv")
        assert headers["Content-Disposition"].startswith("attachment;")
        assert ".csv" in headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
        by_title = {r["title"]: r for r in rows}
        assert set(by_title) == {"Q1", "R2", "Q3"}
        assert {
            t: (r["category"], r["participants"], r["duration_seconds"])
            for t, r in by_title.items()
        } == {
            "Q1": ("quick", "2", "100"),
            "R2": ("realtime", "3", "600"),
            "Q3": ("quick", "2", "120"),
        }
        assert all(r["host"] == "Dr Host" and r["status"] == "ended" for r in rows)

        # service records by category, with participants and duration
        records = await api(
            "GET",
            "/api/v1/meetings?org_id=org-a&category=quick&from=2030-01-15&to=2030-01-15",
            expect=200,
        )
        quick = {r["title"]: r for r in records["meetings"]}
        assert set(quick) == {"Q1", "Q3"}
        q3 = quick["Q3"]
        assert q3["duration_seconds"] == 120 and q3["participant_count"] == 2
        fam = next(p for p in q3["participants"] if p["user_id"] == family.id)
        assert (fam["stays"], fam["seconds"]) == (2, 20 + 60)
        q1_guest = next(p for p in quick["Q1"]["participants"] if p["guest"])
        assert (q1_guest["name"], q1_guest["seconds"]) == ("Guest One", 60)

        # who may see statistics
        nurse_api = Api(server.url, server.token(nurse))
        denied = await nurse_api("GET", "/api/v1/stats/meetings", expect=403)
        assert denied["error"]["code"] == "permission_denied"
        denied = await api("GET", "/api/v1/stats/meetings?org_id=org-b", expect=403)
        assert denied["error"]["code"] == "permission_denied"
        other_org = await far("GET", "/api/v1/stats/meetings", expect=200)
        assert other_org["meetings"] == 0  # created, nobody joined
        await nurse_api("GET", "/api/v1/meetings?scope=org", expect=403)
        mine = await nurse_api("GET", "/api/v1/meetings", expect=200)
        assert [m["title"] for m in mine["meetings"]] == ["R2"]
        assert (await api("GET", "/api/v1/stats/meetings?from=someday", expect=400))["error"][
            "code"
        ] == "bad_request"
    finally:
        await held.close()
