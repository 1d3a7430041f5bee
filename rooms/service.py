"""The room registry and the per-participant media flows (join, publish, subscribe, leave)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import sdp as aiortc_sdp

from media import MediaError, Router
from rooms.access import RoomAccessPolicy
from rooms.errors import RoomError
from rooms.hooks import RoomHooks
from rooms.host import HostControls
from rooms.negotiation import Negotiator
from rooms.notify import Notifier, Outbox, _drop
from rooms.participant import Participant, source_of
from rooms.permissions import SOURCES, Identity, check_sources, media_permissions
from rooms.room import Room

# listener(event, room_id, identity): "opened", "joined", "left", "ended" (identity: the host
# who ended it, or None) or "closed" (identity None)
RoomListener = Callable[[str, str, Identity | None], Coroutine[Any, Any, None]]

log = logging.getLogger("carertc.rooms")

MUTABLE_SOURCES = {"camera": "video_muted", "microphone": "audio_muted"}


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _unnamed_sending_mids(sdp: str, sources: dict[str, str]) -> list[str]:
    """Mids of the offer's sending audio/video m-lines that ``sources`` does not name."""
    if not sdp.lstrip().startswith("v="):
        raise RoomError("bad_sdp", "that is not an SDP offer")
    try:
        description = aiortc_sdp.SessionDescription.parse(sdp)
    except Exception:  # noqa: BLE001 - aiortc's parser raises anything, even AssertionError
        raise RoomError("bad_sdp", "the SDP offer could not be parsed") from None
    media = [m for m in description.media if m.kind in ("audio", "video")]
    if any(not m.rtp.muxId for m in media):
        raise RoomError("bad_sdp", "an m-line has no a=mid")
    return [
        str(m.rtp.muxId)
        for m in media
        if m.port != 0
        and (m.direction or "sendrecv") in ("sendonly", "sendrecv")
        and m.rtp.muxId not in sources
    ]


