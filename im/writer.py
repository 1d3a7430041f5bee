"""Group-commit message writer.

Sends that arrive while a transaction is running are gathered and stored
together in the next one, on a connection the writer keeps between batches.
Within a transaction: the conversations are read with their members (on
PostgreSQL their rows are locked in id order, so writers on several nodes
cannot deadlock) and membership is checked; every conversation's
``last_seq`` is advanced once; the messages are inserted with those sequence
numbers; and only after ``COMMIT`` is every waiting sender answered. When
idle a send is written at once; under load the batch grows, so the cost of a
transaction is shared.

A batch is first written without looking for stored copies of its messages:
a resend of a stored message (same sender and ``client_msg_id``) then fails
the unique constraint, the transaction rolls back, and the batch is written
again with the check, so the resend is answered with the stored message.

The common batch takes one trip to the database: on PostgreSQL a single
statement (data-modifying CTEs, its own transaction); on SQLite one call into
the driver's thread that runs ``BEGIN IMMEDIATE`` ... ``COMMIT``. Other
databases, and batches written with the check, use the portable SQLAlchemy
Core path (:meth:`MessageWriter._write_portable`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, case, select, tuple_, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from im.errors import ImError, not_found
from im.models import Conversation, Member, Message, new_id, utcnow

log = logging.getLogger(__name__)

MESSAGES: Table = Message.__table__  # type: ignore[assignment]
CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
MEMBERS: Table = Member.__table__  # type: ignore[assignment]

# A kept connection idle for longer than this is returned to the pool and a
# fresh one checked out (the pool's pre-ping then catches a restarted database).
IDLE_RECONNECT_SECONDS = 30.0


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


Result = list[Written | BaseException]


class Conflict(Exception):
    """A unique constraint failed in a fast-path write (a resend of a stored message)."""


class MessageWriter:
    """Stores messages in batched transactions; one per process."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 500) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: asyncio.Queue[Draft] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._conn: AsyncConnection | None = None
        self._used = 0.0
        self._binds: tuple[Callable[[Any], Any], Callable[[Any], Any]] | None = None
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
        await self._drop_connection()

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
            try:
                results = await self._write_batch(batch, check=False)
            except (IntegrityError, Conflict):
                # a resend of a stored message: look for stored copies first
                results = await self._write_checked(batch)
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

    async def _write_checked(self, batch: list[Draft]) -> Result:
        try:
            return await self._write_batch(batch, check=True)
        except IntegrityError:
            # a resend raced with its original on another node; write one by one
            if len(batch) == 1:
                try:
                    return await self._write_batch(batch, check=True)
                except Exception as exc:  # noqa: BLE001 - handed to the waiter
                    return [exc]
            out: Result = []
            for draft in batch:
                out += await self._write_checked([draft])
            return out

    # -- connection ---------------------------------------------------------------------

    async def _connection(self) -> AsyncConnection:
        """The writer's own connection, kept between batches (no pool round trips)."""
        now = time.monotonic()
        if self._conn is not None and now - self._used > IDLE_RECONNECT_SECONDS:
            await self._drop_connection()
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = await self.engine.connect()
        self._used = now
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # the connection is being thrown away anyway
                log.debug("im_writer_close_failed", exc_info=True)

    def _bind_processors(
        self, dialect: Dialect
    ) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
        """How SQLAlchemy stores ``created_at`` and ``payload`` on this database."""
        if self._binds is None:
            created = MESSAGES.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
            payload = MESSAGES.c.payload.type.dialect_impl(dialect).bind_processor(dialect)
            self._binds = (created or _same, payload or _same)
        return self._binds

    # -- one batch ----------------------------------------------------------------------

    async def _write_batch(self, batch: list[Draft], *, check: bool) -> Result:
        conn = await self._connection()
        try:
            if not check:
                dialect = conn.dialect.name
                if dialect == "postgresql":
                    return await self._write_postgresql(conn, batch)
                if dialect == "sqlite":
                    done = await self._write_sqlite(conn, batch)
                    if done is not None:
                        return done
            return await self._write_portable(conn, batch, check)
        except (IntegrityError, Conflict):
            raise
        except Exception:
            await self._drop_connection()
            raise

    async def _write_portable(
        self, conn: AsyncConnection, batch: list[Draft], check: bool
    ) -> Result:
        """One transaction for ``batch`` through SQLAlchemy Core (any database).

        Without ``check`` stored copies are not looked for (see the module doc).
        """
        results: list[Written | BaseException | None] = [None] * len(batch)
        async with conn.begin():
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
            existing = await _existing(conn, list(keyed)) if check else {}
            if existing:
                dup = {keyed[key] for key in existing}
                fresh = [i for i in fresh if i not in dup]
                for key, row in existing.items():
                    results[keyed[key]] = _duplicate(batch[keyed[key]], row, members)
            by_conv: dict[str, list[int]] = defaultdict(list)
            for i in fresh:
                by_conv[batch[i].conversation_id].append(i)
            rows: list[dict[str, Any]] = []
            if by_conv:
                counts = {conv_id: len(idx) for conv_id, idx in by_conv.items()}
                last = await _advance(conn, counts)
                now = utcnow()
                for conv_id, idx in by_conv.items():
                    first_seq = last[conv_id] - len(idx) + 1
                    for n, i in enumerate(idx):
                        row = _row(batch[i], first_seq + n, now)
                        rows.append(row)
                        results[i] = Written(row, False, members[conv_id])
                await conn.execute(MESSAGES.insert(), rows)
        return self._finish(batch, results, keyed, members, len(rows))

    def _finish(
        self,
        batch: list[Draft],
        results: list[Written | BaseException | None],
        keyed: dict[tuple[str, str], int],
        members: dict[str, tuple[str, ...]],
        stored: int,
    ) -> Result:
        """Answer resends within the batch with their first copy's row; count the batch."""
        for i, d in enumerate(batch):
            if results[i] is None and d.sender_id is not None and d.client_msg_id is not None:
                first = results[keyed[(d.sender_id, d.client_msg_id)]]
                results[i] = (
                    _duplicate(d, first.row, members) if isinstance(first, Written) else first
                )
        self.batches += 1
        self.written += stored
        return [r if r is not None else not_found() for r in results]

    async def _write_postgresql(self, conn: AsyncConnection, batch: list[Draft]) -> Result:
        """The whole batch as one statement (:data:`PG_WRITE`), committed on its own."""
        fresh, keyed = _first_copies(batch)
        _, payload = self._bind_processors(conn.dialect)
        now = utcnow()
        rows = [_row(batch[i], 0, now) for i in fresh]
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        try:
            records = await driver.fetch(
                PG_WRITE,
                sorted({r["conversation_id"] for r in rows}),
                [r["id"] for r in rows],
                [r["conversation_id"] for r in rows],
                [r["sender_id"] for r in rows],
                [r["client_msg_id"] for r in rows],
                [r["type"] for r in rows],
                [r["body"] for r in rows],
                [payload(r["payload"]) for r in rows],
                now,
            )
        except Exception as exc:
            if str(getattr(exc, "sqlstate", None) or "").startswith("23"):  # integrity
                raise Conflict(str(exc)) from exc
            raise
        seqs: dict[str, int] = {}
        members: dict[str, list[str]] = defaultdict(list)
        for value, seq, member_of in records:
            if member_of is None:
                seqs[value] = seq
            else:
                members[member_of].append(value)
        return self._stored(batch, fresh, keyed, rows, seqs, members)

    async def _write_sqlite(self, conn: AsyncConnection, batch: list[Draft]) -> Result | None:
        """The whole batch in one call into aiosqlite's thread; None if that is not possible."""
        driver = (await conn.get_raw_connection()).driver_connection
        run = getattr(driver, "_execute", None)  # aiosqlite: run a function in its thread
        try:
            db = driver._conn  # type: ignore[union-attr]  # aiosqlite's sqlite3 connection
        except (AttributeError, ValueError):
            db = None
        if run is None or not isinstance(db, sqlite3.Connection):
            return None
        fresh, keyed = _first_copies(batch)
        created, payload = self._bind_processors(conn.dialect)
        now = utcnow()
        stamp = created(now)
        rows = [_row(batch[i], 0, now) for i in fresh]
        params = [
            (
                r["id"],
                r["conversation_id"],
                r["sender_id"],
                r["client_msg_id"],
                r["type"],
                r["body"],
                payload(r["payload"]),
                stamp,
            )
            for r in rows
        ]
        try:
            seqs, members = await run(_sqlite_write, db, params)
        except sqlite3.IntegrityError as exc:
            raise Conflict(str(exc)) from exc
        return self._stored(batch, fresh, keyed, rows, seqs, members)

    def _stored(
        self,
        batch: list[Draft],
        fresh: list[int],
        keyed: dict[tuple[str, str], int],
        rows: list[dict[str, Any]],
        seqs: dict[str, int],
        members_lists: dict[str, list[str]],
    ) -> Result:
        """Results of a fast-path write: drafts without a stored row were not allowed."""
        members = {k: tuple(v) for k, v in members_lists.items()}
        results: list[Written | BaseException | None] = [None] * len(batch)
        stored = 0
        for i, row in zip(fresh, rows, strict=True):
            seq = seqs.get(row["id"])
            if seq is None:
                results[i] = not_found()
            else:
                row["seq"] = seq
                results[i] = Written(row, False, members.get(row["conversation_id"], ()))
                stored += 1
        return self._finish(batch, results, keyed, members, stored)


