"""Socket.IO edge of messaging: validate ``im:*`` requests, call :class:`im.ImService`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from im import Actor, ImService
from im import validation as v
from im.presence import Presence, TypingTimers
from rooms import Identity
from signaling.server import Signaling

log = logging.getLogger("carertc.signaling.im")


def actor(identity: Identity) -> Actor:
    """The messaging view of a verified identity."""
    return Actor(identity.user_id, identity.name, identity.role)


class ImSignaling:
    """Registers the ``im:*`` events and presence on a :class:`Signaling`."""

    def __init__(self, signaling: Signaling, im: ImService, presence: Presence | None = None):
        self.signaling = signaling
        self.im = im
        self.presence = presence or Presence()
        self.typing_timers = TypingTimers()
        im.set_publisher(signaling.to_users)
        for event, handler in {
            "im:conversations": self.conversations,
            "im:send": self.send,
            "im:sync": self.sync,
            "im:history": self.history,
            "im:read": self.read,
            "im:typing": self.typing,
            "im:recall": self.recall,
            "im:edit": self.edit,
            "im:presence": self.online,
        }.items():
            signaling.register(event, handler)
        signaling.connect_hooks.append(self.on_connect)
        signaling.disconnect_hooks.append(self.on_disconnect)

    async def on_connect(self, sid: str, identity: Identity) -> None:
        """First device online: tell the user's contacts."""
        self.im.remember_name(identity.user_id, identity.name)
        if await self.presence.came(identity.user_id, sid):
            await self._announce(identity.user_id, True)

    async def on_disconnect(self, sid: str, identity: Identity) -> None:
        """Last device gone: stop their typing and tell their contacts."""
        if await self.presence.went(identity.user_id, sid):
            for conv in self.typing_timers.stop_user(identity.user_id):
                await self._typing_event(identity, conv, False)
            await self._announce(identity.user_id, False)

    async def _announce(self, user_id: str, online: bool) -> None:
        contacts = await self.im.contacts(user_id)
        if contacts:
            await self.signaling.to_users(
                contacts, "im:presence", {"user_id": user_id, "online": online}
            )

    async def conversations(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """im:conversations {} -> {conversations}."""
        v.obj(data)
        return {"conversations": await self.im.conversations(identity.user_id)}

    async def send(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """im:send {conversation_id, client_msg_id, type, body, payload} -> {id, seq, created_at, duplicate}."""
        req = v.send_request(data, max_text_length=self.im.max_text_length)
        ack = await self.im.send(actor(identity), req, origin=sid)
        if self.typing_timers.stop((req.conversation_id, identity.user_id)):
            await self._typing_event(identity, req.conversation_id, False)
        return ack

    async def sync(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """im:sync {conversation_id, since_seq, limit?} -> {messages, last_seq, has_more}."""
        d = v.obj(data)
        conv = v.ident(d, "conversation_id")
        return await self.im.sync(
            identity.user_id, conv, v.seq(d, "since_seq", default=0), v.limit(d)
        )

    async def history(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """im:history {conversation_id, before_seq?, limit?} -> {messages, has_more}."""
        d = v.obj(data)
        conv = v.ident(d, "conversation_id")
        before = v.seq(d, "before_seq") if d.get("before_seq") is not None else None
        return await self.im.history(identity.user_id, conv, before, v.limit(d))

    async def read(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """im:read {conversation_id, seq} -> {read_seq}."""
        d = v.obj(data)
        conv = v.ident(d, "conversation_id")
        return {"read_seq": await self.im.mark_read(actor(identity), conv, v.seq(d, "seq"))}

    async def typing(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """im:typing {conversation_id, typing} -> ok; others get im:typing, expiring after 6 s."""
        d = v.obj(data)
        conv = v.ident(d, "conversation_id")
        typing = d.get("typing", True)
        if not isinstance(typing, bool):
            raise v.bad("'typing' must be true or false")
        await self.im.membership(identity.user_id, conv)
        key = (conv, identity.user_id)
        if typing:
            self.typing_timers.start(key, lambda: self._expire(identity, conv))
        elif not self.typing_timers.stop(key):
            return {"ok": True}
        await self._typing_event(identity, conv, typing)
        return {"ok": True}

    def _expire(self, identity: Identity, conv: str) -> None:
        task = asyncio.get_running_loop().create_task(self._typing_event(identity, conv, False))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _typing_event(
        self, identity: Identity, conv: str, typing: bool
    ) -> None:
        others = [u for u in await self.im.member_ids(conv) if u != identity.user_id]
        await self.signaling.to_users(
            others,
            "im:typing",
            {
                "conversation_id": conv,
                "user_id": identity.user_id,
                "name": identity.name,
                "typing": typing,
            },
        )

    async def recall(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """im:recall {message_id} -> {message}."""
        d = v.obj(data)
        return {"message": await self.im.recall(actor(identity), v.ident(d, "message_id"))}

    async def edit(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """im:edit {message_id, body} -> {message}."""
        d = v.obj(data)
        body = v.text_body(d, max_text_length=self.im.max_text_length)
        return {"message": await self.im.edit(actor(identity), v.ident(d, "message_id"), body)}

    async def online(self, sid: str, identity: Identity, data: Any) -> dict[str, Any]:
        """im:presence {conversation_id} -> {online: [user_id]}."""
        d = v.obj(data)
        conv = v.ident(d, "conversation_id")
        await self.im.membership(identity.user_id, conv)
        return {"online": await self.presence.who(await self.im.member_ids(conv))}

    async def close(self) -> None:
        """Disarm typing timers; release presence."""
        self.typing_timers.clear()
        await self.presence.close()
