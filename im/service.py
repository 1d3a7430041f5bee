"""The messaging service: sending, catch-up, receipts, recall and edit.

Conversations and members live in :mod:`im.conversations`; :class:`ImService`
extends that store with messages.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from im import wire
from im.conversations import MESSAGES, Actor, ConversationStore, Publisher
from im.errors import ImError, not_found
from im.models import Attachment, Conversation, Member, Message, utcnow
from im.validation import ATTACHMENT_TYPES, SYSTEM_EVENTS, SendRequest
from im.writer import Draft, MessageWriter, Written

log = logging.getLogger(__name__)

__all__ = ["Actor", "ImService", "Publisher"]


class ImService(ConversationStore):
    """Conversations and messages on SQLite or PostgreSQL."""

    def __init__(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        *,
        recall_window_seconds: int = 120,
        max_text_length: int = 4000,
    ) -> None:
        super().__init__(sessions)
        self.engine = engine
        self.recall_window = timedelta(seconds=recall_window_seconds)
        self.max_text_length = max_text_length
        self.writer = MessageWriter(engine)
        self._recall_hooks: list[Callable[[dict[str, Any]], Awaitable[None]]] = []

    def add_recall_hook(self, hook: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Call ``hook(row)`` with the stored row (payload intact) after a recall commits."""
        self._recall_hooks.append(hook)

    def totals(self) -> dict[str, int]:
        """Counters for /metrics."""
        return {"messages_written": self.writer.written, "write_batches": self.writer.batches}

    async def close(self) -> None:
        """Store what is queued and stop the writer."""
        await self.writer.close()

    # -- messages --------------------------------------------------------------------

    async def send(
        self, actor: Actor, req: SendRequest, origin: str | None = None
    ) -> dict[str, Any]:
        """Store a message (idempotent on ``client_msg_id``); publish it; return the ack."""
        payload = req.payload
        if req.type in ATTACHMENT_TYPES or "attachment_id" in payload:
            payload = await self._attachment_payload(actor, req, payload)
        written = await self.writer.write(
            Draft(
                req.conversation_id, actor.user_id, req.client_msg_id, req.type, req.body, payload
            )
        )
        self.remember_name(actor.user_id, actor.name)
        if not written.duplicate:
            msg = wire.message(written.row, {actor.user_id: actor.name})
            await self.publish(written.members, "im:message", msg, origin)
        return wire.ack(written.row, written.duplicate)

    async def _attachment_payload(
        self, actor: Actor, req: SendRequest, payload: dict[str, Any]
    ) -> dict[str, Any]:
        async with self.sessions() as s:
            att = await s.get(Attachment, payload["attachment_id"])
        if att is None or att.conversation_id != req.conversation_id:
            raise ImError("attachment_not_found", "no such attachment in this conversation")
        if req.type in ATTACHMENT_TYPES and att.kind != req.type and req.type != "file":
            raise ImError("bad_request", f"the attachment is a {att.kind}, not a {req.type}")
        return {
            **payload,
            "filename": att.filename,
            "content_type": att.content_type,
            "size": att.size,
            "width": att.width,
            "height": att.height,
            "has_thumbnail": att.thumbnail_name is not None,
        }

    async def post_system(self, conversation_id: str, event: str, **data: Any) -> dict[str, Any]:
        """Store and publish a system message; ``event`` is one of ``SYSTEM_EVENTS``."""
        if event not in SYSTEM_EVENTS:  # clients render these by name (docs/IM.md)
            raise ValueError(f"unknown system event {event!r}")
        written: Written = await self.writer.write(
            Draft(conversation_id, None, None, "system", "", {"event": event, **data})
        )
        msg = wire.message(written.row, {})
        await self.publish(written.members, "im:message", msg, None)
        return msg

    async def sync(
        self, user_id: str, conversation_id: str, since_seq: int, limit: int
    ) -> dict[str, Any]:
        """Messages with seq > ``since_seq``, ascending, at most ``limit``."""
        await self.membership(user_id, conversation_id)
        async with self.sessions() as s:
            rows = (
                await s.execute(
                    select(MESSAGES)
                    .where(
                        MESSAGES.c.conversation_id == conversation_id, MESSAGES.c.seq > since_seq
                    )
                    .order_by(MESSAGES.c.seq)
                    .limit(limit + 1)
                )
            ).all()
            last_seq = (
                await s.execute(
                    select(Conversation.last_seq).where(Conversation.id == conversation_id)
                )
            ).scalar_one()
        has_more = len(rows) > limit
        return {
            "messages": await self._messages(rows[:limit]),
            "last_seq": last_seq,
            "has_more": has_more,
        }

    async def history(
        self, user_id: str, conversation_id: str, before_seq: int | None, limit: int
    ) -> dict[str, Any]:
        """The ``limit`` messages just before ``before_seq`` (the newest if None), ascending."""
        await self.membership(user_id, conversation_id)
        q = select(MESSAGES).where(MESSAGES.c.conversation_id == conversation_id)
        if before_seq is not None:
            q = q.where(MESSAGES.c.seq < before_seq)
        async with self.sessions() as s:
            rows = (await s.execute(q.order_by(MESSAGES.c.seq.desc()).limit(limit + 1))).all()
        has_more = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        return {"messages": await self._messages(rows), "has_more": has_more}

    async def mark_read(self, actor: Actor, conversation_id: str, seq: int) -> int:
        """Move the user's read sequence forward (never back); send a receipt to the others."""
        async with self.sessions() as s, s.begin():
            last_seq = (
                await s.execute(
                    select(Conversation.last_seq).where(Conversation.id == conversation_id)
                )
            ).scalar_one_or_none()
            member = await s.get(Member, (conversation_id, actor.user_id), with_for_update=True)
            if member is None or last_seq is None:
                raise not_found()
            target = min(seq, last_seq)
            moved = target > member.read_seq
            if moved:
                member.read_seq = target
            read_seq = member.read_seq
        if moved:
            members = await self.member_ids(conversation_id)
            await self.publish(
                members,
                "im:read",
                {
                    "conversation_id": conversation_id,
                    "user_id": actor.user_id,
                    "read_seq": read_seq,
                },
                None,
            )
        return read_seq

    async def _message_for(self, actor: Actor, message_id: str) -> tuple[Message, Member | None]:
        async with self.sessions() as s:
            msg = await s.get(Message, message_id)
            member = (
                await s.get(Member, (msg.conversation_id, actor.user_id))
                if msg is not None
                else None
            )
        if msg is None or (member is None and not actor.is_admin):
            raise ImError("message_not_found", "no such message")
        return msg, member

    async def get_message(self, actor: Actor, message_id: str) -> dict[str, Any]:
        """One message, for a member of its conversation."""
        msg, _ = await self._message_for(actor, message_id)
        return await self._message(_row_of(msg))

    async def recall(self, actor: Actor, message_id: str) -> dict[str, Any]:
        """Recall (sender, within the window) or remove (owner/admin) a message; keep a tombstone."""
        msg, member = await self._message_for(actor, message_id)
        moderator = actor.is_admin or (member is not None and member.role == "owner")
        if msg.sender_id != actor.user_id and not moderator:
            raise ImError(
                "not_allowed", "only the sender, the conversation's owner or an admin may recall"
            )
        if msg.sender_id == actor.user_id and not moderator:
            self._check_window(msg)
        now = utcnow()
        async with self.sessions() as s, s.begin():
            result = await s.execute(
                update(Message)
                .where(Message.id == message_id, Message.recalled_at.is_(None))
                .values(recalled_at=now, recalled_by=actor.user_id)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise ImError("already_recalled", "the message was already recalled")
        for hook in self._recall_hooks:
            try:
                await hook(_row_of(msg))
            except Exception:
                log.exception("recall_hook_failed", extra={"message_id": message_id})
        return await self._updated(message_id, msg.conversation_id)

    async def edit(self, actor: Actor, message_id: str, body: str) -> dict[str, Any]:
        """Change a text message's body (sender, within the recall window)."""
        msg, _ = await self._message_for(actor, message_id)
        if msg.sender_id != actor.user_id or msg.type != "text":
            raise ImError("not_allowed", "only the sender may edit, and only a text message")
        if msg.recalled_at is not None:
            raise ImError("already_recalled", "the message was recalled")
        self._check_window(msg)
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(body=body, edited_at=utcnow())
            )
        return await self._updated(message_id, msg.conversation_id)

    def _check_window(self, msg: Message) -> None:
        created = msg.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=utcnow().tzinfo)
        if utcnow() - created > self.recall_window:
            raise ImError(
                "recall_window_passed",
                f"messages can be recalled or edited for {int(self.recall_window.total_seconds())} s",
            )

    async def _updated(self, message_id: str, conversation_id: str) -> dict[str, Any]:
        async with self.sessions() as s:
            row = (await s.execute(select(MESSAGES).where(MESSAGES.c.id == message_id))).one()
        message = await self._message(row)
        await self.publish(await self.member_ids(conversation_id), "im:updated", message, None)
        return message

    async def typing(self, actor: Actor, conversation_id: str, typing: bool) -> list[str]:
        """Check membership; return the other members to tell."""
        await self.membership(actor.user_id, conversation_id)
        return [u for u in await self.member_ids(conversation_id) if u != actor.user_id]


def _row_of(msg: Message) -> dict[str, Any]:
    return {c.name: getattr(msg, c.key) for c in Message.__table__.columns}