class _Stop:
    pass


_STOP: Any = _Stop()


def _same(value: Any) -> Any:
    return value


def _first_copies(batch: list[Draft]) -> tuple[list[int], dict[tuple[str, str], int]]:
    """Indexes of the drafts to store (first copy of each sender + ``client_msg_id``)."""
    keyed: dict[tuple[str, str], int] = {}
    fresh: list[int] = []
    for i, d in enumerate(batch):
        if d.sender_id is not None and d.client_msg_id is not None:
            key = (d.sender_id, d.client_msg_id)
            if key in keyed:
                continue
            keyed[key] = i
        fresh.append(i)
    return fresh, keyed


# One statement, one transaction: lock the conversations in id order, keep the
# drafts whose sender is a member (or that are system messages), advance each
# conversation's last_seq by its count, insert with consecutive seqs in arrival
# order, and return the stored (id, seq) pairs followed by every member.
PG_WRITE = """
WITH locked AS (
    SELECT id FROM im_conversations
    WHERE id = ANY($1::varchar[])
    ORDER BY id
    FOR UPDATE
), draft AS (
    SELECT d.*
    FROM unnest($2::varchar[], $3::varchar[], $4::varchar[], $5::varchar[],
                $6::varchar[], $7::text[], $8::text[])
         WITH ORDINALITY AS d(id, conversation_id, sender_id, client_msg_id,
                              type, body, payload, ord)
    WHERE d.conversation_id IN (SELECT id FROM locked)
      AND (d.sender_id IS NULL OR EXISTS (
            SELECT 1 FROM im_members m
            WHERE m.conversation_id = d.conversation_id AND m.user_id = d.sender_id))
), counted AS (
    SELECT conversation_id, count(*) AS n FROM draft GROUP BY conversation_id
), advanced AS (
    UPDATE im_conversations c SET last_seq = c.last_seq + counted.n
    FROM counted
    WHERE c.id = counted.conversation_id
    RETURNING c.id, c.last_seq, counted.n
), stored AS (
    INSERT INTO im_messages (id, conversation_id, seq, sender_id, client_msg_id,
                             type, body, payload, created_at)
    SELECT d.id, d.conversation_id,
           a.last_seq - a.n + row_number() OVER (PARTITION BY d.conversation_id ORDER BY d.ord),
           d.sender_id, d.client_msg_id, d.type, d.body, d.payload::json, $9::timestamptz
    FROM draft d JOIN advanced a ON a.id = d.conversation_id
    RETURNING id, seq
)
SELECT id, seq, NULL::varchar AS member_of FROM stored
UNION ALL
SELECT user_id, NULL, conversation_id FROM im_members
WHERE conversation_id IN (SELECT id FROM locked)
"""

