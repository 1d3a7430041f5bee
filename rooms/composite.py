"""The room's composite: one compositor per room, its inputs following the participants.

A room has a compositor while something needs it: a recording (its composite
file) or a participant who asked for the composite view (``media:composite``).
Each participant is one input (camera, microphone, screen share); inputs follow
publishes, unpublishes and leaves. The layout (grid, speaker, pip) is the
host's choice and outlives the compositor (kept in ``room.extras``).

A participant in composite view receives the composite's video and audio
(local producers, source ``composite``) and has its other consumers paused;
turning the view off resumes them and ends the composite consumers.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from carertc.config import LAYOUTS, RecordingSettings
from media.compositor import Compositor
from rooms.errors import RoomError
from rooms.hooks import RoomHooks
from rooms.participant import Participant, source_of
from rooms.room import Room

log = logging.getLogger("carertc.rooms")

COMPOSITE_SOURCE = "composite"
KEY = "composite"


@dataclass(eq=False)
class RoomComposite:
    """One room's composite state."""

    layout: str
    compositor: Any = None  # media.compositor.Compositor while one runs
    producers: tuple[Any, Any] | None = None  # (video, audio) local producers for viewers
    viewers: dict[str, list[Any]] = field(default_factory=dict)  # participant id -> consumers
    recording: bool = False  # a recording holds the compositor


def is_composite_consumer(consumer: Any) -> bool:
    """Whether ``consumer`` forwards the room's composite (not a participant's track)."""
    return (consumer.app_data or {}).get("source") == COMPOSITE_SOURCE


