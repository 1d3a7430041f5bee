"""Conversations and their members: create, list with unread counts, join, leave."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.models import User
from accounts.roles import STAFF_ROLES
from im import wire
from im.errors import ImError, not_found
from im.models import Conversation, Member, Message, new_id

log = logging.getLogger(__name__)

# (user ids, event, payload, socket id to skip) -> delivered to every device of those users
Publisher = Callable[[Iterable[str], str, dict[str, Any], str | None], Awaitable[None]]

MESSAGES: Table = Message.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Actor:
    """Who is asking: a verified user id, display name and global role."""

    user_id: str
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        """Global administrators may moderate and export any conversation."""
        return self.role == "admin"


async def _no_publish(
    user_ids: Iterable[str], event: str, payload: dict[str, Any], skip: str | None
) -> None:
    return None


class ConversationStore:
    """Conversations, members and display names; :class:`im.service.ImService` adds messages."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.publish: Publisher = _no_publish
        self._names: dict[str, str] = {}

    def set_publisher(self, publish: Publisher) -> None:
        """Where events for users go (the Socket.IO edge)."""
        self.publish = publish

    async def post_system(self, conversation_id: str, event: str, **data: Any) -> dict[str, Any]:
        """Store and publish a system message (implemented by the message service)."""
        raise NotImplementedError

    # -- names --------------------------------------------------------------------

    async def names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Display names for ``user_ids`` (cached; unknown ids are left out)."""
        wanted = {u for u in user_ids if u}
        missing = wanted - self._names.keys()
        if missing:
            async with self.sessions() as s:
                rows = await s.execute(
                    select(User.id, User.display_name).where(User.id.in_(missing))
                )
                for uid, name in rows:
                    self._names[uid] = name
        return {u: self._names[u] for u in wanted if u in self._names}

    def remember_name(self, user_id: str, name: str) -> None:
        """Note a display name seen in a verified token."""
        self._names[user_id] = name

    async def _message(self, row: Any) -> dict[str, Any]:
        mapping = row._mapping if hasattr(row, "_mapping") else row
        names = await self.names([mapping["sender_id"]] if mapping["sender_id"] else [])
        return wire.message(mapping, names)

    async def _messages(self, rows: Sequence[Any]) -> list[dict[str, Any]]:
        maps = [r._mapping for r in rows]
        names = await self.names(m["sender_id"] for m in maps)
        return [wire.message(m, names) for m in maps]

    # -- membership ----------------------------------------------------------------

    async def membership(self, user_id: str, conversation_id: str) -> Member:
        """The user's membership; ``conversation_not_found`` if not a member."""
        async with self.sessions() as s:
            member = await s.get(Member, (conversation_id, user_id))
        if member is None:
            raise not_found()
        return member

    async def _can_moderate(self, actor: Actor, conversation_id: str) -> bool:
        if actor.is_admin:
            return True
        async with self.sessions() as s:
            member = await s.get(Member, (conversation_id, actor.user_id))
        return member is not None and member.role == "owner"

    async def member_ids(self, conversation_id: str) -> list[str]:
        """Every member's user id."""
        async with self.sessions() as s:
            rows = await s.execute(
                select(Member.user_id).where(Member.conversation_id == conversation_id)
            )
            return [r[0] for r in rows]

    async def contacts(self, user_id: str) -> list[str]:
        """Users who share a conversation with ``user_id`` (for presence)."""
        mine = select(Member.conversation_id).where(Member.user_id == user_id)
        async with self.sessions() as s:
            rows = await s.execute(
                select(Member.user_id)
                .where(Member.conversation_id.in_(mine), Member.user_id != user_id)
                .distinct()
            )
            return [r[0] for r in rows]

    # -- conversations ---------------------------------------------------------------

    async def _check_users(self, s: AsyncSession, user_ids: set[str]) -> None:
        rows = await s.execute(select(User.id).where(User.id.in_(user_ids)))
        found = {r[0] for r in rows}
        unknown = user_ids - found
        if unknown:
            raise ImError("user_not_found", f"no such user: {min(unknown)}")

    async def create_conversation(
        self,
        actor: Actor,
        kind: str,
        member_ids: Iterable[str],
        *,
        title: str | None = None,
        room_id: str | None = None,
    ) -> dict[str, Any]:
        """Create a direct or group conversation (a direct one is returned if it exists)."""
        others = {m for m in member_ids if m != actor.user_id}
        if kind == "direct":
            if len(others) != 1:
                raise ImError("bad_request", "a direct conversation has exactly one other member")
            other = next(iter(others))
            key = ":".join(sorted([actor.user_id, other]))
            async with self.sessions() as s:
                existing = (
                    await s.execute(select(Conversation.id).where(Conversation.direct_key == key))
                ).scalar_one_or_none()
            if existing is not None:
                return await self.conversation(actor.user_id, existing)
            members = {actor.user_id: "member", other: "member"}
            return await self._create(actor, "direct", members, None, None, key)
        if kind != "group":
            raise ImError("bad_request", "'kind' must be 'direct' or 'group'")
        if actor.role not in STAFF_ROLES:
            raise ImError("not_allowed", "only staff may start group conversations")
        members = {m: "member" for m in others}
        members[actor.user_id] = "owner"
        return await self._create(actor, "group", members, title, room_id, None)

    async def _create(
        self,
        actor: Actor,
        kind: str,
        members: dict[str, str],
        title: str | None,
        room_id: str | None,
        direct_key: str | None,
    ) -> dict[str, Any]:
        conv_id = new_id()
        try:
            async with self.sessions() as s, s.begin():
                await self._check_users(s, set(members))
                s.add(
                    Conversation(
                        id=conv_id,
                        kind=kind,
                        title=title,
                        room_id=room_id,
                        direct_key=direct_key,
                        created_by=actor.user_id,
                        last_seq=0,
                    )
                )
                await s.flush()
                for uid, role in members.items():
                    s.add(Member(conversation_id=conv_id, user_id=uid, role=role, read_seq=0))
        except IntegrityError:
            # another request created the same direct/room conversation first
            async with self.sessions() as s:
                cond = (
                    Conversation.direct_key == direct_key
                    if direct_key
                    else Conversation.room_id == room_id
                )
                existing = (
                    await s.execute(select(Conversation.id).where(cond))
                ).scalar_one_or_none()
            if existing is None:
                raise
            if room_id is not None:
                await self._ensure_member(existing, actor.user_id)
            return await self.conversation(actor.user_id, existing)
        log.info("im_conversation_created", extra={"conversation_id": conv_id, "kind": kind})
        conv = await self.conversation(actor.user_id, conv_id)
        for uid in members:
            if uid != actor.user_id:
                await self.publish(
                    [uid], "im:conversation", await self.conversation(uid, conv_id), None
                )
        return conv

    async def room_conversation_id(self, room_id: str) -> str | None:
        """The id of the conversation beside ``room_id``, if there is one."""
        async with self.sessions() as s:
            return (
                await s.execute(select(Conversation.id).where(Conversation.room_id == room_id))
            ).scalar_one_or_none()

    async def ensure_room_conversation(
        self, actor: Actor, room_id: str, title: str | None = None
    ) -> tuple[str, bool]:
        """Get or create the conversation beside a call with the actor as a member.

        Returns ``(conversation id, whether the actor was added now)``. The caller
        has already checked that the actor may enter the room.
        """
        existing = await self.room_conversation_id(room_id)
        if existing is None:
            role = "owner" if actor.role in STAFF_ROLES else "member"
            conv = await self._create(
                actor, "group", {actor.user_id: role}, title or room_id, room_id, None
            )
            return conv["id"], True
        role = "owner" if actor.role in STAFF_ROLES else "member"
        return existing, await self._ensure_member(existing, actor.user_id, role)

    async def room_conversation(
        self, actor: Actor, room_id: str, title: str | None = None
    ) -> dict[str, Any]:
        """The conversation beside a call as the actor sees it (created/joined on first use)."""
        conv_id, _ = await self.ensure_room_conversation(actor, room_id, title)
        return await self.conversation(actor.user_id, conv_id)

    async def ensure_members(self, conversation_id: str, members: dict[str, str]) -> list[str]:
        """Add users (user id -> ``owner``/``member``) without a permission check; who was new.

        For the care flows, which decide themselves who belongs to their conversations.
        """
        added = [
            uid
            for uid, role in members.items()
            if await self._ensure_member(conversation_id, uid, role)
        ]
        for uid in added:
            await self.publish(
                [uid], "im:conversation", await self.conversation(uid, conversation_id), None
            )
        return added

    async def _ensure_member(
        self, conversation_id: str, user_id: str, role: str = "member"
    ) -> bool:
        try:
            async with self.sessions() as s, s.begin():
                if await s.get(Member, (conversation_id, user_id)) is not None:
                    return False
                s.add(
                    Member(conversation_id=conversation_id, user_id=user_id, role=role, read_seq=0)
                )
        except IntegrityError:
            return False
        return True

    async def add_member(self, actor: Actor, conversation_id: str, user_id: str) -> dict[str, Any]:
        """Add ``user_id`` to a group conversation (owner or admin)."""
        conv = await self._conversation_row(actor, conversation_id)
        if conv.kind != "group":
            raise ImError("not_allowed", "members of a direct conversation cannot change")
        if not await self._can_moderate(actor, conversation_id):
            raise ImError(
                "not_allowed", "only the conversation's owner or an admin may add members"
            )
        async with self.sessions() as s:
            await self._check_users(s, {user_id})
        if await self._ensure_member(conversation_id, user_id):
            names = await self.names([user_id])
            await self.post_system(
                conversation_id, "member_added", user_id=user_id, name=names.get(user_id, "")
            )
            await self.publish(
                [user_id],
                "im:conversation",
                await self.conversation(user_id, conversation_id),
                None,
            )
        return await self.conversation(actor.user_id, conversation_id)

    async def remove_member(self, actor: Actor, conversation_id: str, user_id: str) -> None:
        """Remove a member (owner or admin), or leave (the member themself)."""
        conv = await self._conversation_row(actor, conversation_id)
        if conv.kind != "group":
            raise ImError("not_allowed", "members of a direct conversation cannot change")
        if user_id != actor.user_id and not await self._can_moderate(actor, conversation_id):
            raise ImError(
                "not_allowed", "only the conversation's owner or an admin may remove members"
            )
        async with self.sessions() as s, s.begin():
            member = await s.get(Member, (conversation_id, user_id))
            if member is None:
                raise ImError("user_not_found", "that user is not a member")
            await s.delete(member)
        names = await self.names([user_id])
        await self.post_system(
            conversation_id, "member_removed", user_id=user_id, name=names.get(user_id, "")
        )

    async def _conversation_row(self, actor: Actor, conversation_id: str) -> Conversation:
        async with self.sessions() as s:
            conv = await s.get(Conversation, conversation_id)
            member = await s.get(Member, (conversation_id, actor.user_id))
        if conv is None or (member is None and not actor.is_admin):
            raise not_found()
        return conv

    async def conversation(self, user_id: str, conversation_id: str) -> dict[str, Any]:
        """One conversation as the user sees it; ``conversation_not_found`` for non-members."""
        listed = await self._list(user_id, conversation_id)
        if not listed:
            raise not_found()
        return listed[0]

    async def conversations(self, user_id: str) -> list[dict[str, Any]]:
        """The user's conversations, most recently active first, with unread counts."""
        return await self._list(user_id, None)

    async def _list(self, user_id: str, only: str | None) -> list[dict[str, Any]]:
        async with self.sessions() as s:
            q = (
                select(Conversation, Member.read_seq)
                .join(Member, Member.conversation_id == Conversation.id)
                .where(Member.user_id == user_id)
            )
            if only is not None:
                q = q.where(Conversation.id == only)
            convs = (await s.execute(q)).all()
            if not convs:
                return []
            ids = [c.id for c, _ in convs]
            member_rows = (
                await s.execute(
                    select(
                        Member.conversation_id, Member.user_id, Member.role, Member.read_seq
                    ).where(Member.conversation_id.in_(ids))
                )
            ).all()
            counted = (
                await s.execute(
                    select(MESSAGES.c.conversation_id, func.count())
                    .join(
                        Member,
                        (Member.conversation_id == MESSAGES.c.conversation_id)
                        & (Member.user_id == user_id),
                    )
                    .where(
                        MESSAGES.c.conversation_id.in_(ids),
                        MESSAGES.c.seq > Member.read_seq,
                        MESSAGES.c.type != "system",
                        MESSAGES.c.recalled_at.is_(None),
                        or_(MESSAGES.c.sender_id.is_(None), MESSAGES.c.sender_id != user_id),
                    )
                    .group_by(MESSAGES.c.conversation_id)
                )
            ).all()
            unread: dict[str, int] = {conv_id: n for conv_id, n in counted}
            newest = [(c.id, c.last_seq) for c, _ in convs if c.last_seq > 0]
            last_rows = (
                (
                    await s.execute(
                        select(MESSAGES).where(
                            tuple_(MESSAGES.c.conversation_id, MESSAGES.c.seq).in_(newest)
                        )
                    )
                ).all()
                if newest
                else []
            )
        members: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        names = await self.names(
            [r.user_id for r in member_rows] + [r.sender_id for r in last_rows if r.sender_id]
        )
        for r in member_rows:
            members[r.conversation_id].append(
                {
                    "user_id": r.user_id,
                    "name": names.get(r.user_id, ""),
                    "role": r.role,
                    "read_seq": r.read_seq,
                }
            )
        last = {r.conversation_id: wire.message(dict(r._mapping), names) for r in last_rows}
        out = []
        for conv, read_seq in convs:
            out.append(
                {
                    "id": conv.id,
                    "kind": conv.kind,
                    "title": conv.title,
                    "room_id": conv.room_id,
                    "members": members[conv.id],
                    "last_seq": conv.last_seq,
                    "read_seq": read_seq,
                    "unread": unread.get(conv.id, 0),
                    "last_message": last.get(conv.id),
                    "created_at": wire.iso(conv.created_at),
                }
            )
        out.sort(key=_activity, reverse=True)
        return out


def _activity(conv: dict[str, Any]) -> str:
    last = conv["last_message"]
    return str((last or {}).get("created_at") or conv["created_at"] or "")
