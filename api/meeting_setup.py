"""Wiring of remote-support meetings: services, the ``meeting-`` room rule, listeners, routes.

``setup_meetings(app, auth, ...)`` builds the services (reachable as
``app[MEETINGS]``, ``app[INVITES]``, ``app[MEETING_STATS]``,
``app[MEETING_REMINDERS]``), lets the meeting flow decide who enters its rooms,
records attendance from room events, runs the reminder loop while the app
runs, and adds the HTTP routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.orgs import OrgService
from accounts.tokens import TokenService
from api.auth import AuthRoutes
from api.invites import InviteRoutes
from api.meetings import MeetingRoutes
from api.stats import StatsRoutes
from im import ImService
from rooms import RoomService
from rooms.meetings.access import MeetingRoomRule
from rooms.meetings.attendance import AttendanceRecorder
from rooms.meetings.invites import InviteService
from rooms.meetings.models import ROOM_PREFIX
from rooms.meetings.reminders import ReminderService
from rooms.meetings.service import MeetingService, Publisher
from rooms.meetings.stats import MeetingStats

log = logging.getLogger("carertc.meetings")

MEETINGS = web.AppKey("carertc.meetings", MeetingService)
INVITES = web.AppKey("carertc.meeting_invites", InviteService)
MEETING_STATS = web.AppKey("carertc.meeting_stats", MeetingStats)
MEETING_REMINDERS = web.AppKey("carertc.meeting_reminders", ReminderService)


def setup_meetings(
    app: web.Application,
    auth: AuthRoutes,
    *,
    sessions: async_sessionmaker[AsyncSession],
    tokens: TokenService,
    im: ImService,
    rooms: RoomService,
    notify: Publisher,
    orgs: OrgService | None = None,
    public_url: str | None = None,
    reminder_interval_seconds: float = 30.0,
) -> MeetingService:
    """Wire meetings into ``app`` (see the module docstring); returns the meeting service."""
    meetings = MeetingService(sessions, orgs=orgs or OrgService(sessions), im=im, rooms=rooms)
    meetings.set_publisher(notify)
    rooms.access.add_rule(ROOM_PREFIX, MeetingRoomRule(meetings))
    rooms.add_listener(AttendanceRecorder(meetings))
    invites = InviteService(meetings, tokens)
    stats = MeetingStats(meetings)
    reminders = ReminderService(
        meetings,
        interval_seconds=reminder_interval_seconds,
        room_open=lambda room_id: rooms.get_room(room_id) is not None,
    )
    app[MEETINGS] = meetings
    app[INVITES] = invites
    app[MEETING_STATS] = stats
    app[MEETING_REMINDERS] = reminders
    app.cleanup_ctx.append(_running(reminders))
    MeetingRoutes(auth, meetings, stats).register(app)
    InviteRoutes(auth, invites, public_url).register(app)
    StatsRoutes(auth, stats).register(app)
    return meetings


async def _loop(reminders: ReminderService) -> None:
    """Run one reminder pass every ``interval_seconds`` until cancelled."""
    while True:
        try:
            await reminders.run_once()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("meeting_reminders_failed")
        await asyncio.sleep(reminders.interval_seconds)


def _running(reminders: ReminderService) -> Any:
    """An aiohttp cleanup context: the reminder loop runs while the app does."""

    async def running(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(_loop(reminders), name="meetings.reminders")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return running
