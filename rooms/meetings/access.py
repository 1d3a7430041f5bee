"""Who enters a meeting's room (``meeting-<id>``): the access rule the meeting flow registers."""

from __future__ import annotations

from accounts.flow_errors import FlowError
from accounts.principal import Principal
from rooms.access import RoomAccess
from rooms.meetings.models import ACTIVE_STATUSES, ROOM_PREFIX, MeetingInvitee
from rooms.meetings.service import MeetingService
from rooms.permissions import Identity, MediaPermissions

# Guests talk and show their camera; no screen share (and never host controls).
GUEST_MEDIA = MediaPermissions(publish=True, screen=False)


class MeetingRoomRule:
    """The host (host controls), invitees with ``meeting.join``, guests holding the room grant.

    Only while the meeting is scheduled or live; anyone else gets ``room_forbidden``.
    """

    def __init__(self, meetings: MeetingService) -> None:
        self.meetings = meetings

    async def __call__(self, identity: Identity, room_id: str) -> RoomAccess | None:
        """The grant for ``identity`` in ``room_id``, or None."""
        meeting_id = room_id[len(ROOM_PREFIX) :]
        try:
            meeting = await self.meetings.load(meeting_id)
        except FlowError:
            return None
        if meeting.status not in ACTIVE_STATUSES:
            return None
        if identity.user_id == meeting.host_id:
            return RoomAccess(host=True)
        if identity.role == "guest":
            return RoomAccess(media=GUEST_MEDIA) if identity.room_grant == room_id else None
        async with self.meetings.sessions() as s:
            invited = await s.get(MeetingInvitee, (meeting_id, identity.user_id)) is not None
        principal = Principal(identity.user_id, identity.name, identity.role, identity.org)
        if invited and await self.meetings.orgs.allowed(principal, "meeting.join"):
            return RoomAccess()
        return None
