"""Recording a room: who may start and stop it, the announcements, the composite's layout.

Who may record:

- ``consult-<id>`` rooms: :meth:`rooms.consults.ConsultService.may_record` (a
  clinician or staff member running the active consult, with ``recording.start``);
- every other room (meetings, rooms no care flow claims): a host of the room
  (``Participant.host``) whose role has ``recording.start`` in its organisation;
- a patient (``elder``) or a guest: never.

The recording belongs to the consult's or meeting's organisation, else to the
starter's. Everyone in the room gets ``recording:state`` when it starts or
stops (a late joiner finds it in its ``room:join`` ack under ``recording``);
the room's conversation gets ``recording_started`` / ``recording_stopped``. A
recording stops by itself when its room closes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from accounts.orgs import OrgService
from accounts.principal import Principal
from im import ImService
from recording.service import RecordingService
from rooms.composite import CompositeManager
from rooms.consults.models import Consult
from rooms.errors import RoomError
from rooms.hooks import RoomHooks
from rooms.participant import Participant
from rooms.room import Room
from rooms.service import RoomService

log = logging.getLogger("carertc.rooms")

KEY = "recording"
# roles that never start a recording, whatever an organisation's table says
NEVER_RECORD = frozenset({"elder", "guest"})
CONSULT_PREFIX = "consult-"
MEETING_PREFIX = "meeting-"


@dataclass(eq=False)
class RecordingState:
    """The room's recording while one runs (or starts)."""

    recording_id: str | None = None
    started_by: dict[str, Any] | None = None
    busy: bool = False  # a start or stop is under way


@dataclass(frozen=True)
class RecordingContext:
    """What a recording is of: its organisation, title and care-flow ids."""

    org_id: str | None
    title: str
    context: dict[str, Any]



