"""Retention (per conversation type) and the admin export ZIP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import subprocess
import sys
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import Table, select, text, update

from carertc.app import ATTACHMENTS, ENGINE, IM_RETENTION, SESSIONS
from im.models import Attachment, Conversation, Message, utcnow
from im.retention import RetentionService
from tests.conftest import TEST_JWT_SECRET, RunningServer, make_settings

MESSAGES: Table = Message.__table__  # type: ignore[assignment]
CARERTC = Path(sys.executable).parent / "carertc"

pytestmark = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)


@pytest.fixture
def env(backend: str, tmp_path: Path, request: Any) -> dict[str, str]:
    """Settings variables for the backend under test."""
    if backend == "postgresql":
        return {"DATABASE_URL": request.getfixturevalue("pg_url")}
    return {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'carertc.db'}"}


def session(srv: RunningServer, user: Any) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(headers={"Authorization": f"Bearer {srv.token(user)}"})


async def send(http: aiohttp.ClientSession, srv: RunningServer, cid: str, body: str, **kw: Any):
    resp = await http.post(
        f"{srv.url}/api/v1/conversations/{cid}/messages",
        json={"client_msg_id": uuid.uuid4().hex, "type": "text", "body": body, **kw},
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def create(http: aiohttp.ClientSession, srv: RunningServer, path: str, **body: Any) -> str:
    resp = await (
        http.post(f"{srv.url}{path}", json=body) if body else http.get(f"{srv.url}{path}")
    )
    assert resp.status in (200, 201), await resp.text()
    return str((await resp.json())["id"])


async def age(srv: RunningServer, cid: str, seqs: list[int], days: float) -> None:
    """Make messages look ``days`` old."""
    async with srv.app[ENGINE].begin() as conn:
        await conn.execute(
            update(MESSAGES)
            .where(MESSAGES.c.conversation_id == cid, MESSAGES.c.seq.in_(seqs))
            .values(created_at=utcnow() - timedelta(days=days))
        )


async def add_attachment(
    srv: RunningServer, cid: str, uploader: str, data: bytes, days: float = 0, **kw: Any
) -> Attachment:
    """An attachment row plus its file (and a thumbnail), ``days`` old."""
    att = Attachment(
        id=str(uuid.uuid4()),
        conversation_id=cid,
        uploader_id=uploader,
        filename=kw.get("filename", "report.pdf"),
        content_type=kw.get("content_type", "application/pdf"),
        kind=kw.get("kind", "file"),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_name=uuid.uuid4().hex,
        thumbnail_name=uuid.uuid4().hex if kw.get("thumbnail") else None,
        created_at=utcnow() - timedelta(days=days),
    )
    files = srv.app[ATTACHMENTS]
    if kw.get("write", True):
        files.path_for(att).write_bytes(data)
    if att.thumbnail_name:
        thumb = files.thumbnail_path_for(att)
        assert thumb is not None
        thumb.write_bytes(b"\xff\xd8thumb")
    async with srv.app[SESSIONS]() as s, s.begin():
        s.add(att)
    return att


async def test_retention_deletes_only_old_messages_of_the_configured_types(
    env: dict[str, str], tmp_path: Path, server_factory: Any, backend: str
) -> None:
    settings = make_settings(
        tmp_path / "data",
        CARERTC_IM_RETENTION_DAYS_DIRECT="1",
        CARERTC_IM_RETENTION_DAYS_ROOM="7",
        **env,
    )
    srv = await server_factory(settings)
    nurse = await srv.user("nina", "nurse")
    elder = await srv.user("wang", "elder")
    async with session(srv, nurse) as h:
        direct = await create(h, srv, "/api/v1/conversations", kind="direct", members=[elder.id])
        group = await create(h, srv, "/api/v1/conversations", kind="group", members=[elder.id])
        room = await create(h, srv, "/api/v1/rooms/ward-3/conversation")
        for cid in (direct, group, room):
            for i in range(1, 4):
                await send(h, srv, cid, f"旧消息 old message {i}")
        await age(srv, direct, [1, 2], 2)  # past 1 day: deleted
        await age(srv, group, [1, 2, 3], 400)  # groups are kept forever
        await age(srv, room, [1], 8)  # past 7 days: deleted
        await age(srv, room, [2], 2)  # within 7 days: kept
        old_room_file = await add_attachment(srv, room, nurse.id, b"old", 8, thumbnail=True)
        new_room_file = await add_attachment(srv, room, nurse.id, b"new", 2)
        old_group_file = await add_attachment(srv, group, nurse.id, b"kept", 400)

        result = await srv.app[IM_RETENTION].purge()
        assert result.messages == {"direct": 2, "room": 1}
        assert result.attachments == {"direct": 0, "room": 1} and result.files_failed == 0
        files = srv.app[ATTACHMENTS]
        assert not files.path_for(old_room_file).exists()
        thumb = files.thumbnail_path_for(old_room_file)
        assert thumb is not None and not thumb.exists()
        assert files.path_for(new_room_file).read_bytes() == b"new"
        assert files.path_for(old_group_file).read_bytes() == b"kept"
        async with srv.app[SESSIONS]() as s:
            ids = set((await s.execute(select(Attachment.id))).scalars())
        assert ids == {new_room_file.id, old_group_file.id}

        async def sync(cid: str, since: int) -> dict[str, Any]:
            resp = await h.get(
                f"{srv.url}/api/v1/conversations/{cid}/messages", params={"since_seq": since}
            )
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())

        page = await sync(direct, 0)
        assert [m["seq"] for m in page["messages"]] == [3] and page["last_seq"] == 3
        assert [m["seq"] for m in (await sync(direct, 1))["messages"]] == [3]
        assert [m["seq"] for m in (await sync(group, 0))["messages"]] == [1, 2, 3]
        assert [m["seq"] for m in (await sync(room, 0))["messages"]] == [2, 3]
        ack = await send(h, srv, direct, "after the purge")
        assert ack["seq"] == 4  # sequence numbers are never reused
        assert [m["seq"] for m in (await sync(direct, 3))["messages"]] == [4]
        resp = await h.get(f"{srv.url}/api/v1/im/search", params={"q": "old message 1"})
        found = {
            (r["conversation_id"], r["message"]["seq"]) for r in (await resp.json())["results"]
        }
        assert found == {(group, 1)}
        # a second pass finds nothing more
        again = await srv.app[IM_RETENTION].purge()
        assert again.total_messages == 0 and again.total_attachments == 0
        # everything gone from a conversation: it is still listed, with its last_seq
        await age(srv, direct, [3, 4], 3)
        await srv.app[IM_RETENTION].purge()
        listed = await (await h.get(f"{srv.url}/api/v1/conversations/{direct}")).json()
        assert listed["last_seq"] == 4 and listed["last_message"] is None
        page = await sync(direct, 0)
        assert page == {"messages": [], "last_seq": 4, "has_more": False}
    if backend == "sqlite":
        async with srv.app[ENGINE].begin() as conn:
            await conn.execute(
                text("INSERT INTO im_messages_fts(im_messages_fts) VALUES ('integrity-check')")
            )


async def test_retention_task_runs_in_the_background(
    env: dict[str, str], tmp_path: Path, server_factory: Any
) -> None:
    srv = await server_factory(make_settings(tmp_path / "data", **env))
    nurse = await srv.user("nina", "nurse")
    elder = await srv.user("wang", "elder")
    async with session(srv, nurse) as h:
        cid = await create(h, srv, "/api/v1/conversations", kind="group", members=[elder.id])
        await send(h, srv, cid, "one")
        await send(h, srv, cid, "two")
    await age(srv, cid, [1], 31)
    assert srv.app[IM_RETENTION].policy == {}  # every type kept by default
    task = RetentionService(
        srv.app[SESSIONS],
        {"group": 30},
        srv.app[ATTACHMENTS],
        interval_seconds=0.05,
        initial_delay_seconds=0,
    )
    task.start()
    try:
        for _ in range(200):
            async with srv.app[SESSIONS]() as s:
                seqs = list((await s.execute(select(Message.seq))).scalars())
            if seqs == [2]:
                break
            await asyncio.sleep(0.05)
        assert seqs == [2]
    finally:
        await task.stop()
    await task.stop()  # idempotent


async def test_admin_export_zip(env: dict[str, str], tmp_path: Path, server_factory: Any) -> None:
    srv = await server_factory(make_settings(tmp_path / "data", **env))
    admin = await srv.user("root", "admin", display_name="Admin")
    nurse = await srv.user("nina", "nurse", display_name="Nurse Nina")
    elder = await srv.user("wang", "elder", display_name="王伯伯")
    async with session(srv, nurse) as h, session(srv, admin) as ha, session(srv, elder) as he:
        cid = await create(
            h, srv, "/api/v1/conversations", kind="group", members=[elder.id], title="护理"
        )
        await send(h, srv, cid, "你好 👋")
        recalled = await send(he, srv, cid, "wrong conversation")
        resp = await he.post(f"{srv.url}/api/v1/messages/{recalled['id']}/recall")
        assert resp.status == 200
        pdf = os.urandom(70_000)
        att = await add_attachment(srv, cid, nurse.id, pdf, filename="../../检查 报告?.pdf")
        await send(h, srv, cid, "the report", type="file", payload={"attachment_id": att.id})
        gone = await add_attachment(srv, cid, nurse.id, b"x", filename="gone.txt", write=False)
        await send(h, srv, cid, "last")

        url = f"{srv.url}/api/v1/conversations/{cid}/export"
        resp = await ha.get(url)
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"] == "application/zip"
        assert (
            resp.headers["Content-Disposition"] == f'attachment; filename="conversation-{cid}.zip"'
        )
        raw = await resp.read()
        assert int(resp.headers["Content-Length"]) == len(raw)

        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            assert zf.testzip() is None
            arcname = f"attachments/{att.id}-检查_报告_.pdf"
            assert sorted(zf.namelist()) == sorted(["conversation.json", arcname])
            assert zf.read(arcname) == pdf
            doc = json.loads(zf.read("conversation.json"))
        assert doc["format"] == "carertc.conversation" and doc["version"] == 1
        assert doc["exported_by"] == {"user_id": admin.id, "name": "Admin"}
        assert doc["exported_at"].endswith("Z")
        assert doc["conversation"]["id"] == cid and doc["conversation"]["title"] == "护理"
        assert doc["conversation"]["last_seq"] == 4
        names = {m["user_id"]: (m["name"], m["role"]) for m in doc["members"]}
        assert names == {nurse.id: ("Nurse Nina", "owner"), elder.id: ("王伯伯", "member")}
        messages = doc["messages"]
        assert [m["seq"] for m in messages] == [1, 2, 3, 4]
        assert messages[0]["body"] == "你好 👋" and messages[0]["sender_name"] == "Nurse Nina"
        tomb = messages[1]
        assert tomb["recalled"] is True and tomb["body"] == "" and tomb["payload"] == {}
        assert tomb["recalled_by"] == elder.id and tomb["recalled_at"].endswith("Z")
        assert messages[0]["recalled_at"] is None
        assert messages[2]["payload"]["attachment_id"] == att.id
        files = {a["id"]: a for a in doc["attachments"]}
        assert files[att.id]["file"] == arcname
        assert files[att.id]["sha256"] == hashlib.sha256(pdf).hexdigest()
        assert files[gone.id]["file"] is None
        assert list((tmp_path / "data" / "tmp").iterdir()) == []  # the temp file is gone

        for client in (h, he):  # the owner and a member are not global admins
            resp = await client.get(url)
            assert resp.status == 403
            assert (await resp.json())["error"]["code"] == "not_allowed"
        resp = await ha.get(f"{srv.url}/api/v1/conversations/no-such-id/export")
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "conversation_not_found"
        resp = await h.get(f"{srv.url}/api/v1/conversations/no-such-id/export")
        assert resp.status == 403
    async with aiohttp.ClientSession() as anonymous:
        assert (await anonymous.get(url)).status == 401


async def test_cli_purge_and_export(
    env: dict[str, str], tmp_path: Path, server_factory: Any
) -> None:
    data = tmp_path / "data"
    srv = await server_factory(make_settings(data, **env))
    nurse = await srv.user("nina", "nurse")
    elder = await srv.user("wang", "elder")
    async with session(srv, nurse) as h:
        cid = await create(h, srv, "/api/v1/conversations", kind="direct", members=[elder.id])
        await send(h, srv, cid, "first")
        await send(h, srv, cid, "second")
    await age(srv, cid, [1], 10)
    cli_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CARERTC_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    cli_env.update(
        CARERTC_DATA_DIR=str(data),
        CARERTC_AUTH_JWT_SECRET=TEST_JWT_SECRET,
        CARERTC_LOG_LEVEL="WARNING",
        **env,
    )

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CARERTC), *args],
            env={**cli_env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    off = await asyncio.to_thread(run, "im", "purge")
    assert off.returncode == 0, off.stderr
    assert "retention is off" in off.stdout
    done = await asyncio.to_thread(run, "im", "purge", CARERTC_IM_RETENTION_DAYS_DIRECT="5")
    assert done.returncode == 0, done.stderr
    assert "direct: deleted 1 messages, 0 attachments" in done.stdout
    async with srv.app[SESSIONS]() as s:
        assert list((await s.execute(select(Message.seq))).scalars()) == [2]
        assert (await s.get(Conversation, cid)) is not None

    out = tmp_path / "out.zip"
    exported = await asyncio.to_thread(run, "im", "export", cid, str(out))
    assert exported.returncode == 0, exported.stderr
    with zipfile.ZipFile(out) as zf:
        doc = json.loads(zf.read("conversation.json"))
    assert [m["body"] for m in doc["messages"]] == ["second"]
    assert doc["exported_by"]["user_id"] is None
    missing = await asyncio.to_thread(run, "im", "export", "nope", str(tmp_path / "x.zip"))
    assert missing.returncode == 1 and "conversation_not_found" in missing.stderr
    assert not (tmp_path / "x.zip").exists() and not (tmp_path / "x.zip.part").exists()
