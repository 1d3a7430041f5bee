"""The Socket.IO server: auth on connect, validated requests -> rooms, acks and errors."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import socketio
from aiohttp import web

from accounts.errors import AuthError
from accounts.flow_errors import FlowError
from accounts.orgs import PermissionDenied
from im.errors import ImError
from rooms import Identity, RoomError, RoomService
from signaling import validation
from signaling.validation import BadRequest

log = logging.getLogger("carertc.signaling")

Handler = Callable[[str, Identity, Any], Awaitable[dict[str, Any]]]
OK: dict[str, Any] = {"ok": True}


def user_room(user_id: str) -> str:
    """The Socket.IO room holding every socket of one user."""
    return f"user:{user_id}"


def error(code: str, message: str) -> dict[str, dict[str, str]]:
    """The wire form of an error ack."""
    return {"error": {"code": code, "message": message}}


class Signaling:
    """Connects Socket.IO events to the room service."""

    def __init__(self, sio: socketio.AsyncServer, *, tokens: Any, users: Any, rooms: RoomService):
        self.sio = sio
        self.tokens = tokens
        self.users = users
        self.rooms = rooms
        self.identities: dict[str, Identity] = {}
        self.connect_hooks: list[Callable[[str, Identity], Awaitable[None]]] = []
        self.disconnect_hooks: list[Callable[[str, Identity], Awaitable[None]]] = []
        sio.on("connect", self.on_connect)
        sio.on("disconnect", self.on_disconnect)
        for event, handler in {
            "room:join": self.room_join,
            "room:leave": self.room_leave,
            "media:publish": self.media_publish,
            "media:answer": self.media_answer,
            "media:mute": self.media_mute,
            "media:unmute": self.media_unmute,
            "screen:start": self.screen_start,
            "screen:stop": self.screen_stop,
        }.items():
            self.register(event, handler)
        sio.on("*", self.unknown_event)
        rooms.set_notifier(self.notify)

    def register(self, event: str, handler: Handler) -> None:
        """Handle ``event`` with ``handler(sid, identity, data) -> ack`` (errors become error acks)."""
        self.sio.on(event, self._request(event, handler))

    # -- connection -------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Verify the token in ``auth.token``; refuse with an error object otherwise."""
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            claims = self.tokens.verify(token)
            if inspect.isawaitable(claims):
                claims = await claims
            if self.users is not None and not await self.users.is_active(claims.sub):
                raise AuthError("user_disabled")
        except AuthError as exc:
            log.info("socket_refused", extra={"sid": sid, "code": exc.code})
            body = error(exc.code, exc.message)
            raise socketio.exceptions.ConnectionRefusedError(exc.message, body) from None
        except Exception:
            log.exception("socket_connect_failed", extra={"sid": sid})
            body = error("internal_error", "internal error")
            raise socketio.exceptions.ConnectionRefusedError("internal error", body) from None
        identity = Identity(
            user_id=claims.sub,
            name=claims.name,
            role=claims.role,
            room_grant=claims.room,
            org=claims.org,
        )
        self.identities[sid] = identity
        await self.sio.enter_room(sid, user_room(claims.sub))
        for hook in self.connect_hooks:
            try:
                await hook(sid, identity)
            except Exception:
                log.exception("connect_hook_failed", extra={"sid": sid})
        log.info("socket_connected", extra={"sid": sid, "user_id": claims.sub, "role": claims.role})

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        """Leave the room the socket was in."""
        identity = self.identities.pop(sid, None)
        try:
            if self.rooms.participant(sid) is not None:
                await self.rooms.leave(sid, reason="disconnected")
        except RoomError:
            pass
        except Exception:
            log.exception("socket_disconnect_failed", extra={"sid": sid})
        if identity is not None:
            for hook in self.disconnect_hooks:
                try:
                    await hook(sid, identity)
                except Exception:
                    log.exception("disconnect_hook_failed", extra={"sid": sid})
        log.info(
            "socket_disconnected",
            extra={
                "sid": sid,
                "user_id": identity.user_id if identity else None,
                "reason": str(reason),
            },
        )

    async def notify(self, session: str, event: str, payload: dict[str, Any]) -> None:
        """rooms/ notifier: emit ``event`` to one socket."""
        await self.sio.emit(event, payload, to=session)

    async def to_users(
        self, user_ids: Iterable[str], event: str, payload: dict[str, Any], skip: str | None = None
    ) -> None:
        """Emit ``event`` to every device of every user in ``user_ids`` (except socket ``skip``)."""
        rooms = [user_room(uid) for uid in user_ids]
        if rooms:  # one emit: the packet is encoded once for all recipients
            await self.sio.emit(event, payload, to=rooms, skip_sid=skip)

    # -- requests --------------------------------------------------------------------------

    def _request(self, event: str, handler: Handler) -> Callable[..., Awaitable[dict[str, Any]]]:
        async def on_event(sid: str, data: Any = None, *_: Any) -> dict[str, Any]:
            started = time.monotonic()
            identity = self.identities.get(sid)
            try:
                if identity is None:
                    result = error("not_in_room", "the connection is not authenticated")
                else:
                    result = await handler(sid, identity, data)
            except BadRequest as exc:
                result = error("bad_request", exc.message)
            except (RoomError, ImError, FlowError, PermissionDenied) as exc:
                result = exc.to_dict()
            except Exception:
                log.exception("request_failed", extra={"sid": sid, "sio_event": event})
                result = error("internal_error", "internal error")
            outcome = result["error"]["code"] if "error" in result else "ok"
            log.info(
                "request",
                extra={
                    "sid": sid,
                    "user_id": identity.user_id if identity else None,
                    "sio_event": event,
                    "result": outcome,
                    "ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
            return result

        on_event.__name__ = f"on_{event.replace(':', '_')}"
        return on_event

    async def unknown_event(self, event: str, sid: str, *_: Any) -> dict[str, Any]:
        """Any event without a handler."""
        log.info("unknown_event", extra={"sid": sid, "sio_event": str(event)[:64]})
        return error("unknown_event", "the server does not handle that event")

    async def room_join(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """room:join {room_id} -> the join ack."""
        room_id = validation.room_join(data)
        return await self.rooms.join(sid, identity, room_id)

    async def room_leave(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """room:leave {} -> ok."""
        validation.empty(data)
        await self.rooms.leave(sid, reason="left")
        return OK

    async def media_publish(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """media:publish {sdp, sources} -> {sdp, producers}."""
        sdp, sources = validation.media_publish(data)
        return await self.rooms.publish(sid, sdp, sources)

    async def media_answer(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """media:answer {sdp} -> ok."""
        sdp = validation.media_answer(data)
        await self.rooms.answer(sid, sdp)
        return OK

    async def media_mute(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """media:mute {source} -> ok."""
        await self.rooms.set_muted(sid, validation.media_mute(data), True)
        return OK

    async def media_unmute(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """media:unmute {source} -> ok."""
        await self.rooms.set_muted(sid, validation.media_mute(data), False)
        return OK

    async def screen_start(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """screen:start {} -> ok (permission check)."""
        validation.empty(data)
        await self.rooms.screen_start(sid)
        return OK

    async def screen_stop(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """screen:stop {} -> ok."""
        validation.empty(data)
        await self.rooms.screen_stop(sid)
        return OK


class TextPacket(socketio.packet.Packet):
    """Socket.IO packets without binary attachments: no event carries bytes, so the
    per-emit scan of the payload for binary data (12% of a busy server) is skipped."""

    uses_binary_events = False


SIGNALING_KEY = web.AppKey("carertc.signaling", Signaling)


def attach(
    app: web.Application,
    *,
    tokens: Any,
    users: Any,
    rooms: RoomService,
    client_manager: socketio.AsyncManager | None = None,
) -> socketio.AsyncServer:
    """Mount the Socket.IO server on ``app`` at /socket.io/ and wire it to ``rooms``.

    ``client_manager`` (e.g. ``socketio.AsyncRedisManager``) fans events out
    across server processes; by default they stay in this process.
    """
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        serializer=TextPacket,
        client_manager=client_manager,
        logger=False,
        engineio_logger=False,
    )
    sio.attach(app)
    app[SIGNALING_KEY] = Signaling(sio, tokens=tokens, users=users, rooms=rooms)
    return sio
