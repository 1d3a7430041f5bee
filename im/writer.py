"""Group-commit message writer.

Sends that arrive while a transaction is running are gathered and stored
together in the next one: membership is checked, duplicates (same sender and
``client_msg_id``) are answered with the stored message, each conversation's
``last_seq`` is advanced once with ``UPDATE ... RETURNING`` (rows locked in
id order, so writers on several nodes cannot deadlock), the messages are
inserted with one ``executemany``, and only after ``COMMIT`` is every
waiting sender answered. When idle a send is written at once; under load the
batch grows, so the cost of a commit is shared.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from im.errors import ImError, not_found
from im.models import Conversation, Member, Message, new_id, utcnow

log = logging.getLogger(__name__)

MESSAGES: Table = Message.__table__  # type: ignore[assignment]
CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
MEMBERS: Table = Member.__table__  # type: ignore[assignment]


@dataclass
class Draft:
    """A message waiting to be stored. ``sender_id`` None means a system message."""

    conversation_id: str
    sender_id: str | None
    client_msg_id: str | None
    type: str
    body: str
    payload: dict[str, Any]
    future: asyncio.Future[Written] | None = field(repr=False, default=None)


@dataclass(frozen=True)
class Written:
    """The stored row and whether it was already there (a resend)."""

    row: dict[str, Any]
    duplicate: bool
    members: tuple[str, ...]


class MessageWriter:
    """Stores messages in batched transactions; one per process."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 500) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: asyncio.Queue[Draft] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        self.written = 0

    def start(self) -> None:
        """Start the writer task on the running loop."""
        if self._task is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="im-writer")

    async def close(self) -> None:
        """Finish what is queued, then stop."""
        self._closed = True
        if self._task is not None and self._queue is not None:
            await self._queue.put(_STOP)
            try:
                await asyncio.wait_for(self._task, 10)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
            self._task = None

    async def write(self, draft: Draft) -> Written:
        """Store ``draft`` (or find its earlier copy); return after commit."""
        if self._closed:
            raise ImError("unavailable", "the server is shutting down")
        self.start()
        assert self._queue is not None
        future: asyncio.Future[Written] = asyncio.get_running_loop().create_future()
        draft.future = future
        self._queue.put_nowait(draft)
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            first = await queue.get()
            batch: list[Draft] = []
            stop = first is _STOP
            if not stop:
                batch.append(first)
            while not queue.empty() and len(batch) < self.max_batch:
                item = queue.get_nowait()
                if item is _STOP:
                    stop = True
                    continue
                batch.append(item)
            if batch:
                await self._write_safely(batch)
            if stop and queue.empty():
                return

    async def _write_safely(self, batch: list[Draft]) -> None:
        try:
            results = await self._write_batch(batch)
        except IntegrityError:
            # A resend raced with its original on another node; write one by one.
            if len(batch) == 1:
                try:
                    results = await self._write_batch(batch)
                except Exception as exc:  # noqa: BLE001 - handed to the waiter
                    results = [exc]
            else:
                for draft in batch:
                    await self._write_safely([draft])
                return
        except Exception:
            log.exception("im_batch_failed", extra={"size": len(batch)})
            results = [ImError("unavailable", "the message store is unavailable")] * len(batch)
        for draft, result in zip(batch, results, strict=True):
            if draft.future is None or draft.future.done():
                continue
            if isinstance(result, BaseException):
                draft.future.set_exception(result)
            else:
                draft.future.set_result(result)

    async def _write_batch(self, batch: list[Draft]) -> list[Written | BaseException]:
        results: list[Written | BaseException | None] = [None] * len(batch)
        async with self.engine.begin() as conn:
            members = await _members(conn, {d.conversation_id for d in batch})
            keyed: dict[tuple[str, str], int] = {}
            fresh: list[int] = []
            for i, d in enumerate(batch):
                conv_members = members.get(d.conversation_id)
                if conv_members is None or (
                    d.sender_id is not None and d.sender_id not in conv_members
                ):
                    results[i] = not_found()
                    continue
                if d.sender_id is not None and d.client_msg_id is not None:
                    key = (d.sender_id, d.client_msg_id)
                    if key in keyed:
                        continue  # a resend within the batch; answered below
                    keyed[key] = i
                fresh.append(i)
            existing = await _existing(conn, list(keyed))
            for key, row in existing.items():
                i = keyed[key]
                fresh.remove(i)
                results[i] = _duplicate(batch[i], row, members)
            by_conv: dict[str, list[int]] = defaultdict(list)
            for i in fresh:
                by_conv[batch[i].conversation_id].append(i)
            rows: list[dict[str, Any]] = []
            now = utcnow()
            for conv_id in sorted(by_conv):
                idx = by_conv[conv_id]
                last = (
                    await conn.execute(
                        update(CONVERSATIONS)
                        .where(CONVERSATIONS.c.id == conv_id)
                        .values(last_seq=CONVERSATIONS.c.last_seq + len(idx))
                        .returning(CONVERSATIONS.c.last_seq)
                    )
                ).scalar_one()
                for n, i in enumerate(idx):
                    row = _row(batch[i], last - len(idx) + 1 + n, now)
                    rows.append(row)
                    results[i] = Written(row, False, members[conv_id])
            if rows:
                await conn.execute(MESSAGES.insert(), rows)
        # resends inside the same batch get the row their first copy got
        for i, d in enumerate(batch):
            if results[i] is None and d.sender_id is not None and d.client_msg_id is not None:
                first = results[keyed[(d.sender_id, d.client_msg_id)]]
                results[i] = (
                    _duplicate(d, first.row, members) if isinstance(first, Written) else first
                )
        self.batches += 1
        self.written += len(rows)
        return [r if r is not None else not_found() for r in results]


class _Stop:
    pass


_STOP: Any = _Stop()


async def _members(conn: AsyncConnection, conv_ids: set[str]) -> dict[str, tuple[str, ...]]:
    """conversation id -> member user ids, for the conversations that exist."""
    found = await conn.execute(select(CONVERSATIONS.c.id).where(CONVERSATIONS.c.id.in_(conv_ids)))
    out: dict[str, list[str]] = {row[0]: [] for row in found}
    result = await conn.execute(
        select(MEMBERS.c.conversation_id, MEMBERS.c.user_id).where(
            MEMBERS.c.conversation_id.in_(list(out))
        )
    )
    for conv_id, user_id in result:
        out[conv_id].append(user_id)
    return {k: tuple(v) for k, v in out.items()}


async def _existing(
    conn: AsyncConnection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    if not keys:
        return {}
    result = await conn.execute(
        select(MESSAGES).where(tuple_(MESSAGES.c.sender_id, MESSAGES.c.client_msg_id).in_(keys))
    )
    return {(r.sender_id, r.client_msg_id): dict(r._mapping) for r in result}


def _duplicate(
    draft: Draft, row: dict[str, Any], members: dict[str, tuple[str, ...]]
) -> Written | ImError:
    if row["conversation_id"] != draft.conversation_id:
        return ImError(
            "client_msg_id_conflict", "that client_msg_id was used in another conversation"
        )
    return Written(row, True, members.get(draft.conversation_id, ()))


def _row(draft: Draft, seq: int, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "conversation_id": draft.conversation_id,
        "seq": seq,
        "sender_id": draft.sender_id,
        "client_msg_id": draft.client_msg_id,
        "type": draft.type,
        "body": draft.body,
        "payload": draft.payload,
        "created_at": now,
        "edited_at": None,
        "recalled_at": None,
        "recalled_by": None,
    }
