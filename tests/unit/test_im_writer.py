"""The group-commit writer on a real SQLite database: batching, seq, idempotency, failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.service import UserService
from db import engine as db_engine
from db import migrate
from im.errors import ImError
from im.service import Actor, ImService
from im.writer import Draft, MessageWriter


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = db_engine.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    await migrate.upgrade(eng)
    yield eng
    await eng.dispose()


async def _conversation(engine: AsyncEngine) -> tuple[str, str, str]:
    sessions = db_engine.session_factory(engine)
    users = UserService(sessions)
    a = await users.create("a", "nurse", "pw")
    b = await users.create("b", "elder", "pw")
    im = ImService(engine, sessions)
    conv = await im.create_conversation(Actor(a.id, "A", "nurse"), "direct", [b.id])
    await im.close()
    return conv["id"], a.id, b.id


async def test_concurrent_sends_share_transactions_and_get_consecutive_seqs(
    engine: AsyncEngine,
) -> None:
    conv, a, b = await _conversation(engine)
    writer = MessageWriter(engine)
    drafts = [
        Draft(conv, a if i % 2 else b, None if i % 3 == 0 else f"c{i}", "text", f"m{i}", {})
        for i in range(300)
    ]
    written = await asyncio.gather(*(writer.write(d) for d in drafts))
    await writer.close()
    assert sorted(w.row["seq"] for w in written) == list(range(1, 301))
    assert writer.written == 300
    assert writer.batches < 300 / 5, f"{writer.batches} transactions for 300 sends: no batching"
    # the order of seq follows the order of arrival
    assert [w.row["seq"] for w in written] == list(range(1, 301))
    async with engine.connect() as c:
        last = (await c.execute(text("SELECT last_seq FROM im_conversations"))).scalar_one()
    assert last == 300


async def test_duplicates_in_one_batch_and_across_batches(engine: AsyncEngine) -> None:
    conv, a, _ = await _conversation(engine)
    writer = MessageWriter(engine)
    first, twin = await asyncio.gather(
        writer.write(Draft(conv, a, "same", "text", "x", {})),
        writer.write(Draft(conv, a, "same", "text", "x", {})),
    )
    assert first.row["id"] == twin.row["id"] and (first.duplicate, twin.duplicate) == (False, True)
    later = await writer.write(Draft(conv, a, "same", "text", "x", {}))
    assert later.duplicate and later.row["seq"] == first.row["seq"]
    await writer.close()


async def test_non_members_and_missing_conversations_fail_alone(engine: AsyncEngine) -> None:
    conv, a, _ = await _conversation(engine)
    writer = MessageWriter(engine)
    results = await asyncio.gather(
        writer.write(Draft(conv, a, "ok", "text", "fine", {})),
        writer.write(Draft(conv, "stranger", "s", "text", "no", {})),
        writer.write(Draft("no-such", a, "n", "text", "no", {})),
        return_exceptions=True,
    )
    assert results[0].row["seq"] == 1  # type: ignore[union-attr]
    assert isinstance(results[1], ImError) and results[1].code == "conversation_not_found"
    assert isinstance(results[2], ImError) and results[2].code == "conversation_not_found"
    await writer.close()


async def test_a_database_failure_answers_every_waiter_and_the_writer_recovers(
    engine: AsyncEngine,
) -> None:
    conv, a, _ = await _conversation(engine)
    writer = MessageWriter(engine)
    async with engine.begin() as c:
        await c.execute(text("ALTER TABLE im_messages RENAME TO im_messages_away"))
    failed = await asyncio.gather(
        *(writer.write(Draft(conv, a, f"f{i}", "text", "x", {})) for i in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(r, ImError) and r.code == "unavailable" for r in failed)
    async with engine.begin() as c:
        await c.execute(text("ALTER TABLE im_messages_away RENAME TO im_messages"))
    ok = await writer.write(Draft(conv, a, "after", "text", "x", {}))
    assert ok.row["seq"] == 1  # the failed batch rolled back its seq allocation too
    await writer.close()
    with pytest.raises(ImError) as err:
        await writer.write(Draft(conv, a, "closed", "text", "x", {}))
    assert err.value.code == "unavailable"


async def test_system_messages_only_carry_known_events(engine: AsyncEngine) -> None:
    conv, _, _ = await _conversation(engine)
    im = ImService(engine, db_engine.session_factory(engine))
    msg = await im.post_system(conv, "call_started")
    assert msg["type"] == "system" and msg["payload"] == {"event": "call_started"}
    with pytest.raises(ValueError):
        await im.post_system(conv, "call_strated")
    await im.close()