class CompositeManager(RoomHooks):
    """Creates, feeds and closes each room's compositor; the composite view of participants."""

    def __init__(self, settings: RecordingSettings) -> None:
        self.settings = settings
        self._tasks: set[asyncio.Task[None]] = set()

    # -- state ------------------------------------------------------------------------------

    def state(self, room: Room) -> RoomComposite:
        """The room's composite state (created with the default layout)."""
        state = room.extras.get(KEY)
        if state is None:
            state = RoomComposite(layout=self.settings.default_layout)
            room.extras[KEY] = state
        return state

    def layout(self, room: Room) -> str:
        """The room's layout."""
        return self.state(room).layout

    def set_layout(self, room: Room, layout: str) -> bool:
        """Use ``layout`` from now on; False if it was already the layout."""
        if layout not in LAYOUTS:
            raise RoomError("bad_request", f"'layout' must be one of {', '.join(LAYOUTS)}")
        state = self.state(room)
        if state.layout == layout:
            return False
        state.layout = layout
        if state.compositor is not None:
            state.compositor.set_layout(layout)
        return True

    # -- the compositor ---------------------------------------------------------------------

    async def acquire(self, room: Room, *, recording: bool = False) -> Any:
        """The room's running compositor (started now if needed)."""
        state = self.state(room)
        if recording:
            state.recording = True
        if state.compositor is None:
            s = self.settings
            compositor = Compositor(
                width=s.composite_width,
                height=s.composite_height,
                fps=s.composite_fps,
                video_codec=s.composite_codec,
                layout=state.layout,
            )
            state.compositor = compositor
            for participant in room.participants.values():
                if participant.ready and not participant.left:
                    self._set_input(compositor, participant)
            try:
                await compositor.start()
            except BaseException:
                state.compositor = None
                state.recording = False
                await compositor.close()
                raise
            log.info("composite_started", extra={"room_id": room.id, "layout": state.layout})
        return state.compositor

    async def release(self, room: Room, *, recording: bool = False) -> None:
        """A user of the compositor is done; close it once nobody needs it."""
        state = self.state(room)
        if recording:
            state.recording = False
        if state.recording or state.viewers or state.compositor is None:
            return
        await self._close(room, state)

    async def _close(self, room: Room, state: RoomComposite) -> None:
        compositor, producers = state.compositor, state.producers
        state.compositor = None
        state.producers = None
        for participant_id in list(state.viewers):
            viewer = room.participants.get(participant_id)
            if viewer is not None:
                self._resume_tracks(viewer)
                viewer.composite = False
        state.viewers.clear()
        for producer in producers or ():
            producer.close()
        if compositor is not None:
            try:
                await compositor.close()
            except Exception:
                log.exception("composite_close_failed", extra={"room_id": room.id})
            log.info("composite_stopped", extra={"room_id": room.id})

    def _set_input(self, compositor: Any, participant: Participant) -> None:
        def first(source: str) -> Any:
            return next(iter(participant.producers_of(source)), None)

        video, audio, screen = first("camera"), first("microphone"), first("screen")
        if video is None and audio is None and screen is None:
            compositor.remove_input(participant.id)
            return
        compositor.set_input(
            participant.id,
            label=participant.identity.name,
            video=video,
            audio=audio,
            screen=screen,
        )

    # -- composite view ---------------------------------------------------------------------

    async def view(self, room: Room, participant: Participant, on: bool) -> None:
        """Receive the composite instead of each track (``on``), or go back to the tracks."""
        state = self.state(room)
        if on == participant.composite:
            return
        if not on:
            self._end_view(room, participant)
            await self.release(room)
            return
        compositor = await self.acquire(room)
        if participant.left or room.closed:
            await self.release(room)
            raise RoomError("not_in_room", "the connection left")
        if state.producers is None:
            state.producers = tuple(compositor.create_producers(room.router))  # type: ignore[assignment]
        consumers = [
            participant.recv.consume(
                producer, app_data={"participant_id": None, "source": COMPOSITE_SOURCE}
            )
            for producer in state.producers or ()
        ]
        participant.composite = True
        state.viewers[participant.id] = consumers
        for consumer in consumers:
            participant.consumers[consumer.id] = consumer
            consumer.observer.on(
                "close", lambda *_, c=consumer: self._consumer_closed(participant, c)
            )
        for consumer in list(participant.consumers.values()):
            if not is_composite_consumer(consumer):
                consumer.pause()
        log.info("composite_view", extra={"room_id": room.id, "participant_id": participant.id})

    @staticmethod
    def _consumer_closed(participant: Participant, consumer: Any) -> None:
        participant.consumers.pop(consumer.id, None)
        if not participant.left:
            payload = {"consumer_id": consumer.id, "producer_id": consumer.producer_id}
            participant.outbox.send("consumer:closed", payload)

    def _end_view(self, room: Room, participant: Participant) -> None:
        state = self.state(room)
        participant.composite = False
        for consumer in state.viewers.pop(participant.id, []):
            consumer.close()
        self._resume_tracks(participant)

    @staticmethod
    def _resume_tracks(participant: Participant) -> None:
        if participant.left:
            return
        for consumer in list(participant.consumers.values()):
            if not is_composite_consumer(consumer):
                consumer.resume()

    # -- hooks ------------------------------------------------------------------------------

    def producer_added(self, room: Room, participant: Participant, producer: Any) -> None:
        """A new track of ``participant`` goes into the composite."""
        compositor = self.state(room).compositor
        if compositor is not None and source_of(producer) is not None:
            self._set_input(compositor, participant)

    def producer_closed(self, room: Room, participant: Participant, producer: Any) -> None:
        """An ended track leaves the composite."""
        compositor = self.state(room).compositor
        if compositor is not None and not participant.left:
            self._set_input(compositor, participant)

    def consumer_added(self, room: Room, subscriber: Participant, consumer: Any) -> None:
        """A viewer of the composite gets new tracks paused."""
        if subscriber.composite and not is_composite_consumer(consumer):
            consumer.pause()

    def participant_left(self, room: Room, participant: Participant) -> None:
        """The participant's input goes; a viewer who left stops holding the compositor."""
        state = self.state(room)
        if state.compositor is not None:
            state.compositor.remove_input(participant.id)
        was_viewer = state.viewers.pop(participant.id, None) is not None
        if was_viewer and not state.viewers and not state.recording and not room.closed:
            # closing waits for the compositor's threads: off the request path
            task = asyncio.get_running_loop().create_task(
                self.release(room), name=f"rooms.composite_release:{room.id}"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def closing(self, room: Room) -> None:
        """The room closes: the compositor goes (after any recording stopped)."""
        state = room.extras.get(KEY)
        if state is not None:
            state.recording = False
            state.viewers.clear()
            await self._close(room, state)