class RoomRecording(RoomHooks):
    """Start and stop recordings of rooms; announce them; follow the room's life."""

    def __init__(
        self,
        rooms: RoomService,
        composite: CompositeManager,
        recordings: RecordingService,
        *,
        orgs: OrgService,
        im: ImService | None = None,
        consults: Any = None,  # rooms.consults.ConsultService
        meetings: Any = None,  # rooms.meetings.service.MeetingService
    ) -> None:
        self.rooms = rooms
        self.composite = composite
        self.recordings = recordings
        self.orgs = orgs
        self.im = im
        self.consults = consults
        self.meetings = meetings

    # -- state --------------------------------------------------------------------------------

    def _state(self, room: Room) -> RecordingState:
        state = room.extras.get(KEY)
        if state is None:
            state = RecordingState()
            room.extras[KEY] = state
        return state

    def describe(self, room: Room) -> dict[str, Any]:
        """The ``recording:state`` payload of ``room``."""
        state = self._state(room)
        return {
            "room_id": room.id,
            "recording": state.recording_id is not None,
            "recording_id": state.recording_id,
            "started_by": state.started_by,
            "layout": self.composite.layout(room),
        }

    def join_state(self, room: Room, participant: Participant) -> dict[str, Any]:
        """The ``room:join`` ack's ``recording`` field."""
        return {"recording": self.describe(room)}

    def _room_of(self, session: str) -> tuple[Participant, Room]:
        participant = self.rooms.participant(session)
        if participant is None or participant.left or not participant.ready:
            raise RoomError("not_in_room", "join a room first")
        room = self.rooms.get_room(participant.room_id)
        if room is None or room.closed:
            raise RoomError("not_in_room", "the room is closed")
        return participant, room

    # -- who may record -----------------------------------------------------------------------

    async def may_record(self, participant: Participant, room: Room) -> bool:
        """Whether ``participant`` may start or stop recording ``room`` (see the module doc)."""
        identity = participant.identity
        if identity.role in NEVER_RECORD:
            return False
        principal = Principal(identity.user_id, identity.name, identity.role, identity.org)
        if room.id.startswith(CONSULT_PREFIX) and self.consults is not None:
            return bool(await self.consults.may_record(principal, room.id[len(CONSULT_PREFIX) :]))
        if not participant.host:
            return False
        return await self.orgs.allowed(principal, "recording.start")

    async def _context(self, room: Room, participant: Participant) -> RecordingContext:
        """The organisation, title and care-flow ids of a recording of ``room``."""
        org = participant.identity.org
        if room.id.startswith(CONSULT_PREFIX) and self.consults is not None:
            consult_id = room.id[len(CONSULT_PREFIX) :]
            async with self.consults.sessions() as s:
                consult = await s.get(Consult, consult_id)
            if consult is not None:
                return RecordingContext(
                    consult.org_id or org, f"Consult {consult_id[:8]}", {"consult_id": consult_id}
                )
        if room.id.startswith(MEETING_PREFIX) and self.meetings is not None:
            meeting_id = room.id[len(MEETING_PREFIX) :]
            try:
                meeting = await self.meetings.load(meeting_id)
            except Exception:  # noqa: BLE001 - a vanished meeting records as a plain room
                meeting = None
            if meeting is not None:
                return RecordingContext(
                    meeting.org_id or org, meeting.title, {"meeting_id": meeting_id}
                )
        return RecordingContext(org, room.id, {})

    # -- start / stop -------------------------------------------------------------------------

    async def start(self, session: str) -> dict[str, Any]:
        """``recording:start``: record the caller's room; everyone is told."""
        participant, room = self._room_of(session)
        if not await self.may_record(participant, room):
            raise RoomError("permission_denied", "you may not record this call")
        state = self._state(room)
        if state.recording_id is not None or state.busy:
            raise RoomError("recording_active", "the call is already being recorded")
        state.busy = True
        try:
            ctx = await self._context(room, participant)
            compositor = await self.composite.acquire(room, recording=True)
            try:
                if room.closed:
                    raise RoomError("not_in_room", "the room closed")
                recording_id = await self.recordings.start(
                    room.id,
                    room.router,
                    compositor,
                    org_id=ctx.org_id,
                    started_by=participant.identity.user_id,
                    context=ctx.context,
                    title=ctx.title,
                    layout=self.composite.layout(room),
                )
            except BaseException:
                await self.composite.release(room, recording=True)
                raise
        except RoomError:
            raise
        except Exception:
            log.exception("recording_start_failed", extra={"room_id": room.id})
            raise RoomError("recording_failed", "the recording could not start") from None
        finally:
            state.busy = False
        state.recording_id = recording_id
        state.started_by = {
            "participant_id": participant.id,
            "user_id": participant.identity.user_id,
            "name": participant.identity.name,
        }
        log.info(
            "recording_started",
            extra={"room_id": room.id, "recording_id": state.recording_id, "by": participant.id},
        )
        self.rooms._broadcast(room, "recording:state", self.describe(room))
        await self._post(
            room.id,
            "recording_started",
            user_id=participant.identity.user_id,
            name=participant.identity.name,
            recording_id=state.recording_id,
        )
        return {"ok": True, **self.describe(room)}

    async def stop(self, session: str) -> dict[str, Any]:
        """``recording:stop``: stop recording the caller's room; everyone is told."""
        participant, room = self._room_of(session)
        if not await self.may_record(participant, room):
            raise RoomError("permission_denied", "you may not stop this recording")
        state = self._state(room)
        if state.recording_id is None or state.busy:
            raise RoomError("not_recording", "the call is not being recorded")
        recording_id = await self._stop(room, "stopped", by=participant)
        return {"ok": True, **self.describe(room), "stopped_recording_id": recording_id}

    async def _stop(self, room: Room, reason: str, by: Participant | None = None) -> str | None:
        state = self._state(room)
        recording_id = state.recording_id
        if recording_id is None:
            return None
        state.busy = True
        try:
            await self.recordings.stop(room.id, reason)
        except Exception:
            log.exception("recording_stop_failed", extra={"room_id": room.id})
        finally:
            state.busy = False
            state.recording_id = None
            state.started_by = None
        await self.composite.release(room, recording=True)
        log.info(
            "recording_stopped",
            extra={"room_id": room.id, "recording_id": recording_id, "reason": reason},
        )
        if not room.closed:
            self.rooms._broadcast(room, "recording:state", self.describe(room))
        data: dict[str, Any] = {"recording_id": recording_id, "reason": reason}
        if by is not None:
            data.update(user_id=by.identity.user_id, name=by.identity.name)
        await self._post(room.id, "recording_stopped", **data)
        return recording_id

    async def _post(self, room_id: str, event: str, **data: Any) -> None:
        """A system message in the room's conversation (if it has one)."""
        if self.im is None:
            return
        try:
            conversation_id = await self.im.room_conversation_id(room_id)
            if conversation_id:
                await self.im.post_system(conversation_id, event, **data)
        except Exception:
            log.exception("recording_post_failed", extra={"room_id": room_id, "room_event": event})

    # -- layout -------------------------------------------------------------------------------

    async def set_layout(self, session: str, layout: str) -> dict[str, Any]:
        """``composite:layout`` (host): grid, speaker or pip for the composite and recording."""
        participant, room = self._room_of(session)
        if not participant.host:
            raise RoomError("permission_denied", "only the host may change the layout")
        if self.composite.set_layout(room, layout):
            payload = {"room_id": room.id, "layout": layout, "by": participant.id}
            self.rooms._broadcast(room, "composite:layout", payload)
            log.info("composite_layout", extra={"room_id": room.id, "layout": layout})
        return {"ok": True, "layout": layout}

    async def view_composite(self, session: str, on: bool) -> dict[str, Any]:
        """``media:composite``: receive the composite instead of each track, or go back."""
        participant, room = self._room_of(session)
        await self.composite.view(room, participant, on)
        return {"ok": True, "on": participant.composite}

    # -- hooks --------------------------------------------------------------------------------

    async def closing(self, room: Room) -> None:
        """The room closes (or is ended): its recording stops."""
        state = room.extras.get(KEY)
        while state is not None and state.busy and state.recording_id is None:
            await asyncio.sleep(0.05)  # a start is under way: let it finish, then stop it
        if state is not None and state.recording_id is not None:
            await self._stop(room, "room_closed")

    async def close(self) -> None:
        """Stop every recording (server shutdown); rooms closing do the same one by one."""
        for room_id in list(self.rooms._rooms):
            room = self.rooms.get_room(room_id)
            if room is not None:
                await self.closing(room)