_SQLITE_INSERT = (
    "INSERT INTO im_messages (id, conversation_id, seq, sender_id, client_msg_id, type, body, "
    "payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _sqlite_write(
    db: sqlite3.Connection, params: list[tuple[Any, ...]]
) -> tuple[dict[str, int], dict[str, list[str]]]:
    """In the driver's thread: one transaction for the batch; (id -> seq, conv -> members)."""
    conv_ids = sorted({p[1] for p in params})
    db.execute("BEGIN IMMEDIATE")
    try:
        members: dict[str, list[str]] = {}
        marks = ", ".join("?" * len(conv_ids))
        for conv_id, user_id in db.execute(
            "SELECT c.id, m.user_id FROM im_conversations AS c LEFT JOIN im_members AS m "
            f"ON m.conversation_id = c.id WHERE c.id IN ({marks})",
            conv_ids,
        ):
            users = members.setdefault(conv_id, [])
            if user_id is not None:
                users.append(user_id)
        by_conv: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for p in params:
            allowed = members.get(p[1])
            if allowed is not None and (p[2] is None or p[2] in allowed):
                by_conv[p[1]].append(p)
        seqs: dict[str, int] = {}
        rows = []
        for conv_id, drafts in by_conv.items():
            (last,) = db.execute(
                "UPDATE im_conversations SET last_seq = last_seq + ? WHERE id = ? "
                "RETURNING last_seq",
                (len(drafts), conv_id),
            ).fetchone()
            for n, p in enumerate(drafts):
                seq = last - len(drafts) + 1 + n
                seqs[p[0]] = seq
                rows.append((p[0], p[1], seq, *p[2:]))
        db.executemany(_SQLITE_INSERT, rows)
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return seqs, members


