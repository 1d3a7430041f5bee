"""The ``sos-<id>`` rooms: who may enter, what joining and closing mean, late devices."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rooms.access import RoomAccess
from rooms.permissions import Identity
from rooms.sos.log import ROOM_PREFIX, room_of

if TYPE_CHECKING:
    from rooms.sos.service import SosService

log = logging.getLogger("carertc.sos")

LIVE = ("ringing", "answered")


class SosRooms:
    """Access rule, room listener and connect hook of the SOS flow."""

    def __init__(self, service: SosService) -> None:
        self.svc = service

    async def access(self, identity: Identity, room_id: str) -> RoomAccess | None:
        """The elder while the SOS is live; those it rang once someone has accepted."""
        alert = await self.svc.log.alert(room_id[len(ROOM_PREFIX):])
        if alert is None or alert.status not in LIVE:
            return None
        if identity.user_id == alert.elder_id:
            return RoomAccess(host=False)
        if alert.status != "answered":
            return None
        if await self.svc.log.recipient(alert.id, identity.user_id) is None:
            return None
        return RoomAccess(host=identity.user_id == alert.answered_by)

    async def on_room_event(self, event: str, room_id: str, identity: Identity | None) -> None:
        """Log joins and leaves; the call's room closing ends an answered SOS."""
        if not room_id.startswith(ROOM_PREFIX) or self.svc.closed:
            return
        alert = await self.svc.log.alert(room_id[len(ROOM_PREFIX):])
        if alert is None:
            return
        if event in ("joined", "left") and identity is not None:
            await self.svc.record(alert, event, identity.user_id, {"role": identity.role})
        elif event == "closed" and alert.status == "answered":
            try:
                await self.svc.end(None, alert.id, reason="call_ended")
            except Exception:
                log.exception("sos_end_failed", extra={"sos_id": alert.id})

    async def on_connect(self, sid: str, identity: Identity) -> None:
        """A device coming online while an SOS rings its user rings too."""
        for active in list(self.svc.active.values()):
            if (
                active.status == "ringing"
                and identity.user_id in active.recipients
                and identity.user_id not in active.declined
            ):
                await self.svc.notify.to_sid(sid, "sos:ring", {"sos": active.wire})
            elif identity.user_id == active.elder_id:
                await self.svc.notify.to_sid(
                    sid, "sos:start_call", {"sos_id": active.id, "room_id": room_of(active.id)}
                )
