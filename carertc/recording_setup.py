"""Wiring of recording in calls: the room hooks (composite, recording, pixelation) and events."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from accounts.orgs import OrgService
from carertc.config import Settings
from im import ImService
from im.attachments import AttachmentService
from recording.paths import recording_key
from rooms import RoomService
from rooms.composite import CompositeManager
from rooms.pixelation import Pixelation
from rooms.recording import RoomRecording
from rooms.snapshots import Snapshots
from signaling.recording import RecordingSignaling
from signaling.server import SIGNALING_KEY

log = logging.getLogger(__name__)

ROOM_RECORDING = web.AppKey("carertc.room_recording", RoomRecording)


def setup_room_recording(
    app: web.Application,
    settings: Settings,
    *,
    rooms: RoomService,
    recordings: Any,  # recording.service.RecordingService
    orgs: OrgService,
    im: ImService,
    attachments: AttachmentService,
    consults: Any = None,
    meetings: Any = None,
) -> RoomRecording:
    """Hooks, events and shutdown for recording calls; ``app[ROOM_RECORDING]``."""
    attachments.vault_key = recording_key(settings)
    composite = CompositeManager(settings.recording)
    recording = RoomRecording(
        rooms, composite, recordings, orgs=orgs, im=im, consults=consults, meetings=meetings
    )
    pixelation = Pixelation(rooms, im)
    # order matters: pixelation first (a new camera is pixelated before anything reads
    # it), the recording stops before the compositor closes
    rooms.add_hooks(pixelation)
    rooms.add_hooks(recording)
    rooms.add_hooks(composite)
    RecordingSignaling(
        app[SIGNALING_KEY], recording, pixelation, Snapshots(rooms, im, attachments)
    )
    app[ROOM_RECORDING] = recording

    async def running(_app: web.Application) -> AsyncIterator[None]:
        yield
        try:  # before the rooms and the database close (cleanup runs in reverse order)
            await recording.close()
            await recordings.close()
        except Exception:
            log.exception("recordings_close_failed")

    app.cleanup_ctx.append(running)
    return recording