async def _members(conn: AsyncConnection, conv_ids: set[str]) -> dict[str, tuple[str, ...]]:
    """conversation id -> member user ids, for the conversations that exist.

    One query; on PostgreSQL it also locks the conversation rows in id order
    (``FOR UPDATE OF``), so concurrent writers on several nodes take them in the
    same order and cannot deadlock. SQLite ignores the lock clause.
    """
    result = await conn.execute(
        select(CONVERSATIONS.c.id, MEMBERS.c.user_id)
        .select_from(
            CONVERSATIONS.outerjoin(MEMBERS, MEMBERS.c.conversation_id == CONVERSATIONS.c.id)
        )
        .where(CONVERSATIONS.c.id.in_(sorted(conv_ids)))
        .order_by(CONVERSATIONS.c.id)
        .with_for_update(of=CONVERSATIONS)
    )
    out: dict[str, list[str]] = {}
    for conv_id, user_id in result:
        users = out.setdefault(conv_id, [])
        if user_id is not None:
            users.append(user_id)
    return {k: tuple(v) for k, v in out.items()}


async def _advance(conn: AsyncConnection, counts: dict[str, int]) -> dict[str, int]:
    """Add ``counts[id]`` to each conversation's ``last_seq`` in one statement; the new values."""
    if len(counts) == 1:
        delta: Any = next(iter(counts.values()))
    else:
        delta = case(counts, value=CONVERSATIONS.c.id)
    result = await conn.execute(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id.in_(list(counts)))
        .values(last_seq=CONVERSATIONS.c.last_seq + delta)
        .returning(CONVERSATIONS.c.id, CONVERSATIONS.c.last_seq)
    )
    return {conv_id: last for conv_id, last in result}


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
