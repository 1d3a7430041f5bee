"""The conversation beside every call: members follow the call, system messages mark it."""

from __future__ import annotations

import asyncio
import logging

from im import Actor, ImService
from rooms.permissions import Identity

log = logging.getLogger("carertc.rooms")


class RoomChat:
    """A room listener: joining a call makes you a member of its conversation.

    Posts ``call_started`` when a room opens, ``joined``/``left`` as people come
    and go, and ``call_ended`` when it closes. Events of one room are handled in
    the order they happened (one FIFO lock per room).
    """

    def __init__(self, im: ImService) -> None:
        self.im = im
        self._locks: dict[str, asyncio.Lock] = {}
        self._conversations: dict[str, str] = {}

    async def __call__(self, event: str, room_id: str, identity: Identity | None) -> None:
        """Handle one room event."""
        lock = self._locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            try:
                await self._handle(event, room_id, identity)
            except Exception:
                log.exception("room_chat_failed", extra={"room_id": room_id, "room_event": event})
            finally:
                if event == "closed":
                    self._locks.pop(room_id, None)
                    self._conversations.pop(room_id, None)

    async def _handle(self, event: str, room_id: str, identity: Identity | None) -> None:
        if identity is not None:
            actor = Actor(identity.user_id, identity.name, identity.role)
            conv_id, _ = await self.im.ensure_room_conversation(actor, room_id)
            self._conversations[room_id] = conv_id
        conv_id = (
            self._conversations.get(room_id) or await self.im.room_conversation_id(room_id) or ""
        )
        if not conv_id:
            return
        if event == "opened":
            await self.im.post_system(conv_id, "call_started")
        elif event in ("joined", "left") and identity is not None:
            await self.im.post_system(conv_id, event, user_id=identity.user_id, name=identity.name)
        elif event == "closed":
            await self.im.post_system(conv_id, "call_ended")
