"""Snapshots of a participant's video, posted encrypted into the room's conversation.

``media:snapshot {participant_id, source?}``: a host, or a staff member in the
room (never a patient, family member or guest), takes a picture of a
participant's camera (or screen share). It is what everyone sees (a pixelated
camera gives a pixelated picture). The JPEG is stored encrypted at rest as an
image attachment of the room's conversation, posted there as an image message
by the taker, followed by a ``snapshot_taken`` system message.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from accounts.roles import STAFF_ROLES
from im import Actor, ImService
from im.attachments import AttachmentService
from im.errors import ImError
from im.validation import SendRequest
from media import MediaError
from media.snapshot import take_snapshot
from rooms.errors import RoomError
from rooms.service import RoomService

log = logging.getLogger("carertc.rooms")

SNAPSHOT_SOURCES = ("camera", "screen")


class Snapshots:
    """Take, store and post snapshots."""

    def __init__(
        self,
        rooms: RoomService,
        im: ImService,
        attachments: AttachmentService,
        timeout: float = 5.0,
    ) -> None:
        self.rooms = rooms
        self.im = im
        self.attachments = attachments
        self.timeout = timeout

    async def take(self, session: str, participant_id: str, source: str = "camera") -> dict[str, Any]:
        """Snapshot ``participant_id``'s ``source``; ``{attachment_id, message_id, ...}``."""
        taker = self.rooms._require(session)
        if taker.identity.role not in STAFF_ROLES and not taker.host:
            raise RoomError("permission_denied", "only the host or staff may take snapshots")
        if taker.identity.role in ("elder", "family", "guest"):
            raise RoomError("permission_denied", "only the host or staff may take snapshots")
        if source not in SNAPSHOT_SOURCES:
            raise RoomError("bad_request", "'source' must be camera or screen")
        target = self.rooms._target(taker, participant_id)
        producers = target.producers_of(source)
        if not producers:
            raise RoomError("not_publishing", f"that participant sends no {source}")
        try:
            shot = await take_snapshot(producers[0], timeout=self.timeout)
        except MediaError as exc:
            log.info(
                "snapshot_failed",
                extra={"room_id": taker.room_id, "participant_id": target.id, "code": exc.code},
            )
            raise RoomError("snapshot_failed", "no picture could be taken of that video") from None
        actor = Actor(taker.identity.user_id, taker.identity.name, taker.identity.role)
        try:
            conversation_id, _ = await self.im.ensure_room_conversation(actor, taker.room_id)
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            attachment = await self.attachments.store_bytes(
                actor,
                conversation_id,
                f"snapshot-{target.identity.name}-{stamp}.jpg",
                shot.jpeg,
                content_type="image/jpeg",
                kind="image",
                width=shot.width,
                height=shot.height,
            )
            sent = await self.im.send(
                actor,
                SendRequest(
                    conversation_id,
                    f"snapshot-{uuid.uuid4().hex}",
                    "image",
                    "",
                    {"attachment_id": attachment["id"]},
                ),
            )
            await self.im.post_system(
                conversation_id,
                "snapshot_taken",
                user_id=taker.identity.user_id,
                name=taker.identity.name,
                subject_user_id=target.identity.user_id,
                subject_name=target.identity.name,
                attachment_id=attachment["id"],
            )
        except ImError:
            log.exception("snapshot_store_failed", extra={"room_id": taker.room_id})
            raise RoomError("snapshot_failed", "the picture could not be stored") from None
        log.info(
            "snapshot_taken",
            extra={"room_id": taker.room_id, "participant_id": target.id, "by": taker.id,
                   "attachment_id": attachment["id"]},
        )
        return {
            "ok": True,
            "attachment_id": attachment["id"],
            "message_id": sent["id"],
            "conversation_id": conversation_id,
            "width": shot.width,
            "height": shot.height,
        }
