"""Privacy pixelation (host control): a participant's camera pixelated for everyone.

``host:pixelate {participant_id, on, rect?}``: the host turns pixelation of
another participant's (or its own) camera on or off, for the whole picture or
a rectangle ``[x, y, w, h]`` in 0..1 fractions. Everything downstream sees the
pixelated picture: the others, the composite, recordings, snapshots. The
setting stays with the participant: a camera published later is pixelated
too. Everyone gets ``participant:updated`` (``pixelated``); the room's
conversation gets ``pixelation_on`` / ``pixelation_off``.
"""

from __future__ import annotations

import logging
from typing import Any

from im import ImService
from media import MediaError
from media.pixelate import set_pixelation, validate_rect
from rooms.errors import RoomError
from rooms.hooks import RoomHooks
from rooms.participant import Participant, source_of
from rooms.room import Room
from rooms.service import RoomService

log = logging.getLogger("carertc.rooms")

Rect = tuple[float, float, float, float]


def check_rect(rect: Any) -> Rect | None:
    """A validated ``[x, y, w, h]`` (fractions of the frame), or None for the whole picture."""
    if rect is None:
        return None
    if not isinstance(rect, (list, tuple)) or len(rect) != 4 or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in rect
    ):
        raise RoomError("bad_request", "'rect' must be [x, y, w, h] in 0..1 fractions")
    try:
        return validate_rect((float(rect[0]), float(rect[1]), float(rect[2]), float(rect[3])))
    except ValueError:
        raise RoomError("bad_request", "'rect' must lie within the picture (0..1)") from None


class Pixelation(RoomHooks):
    """The host's pixelation control and its persistence across republishing."""

    def __init__(self, rooms: RoomService, im: ImService | None = None) -> None:
        self.rooms = rooms
        self.im = im

    async def pixelate(
        self, session: str, participant_id: str, on: bool, rect: Rect | None = None
    ) -> dict[str, Any]:
        """Host: pixelate (or stop pixelating) a participant's camera."""
        host = self.rooms._require_host(session)
        target = self.rooms._target(host, participant_id)
        changed = target.pixelated != on or (on and target.pixel_rect != rect)
        target.pixelated = on
        target.pixel_rect = rect if on else None
        for producer in target.producers_of("camera"):
            self._apply(target, producer)
        room = self.rooms.get_room(host.room_id)
        if changed and room is not None and not target.left:
            self.rooms._broadcast(room, "participant:updated", {"participant": target.to_dict()})
            await self._post(room.id, target, host, on)
        log.info(
            "host_pixelated" if on else "host_unpixelated",
            extra={"room_id": host.room_id, "participant_id": target.id, "by": host.id},
        )
        return {"ok": True, "participant_id": target.id, "pixelated": on}

    def _apply(self, participant: Participant, producer: Any) -> None:
        try:
            set_pixelation(producer, participant.pixelated, participant.pixel_rect)
        except MediaError as exc:
            log.warning(
                "pixelation_failed",
                extra={"participant_id": participant.id, "producer_id": producer.id,
                       "code": exc.code},
            )

    async def _post(self, room_id: str, target: Participant, host: Participant, on: bool) -> None:
        if self.im is None:
            return
        try:
            conversation_id = await self.im.room_conversation_id(room_id)
            if conversation_id:
                await self.im.post_system(
                    conversation_id,
                    "pixelation_on" if on else "pixelation_off",
                    user_id=target.identity.user_id,
                    name=target.identity.name,
                    by_user_id=host.identity.user_id,
                    by_name=host.identity.name,
                )
        except Exception:
            log.exception("pixelation_post_failed", extra={"room_id": room_id})

    def producer_added(self, room: Room, participant: Participant, producer: Any) -> None:
        """A camera published while pixelated is pixelated from its first frame."""
        if participant.pixelated and source_of(producer) == "camera":
            self._apply(participant, producer)