class RoomService(HostControls):
    """Rooms on demand, their participants, and who receives whose media (plus host controls)."""

    def __init__(
        self,
        empty_grace_seconds: float = 30.0,
        max_participants: int = 16,
        ice_servers: list[dict[str, Any]] | None = None,
        *,
        router_factory: Callable[[str], Any] | None = None,
    ) -> None:
        self.empty_grace_seconds = float(empty_grace_seconds)
        self.max_participants = int(max_participants)
        self.ice_servers: list[dict[str, Any]] = list(ice_servers or [])
        self._router_factory = router_factory or self._default_router
        self._notifier: Notifier = _drop
        self._listeners: list[RoomListener] = []
        self._hooks: list[RoomHooks] = []
        self.access = RoomAccessPolicy()
        self._rooms: dict[str, Room] = {}
        self._sessions: dict[str, Participant] = {}
        self._bans: dict[str, set[str]] = {}  # room id -> user ids the host removed
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    # -- wiring ---------------------------------------------------------------

    def set_notifier(self, notifier: Notifier) -> None:
        """Deliver server notifications through ``notifier(session, event, payload)``."""
        self._notifier = notifier

    def add_listener(self, listener: RoomListener) -> None:
        """Call ``listener(event, room_id, identity)`` on opened/joined/left/ended/closed (off the request path)."""
        self._listeners.append(listener)

    def add_hooks(self, hooks: RoomHooks) -> None:
        """Call ``hooks`` synchronously as producers, consumers and participants come and go."""
        self._hooks.append(hooks)

    def _hook(self, name: str, *args: Any) -> None:
        for hooks in self._hooks:
            try:
                getattr(hooks, name)(*args)
            except Exception:
                log.exception("room_hook_failed", extra={"hook": name})

    def _emit(self, event: str, room_id: str, identity: Identity | None) -> None:
        for listener in self._listeners:
            self._spawn(listener(event, room_id, identity), name=f"rooms.{event}:{room_id}")

    def _default_router(self, room_id: str) -> Any:
        return Router(ice_servers=self.ice_servers, app_data={"room_id": room_id})

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task_failed", extra={"task": task.get_name()}, exc_info=task.exception())

    # -- queries --------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """How many rooms are open and how many participants are in them."""
        return {
            "rooms": len(self._rooms),
            "participants": sum(len(r.participants) for r in self._rooms.values()),
        }

    def get_room(self, room_id: str) -> Room | None:
        """The open room ``room_id``, if any."""
        return self._rooms.get(room_id)

    def participant(self, session: str) -> Participant | None:
        """The participant of ``session``, if it is in a room."""
        return self._sessions.get(session)

    def _require(self, session: str) -> Participant:
        participant = self._sessions.get(session)
        if participant is None or participant.left:
            raise RoomError("not_in_room", "join a room first")
        return participant

    # -- notifications ---------------------------------------------------------

    def _send(self, participant: Participant, event: str, payload: dict[str, Any]) -> None:
        if not participant.left:
            participant.outbox.send(event, payload)

    def _broadcast(
        self, room: Room, event: str, payload: dict[str, Any], *, exclude: Participant | None = None
    ) -> None:
        # Only to participants whose join is complete: one still joining learns the
        # room's state from its join ack instead.
        for other in list(room.participants.values()):
            if other is not exclude and other.ready:
                self._send(other, event, payload)

    # -- join / leave -----------------------------------------------------------

    async def join(self, session: str, identity: Identity, room_id: str) -> dict[str, Any]:
        """Enter ``room_id`` (opening it if needed); returns the room:join ack."""
        if self._closed:
            raise RoomError("room_forbidden", "the server is shutting down")
        if session in self._sessions:
            raise RoomError("already_in_room", "this connection is already in a room")
        access = await self.access.check(identity, room_id)
        if session in self._sessions:  # joined twice while the rule was checked
            raise RoomError("already_in_room", "this connection is already in a room")
        self._check_admission(room_id, identity, access)
        room = self._rooms.get(room_id)
        if room is None:
            room = Room(id=room_id, router=self._router_factory(room_id))
            self._rooms[room_id] = room
            log.info("room_opened", extra={"room_id": room_id})
            self._emit("opened", room_id, identity)
        if len(room.participants) >= self.max_participants:
            raise RoomError("room_full", f"the room has its maximum of {self.max_participants}")
        room.cancel_empty_timer()
        participant = Participant(
            id=_new_id("p"),
            session=session,
            room_id=room_id,
            identity=identity,
            permissions=access.media or media_permissions(identity.role),
            host=access.host,
            outbox=Outbox(session, lambda: self._notifier),
        )
        # Reserve the place before the first await: capacity and already_in_room hold.
        room.participants[participant.id] = participant
        self._sessions[session] = participant
        try:
            app = {"room_id": room_id, "participant_id": participant.id,
                   "user_id": identity.user_id, "name": identity.name}  # recordings name them
            participant.send = await room.router.create_transport("send", app_data=dict(app))
            participant.recv = await room.router.create_transport("recv", app_data=dict(app))
        except BaseException:
            await self._close_transports(participant)
            await self._discard(room, participant)
            raise
        if participant.left:  # disconnected while the transports were made
            await self._close_transports(participant)
            raise RoomError("not_in_room", "the connection left while joining")
        negotiator = Negotiator(
            participant.recv,
            lambda event, payload: self._send(participant, event, payload),
            label=participant.id,
        )
        participant.negotiator = negotiator
        participant.recv.observer.on("negotiationneeded", negotiator.request)
        participant.ready = True
        for other in room.others(participant):
            for producer in list(other.producers.values()):
                self._subscribe(participant, other, producer)
        self._broadcast(
            room, "participant:joined", {"participant": participant.to_dict()}, exclude=participant
        )
        self._emit("joined", room_id, identity)
        log.info(
            "room_joined",
            extra={
                "room_id": room_id,
                "participant_id": participant.id,
                "user_id": identity.user_id,
                "role": identity.role,
                "size": len(room.participants),
            },
        )
        # The first media:offer must follow the join ack: the ack is sent as soon as
        # this coroutine returns, without yielding to the loop, so start on the next turn.
        asyncio.get_running_loop().call_soon(negotiator.enable)
        extras: dict[str, Any] = {}
        for hooks in self._hooks:
            extras.update(hooks.join_state(room, participant))
        return {
            **extras,
            "room_id": room_id,
            "participant_id": participant.id,
            "self": participant.to_dict(),
            "participants": [p.to_dict() for p in room.others(participant) if p.ready],
            "permissions": participant.permissions.to_dict(),
            "ice_servers": self.ice_servers,
            "locked": room.locked,
        }

    async def leave(self, session: str, reason: str = "left") -> None:
        """Leave the room: everything the participant published ends for the others."""
        participant = self._sessions.get(session)
        if participant is None or participant.left:
            raise RoomError("not_in_room", "this connection is not in a room")
        room = self._rooms.get(participant.room_id)
        participant.left = True
        participant.outbox.abort()
        if participant.negotiator is not None:
            participant.negotiator.close()
        await self._close_transports(participant)
        if room is not None:
            await self._discard(room, participant)
            self._hook("participant_left", room, participant)
            if participant.ready:
                self._broadcast(
                    room, "participant:left", {"participant_id": participant.id, "reason": reason}
                )
                self._emit("left", room.id, participant.identity)
        log.info(
            "room_left",
            extra={
                "room_id": participant.room_id,
                "participant_id": participant.id,
                "user_id": participant.identity.user_id,
                "reason": reason,
            },
        )

    async def _close_transports(self, participant: Participant) -> None:
        for transport in (participant.send, participant.recv):
            if transport is not None and not transport.closed:
                try:
                    await transport.close()
                except Exception:
                    log.exception(
                        "transport_close_failed", extra={"participant_id": participant.id}
                    )

    async def _discard(self, room: Room, participant: Participant) -> None:
        """Forget ``participant``; schedule the room's close if it is now empty."""
        participant.left = True
        participant.outbox.abort()
        if participant.negotiator is not None:
            participant.negotiator.close()
        room.participants.pop(participant.id, None)
        if self._sessions.get(participant.session) is participant:
            del self._sessions[participant.session]
        if not room.participants and not room.closed and self._rooms.get(room.id) is room:
            room.cancel_empty_timer()
            room.empty_timer = asyncio.get_running_loop().call_later(
                self.empty_grace_seconds,
                lambda: self._spawn(self._close_if_empty(room), name=f"rooms.close:{room.id}"),
            )

    async def _close_if_empty(self, room: Room) -> None:
        room.empty_timer = None
        if room.participants or room.closed:
            return
        await self._close_room(room)

    async def _close_room(self, room: Room) -> None:
        room.closed = True
        room.cancel_empty_timer()
        if self._rooms.get(room.id) is room:
            del self._rooms[room.id]
        for participant in list(room.participants.values()):
            participant.left = True
            participant.outbox.abort()
            if participant.negotiator is not None:
                participant.negotiator.close()
            self._sessions.pop(participant.session, None)
        room.participants.clear()
        self._forget_room(room)
        for hooks in self._hooks:
            try:
                await hooks.closing(room)
            except Exception:
                log.exception("room_hook_failed", extra={"hook": "closing", "room_id": room.id})
        try:
            await room.router.close()
        except Exception:
            log.exception("router_close_failed", extra={"room_id": room.id})
        log.info("room_closed", extra={"room_id": room.id})
        self._emit("closed", room.id, None)

    # -- publishing ---------------------------------------------------------------

    async def publish(self, session: str, sdp: str, sources: dict[str, str]) -> dict[str, Any]:
        """Apply the client's send-side offer; returns the media:publish ack."""
        participant = self._require(session)
        bad = {s for s in sources.values() if s not in SOURCES}
        if bad:
            raise RoomError("bad_request", f"unknown source(s): {', '.join(sorted(bad))}")
        check_sources(participant.permissions, set(sources.values()))
        unnamed = _unnamed_sending_mids(sdp, sources)
        if unnamed:
            raise RoomError(
                "bad_request", f"'sources' lacks sending m-line(s) {', '.join(unnamed)}"
            )
        app = {mid: {"source": source, "mid": mid} for mid, source in sources.items()}
        try:
            answer, producers = await participant.send.receive_offer(sdp, sources=app)
        except MediaError as exc:
            if participant.left:
                raise RoomError("not_in_room", "the connection left") from None
            code = (
                exc.code if exc.code in ("bad_sdp", "negotiation_failed") else "negotiation_failed"
            )
            raise RoomError(code, exc.message) from None
        if participant.left:
            raise RoomError("not_in_room", "the connection left")
        room = self._rooms[participant.room_id]
        sharing_before = participant.screen_sharing
        for producer in producers:
            if producer.id in participant.producers or producer.closed:
                continue
            self._add_producer(room, participant, producer)
        log.info(
            "media_published",
            extra={
                "room_id": room.id,
                "participant_id": participant.id,
                "producers": len(participant.producers),
            },
        )
        if participant.screen_sharing != sharing_before:
            self._broadcast(room, "participant:updated", {"participant": participant.to_dict()})
        return {
            "sdp": answer,
            "producers": [
                {
                    "id": p.id,
                    "mid": (p.app_data or {}).get("mid"),
                    "kind": p.kind,
                    "source": source_of(p),
                }
                for p in producers
                if not p.closed
            ],
        }

    def _add_producer(self, room: Room, participant: Participant, producer: Any) -> None:
        participant.producers[producer.id] = producer
        producer.observer.on("close", lambda *_: self._on_producer_closed(participant, producer))
        source = source_of(producer)
        muted_flag = MUTABLE_SOURCES.get(source or "")
        if muted_flag and getattr(participant, muted_flag) and not producer.paused:
            self._spawn(_maybe_await(producer.pause()), name=f"rooms.pause:{producer.id}")
        # before forwarding: a pixelated camera is never seen unpixelated
        self._hook("producer_added", room, participant, producer)
        for other in room.others(participant):
            self._subscribe(other, participant, producer)

    def _on_producer_closed(self, participant: Participant, producer: Any) -> None:
        if participant.producers.pop(producer.id, None) is None:
            return
        room = self._rooms.get(participant.room_id)
        if room is not None:
            self._hook("producer_closed", room, participant, producer)
        if participant.left:
            return
        if source_of(producer) == "screen" and not participant.screen_sharing:
            room = self._rooms.get(participant.room_id)
            if room is not None:
                self._broadcast(room, "participant:updated", {"participant": participant.to_dict()})

    def _subscribe(self, subscriber: Participant, publisher: Participant, producer: Any) -> None:
        """Forward ``producer`` to ``subscriber`` (negotiated with its next media:offer)."""
        if (
            not subscriber.ready
            or subscriber.left
            or producer.closed
            or producer.id in subscriber.consumed
        ):
            return
        consumer = subscriber.recv.consume(
            producer,
            app_data={"participant_id": publisher.id, "source": source_of(producer)},
        )
        subscriber.consumed.add(producer.id)
        subscriber.consumers[consumer.id] = consumer
        consumer.observer.on("close", lambda *_: self._on_consumer_closed(subscriber, consumer))
        room = self._rooms.get(subscriber.room_id)
        if room is not None:
            self._hook("consumer_added", room, subscriber, consumer)

    def _on_consumer_closed(self, subscriber: Participant, consumer: Any) -> None:
        subscriber.consumers.pop(consumer.id, None)
        if subscriber.left:
            return
        self._send(
            subscriber,
            "consumer:closed",
            {"consumer_id": consumer.id, "producer_id": consumer.producer_id},
        )

    async def answer(self, session: str, sdp: str) -> None:
        """Apply the client's answer to its outstanding media:offer."""
        participant = self._require(session)
        if participant.negotiator is None:
            raise RoomError("no_offer_pending", "there is no media:offer to answer")
        if not sdp.lstrip().startswith("v="):
            if not participant.negotiator.offer_pending:
                raise RoomError("no_offer_pending", "there is no media:offer to answer")
            raise RoomError("bad_sdp", "that is not an SDP answer")
        await participant.negotiator.answer(sdp)

    # -- mute / screen share --------------------------------------------------------

    async def set_muted(self, session: str, source: str, muted: bool) -> None:
        """Pause (or resume) forwarding ``source`` and tell everyone."""
        participant = self._require(session)
        flag = MUTABLE_SOURCES.get(source)
        if flag is None:
            raise RoomError("bad_request", "source must be camera or microphone")
        producers = participant.producers_of(source)
        if not producers:
            raise RoomError("not_publishing", f"no {source} is being published")
        for producer in producers:
            await _maybe_await(producer.pause() if muted else producer.resume())
        if participant.left:
            return
        changed = getattr(participant, flag) != muted
        setattr(participant, flag, muted)
        room = self._rooms.get(participant.room_id)
        if changed and room is not None:
            self._broadcast(room, "participant:updated", {"participant": participant.to_dict()})
        log.info(
            "media_muted" if muted else "media_unmuted",
            extra={
                "room_id": participant.room_id,
                "participant_id": participant.id,
                "source": source,
            },
        )

    async def screen_start(self, session: str) -> None:
        """Check that the participant may share a screen (before it adds the track)."""
        participant = self._require(session)
        if not participant.permissions.screen:
            raise RoomError("permission_denied", "this role may not share a screen")

    async def screen_stop(self, session: str) -> None:
        """Close the participant's screen producer(s) at once."""
        participant = self._require(session)
        producers = participant.producers_of("screen")
        if not producers:
            raise RoomError("not_publishing", "no screen is being shared")
        for producer in producers:
            await _maybe_await(producer.close())
        log.info(
            "screen_stopped",
            extra={"room_id": participant.room_id, "participant_id": participant.id},
        )

    # -- shutdown ---------------------------------------------------------------------

    async def close(self) -> None:
        """Close every room and stop background work."""
        self._closed = True
        for room in list(self._rooms.values()):
            await self._close_room(room)
        tasks = [t for t in self._tasks if not t.done()]
        if tasks:  # let listeners record the ends of calls, briefly
            _, tasks_left = await asyncio.wait(tasks, timeout=2.0)
            tasks = list(tasks_left)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
