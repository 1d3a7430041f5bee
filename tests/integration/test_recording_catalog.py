"""The recording catalog, start-up recovery and retention, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.principal import Principal
from carertc.config import Settings
from db import migrate
from db.engine import create_engine, session_factory
from recording.audit import AuditLog, AuditQuery, ClientInfo
from recording.catalog import RecordingCatalog, RecordingQuery
from recording.models import Recording, RecordingFile, RecordingParticipant
from recording.retention import RecordingRetention
from tests.support.recordings import add_recording, write_encrypted_webm

KEY = bytes(range(32))
CARERTC = Path(sys.executable).parent / "carertc"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def sessions(
    request: pytest.FixtureRequest, settings: Settings
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated database on each backend."""
    url = settings.db_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = create_engine(url)
    await migrate.upgrade(engine)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The recordings directory."""
    path = tmp_path / "recordings"
    path.mkdir()
    return path


async def _age(sessions: async_sessionmaker[AsyncSession], rid: str, days: float) -> None:
    """Move a recording's start ``days`` into the past."""
    async with sessions() as s, s.begin():
        await s.execute(update(Recording).where(Recording.id == rid).values(
            started_at=datetime.now(UTC) - timedelta(days=days)))


async def test_catalog_stores_files_participants_and_the_finished_totals(
    sessions: async_sessionmaker[AsyncSession], root: Path
) -> None:
    catalog = RecordingCatalog(sessions)
    rid, fid, plain = await add_recording(
        catalog, root, KEY, org_id="org-1", started_by="u-doc",
        participants=(("u-doc", "Dr Li"), ("u-pat", "Pat Lee"), ("u-pat", "Pat Lee")),
        context={"consult_id": "c-1"},
    )
    rec = await catalog.get(rid)
    assert rec is not None
    assert (rec["status"], rec["org_id"], rec["consult_id"], rec["meeting_id"]) == (
        "complete", "org-1", "c-1", None)
    assert rec["size_bytes"] == len(plain) and rec["duration_s"] is not None
    assert rec["duration_s"] >= 0 and rec["ended_at"] is not None
    assert {(p["user_id"], p["name"]) for p in rec["participants"]} == {
        ("u-doc", "Dr Li"), ("u-pat", "Pat Lee")}
    [f] = rec["files"]
    assert (f["id"], f["kind"], f["media_kind"], f["container"], f["status"]) == (
        fid, "track", "video", "webm", "complete")
    assert f["content_type"] == "video/webm" and f["size_bytes"] == len(plain)
    assert "path" not in f
    assert await catalog.file_path(rid, fid) == f"{rid}/camera.webm"
    assert await catalog.file_path("other", fid) is None
    assert await catalog.get("no-such-recording") is None


async def test_search_filters_by_date_room_participant_consult_meeting_and_org(
    sessions: async_sessionmaker[AsyncSession], root: Path
) -> None:
    catalog = RecordingCatalog(sessions)
    made = []
    for i, (room, ctx, who) in enumerate([
        ("consult-1", {"consult_id": "c-1"}, (("u-a", "Ann Archer"),)),
        ("meeting-1", {"meeting_id": "m-1"}, (("u-b", "Bob Baker"), ("u-a", "Ann Archer"))),
        ("consult-2", {"consult_id": "c-2"}, (("u-c", "Cy 100%_Tall"),)),
    ]):
        rid = await catalog.create_recording(room_id=room, org_id="org-1", started_by="u-a",
                                             context=ctx, title=f"r{i}")
        for uid, name in who:
            await catalog.add_participant(rid, user_id=uid, name=name)
        made.append(rid)
    other = await catalog.create_recording(room_id="consult-1", org_id="org-2",
                                           started_by=None, context={})
    no_org = await catalog.create_recording(room_id="ward", org_id=None, started_by=None)
    await _age(sessions, made[0], 10)
    await _age(sessions, made[1], 5)

    async def ids(**kw: object) -> list[str]:
        items, _ = await catalog.search(RecordingQuery(**{"org_id": "org-1", **kw}))
        return [r["id"] for r in items]

    assert await ids() == [made[2], made[1], made[0]]  # newest first
    now = datetime.now(UTC)
    assert await ids(start=now - timedelta(days=7)) == [made[2], made[1]]
    assert await ids(end=now - timedelta(days=7)) == [made[0]]
    assert await ids(start=now - timedelta(days=7), end=now - timedelta(days=1)) == [made[1]]
    assert await ids(room_id="consult-1") == [made[0]]
    assert await ids(consult_id="c-2") == [made[2]]
    assert await ids(meeting_id="m-1") == [made[1]]
    assert await ids(participant="u-a") == [made[1], made[0]]
    assert await ids(participant="bAkEr") == [made[1]]
    assert await ids(participant="100%_") == [made[2]]  # LIKE wildcards are literal
    assert await ids(participant="1_0") == []  # "_" is not "any character"
    assert await ids(status="recording") == [made[2], made[1], made[0]]
    assert await ids(status="complete") == []
    page, more = await catalog.search(RecordingQuery(org_id="org-1", limit=2))
    assert [r["id"] for r in page] == [made[2], made[1]] and more
    page, more = await catalog.search(RecordingQuery(org_id="org-1", limit=2, offset=2))
    assert [r["id"] for r in page] == [made[0]] and not more
    assert await ids(org_id="org-2") == [other]
    assert await ids(org_id=None) == [no_org]
    everything, _ = await catalog.search(RecordingQuery(all_orgs=True))
    assert {r["id"] for r in everything} == {*made, other, no_org}
    [with_people] = [r for r in everything if r["id"] == made[1]]
    assert [p["name"] for p in with_people["participants"]] == ["Ann Archer", "Bob Baker"]


async def test_recover_interrupted_turns_recording_rows_partial_with_sizes_from_disk(
    sessions: async_sessionmaker[AsyncSession], root: Path
) -> None:
    catalog = RecordingCatalog(sessions)
    rid, fid, plain = await add_recording(catalog, root, KEY, org_id="org-1", finish=False)
    lost = await catalog.add_file(  # its file never reached the disk
        rid, kind="composite", user_id=None, name="composite", source="", media_kind="av",
        codec="vp8+opus", container="webm", path=f"{rid}/composite.webm",
        started_at=time.time(),
    )
    done, _, _ = await add_recording(catalog, root, KEY, org_id="org-1", room_id="other")
    assert (await catalog.get(rid))["status"] == "recording"  # type: ignore[index]

    assert await catalog.recover_interrupted(root, KEY) == 1
    rec = await catalog.get(rid)
    assert rec is not None and rec["status"] == "partial"
    files = {f["id"]: f for f in rec["files"]}
    assert files[fid]["status"] == "partial" and files[fid]["size_bytes"] == len(plain)
    assert files[fid]["duration_s"] == pytest.approx(3.0, abs=0.2)  # from the WebM header
    assert files[lost]["status"] == "partial" and files[lost]["size_bytes"] == 0
    assert rec["size_bytes"] == len(plain) and rec["ended_at"] is not None
    assert (await catalog.get(done))["status"] == "complete"  # type: ignore[index]
    assert await catalog.recover_interrupted(root, KEY) == 0


async def test_recovery_keeps_recordings_another_live_process_is_making(
    sessions: async_sessionmaker[AsyncSession], root: Path
) -> None:
    catalog = RecordingCatalog(sessions)

    async def started_by_node(node: str) -> str:
        return await catalog.create_recording(room_id=f"room-{node}", org_id="org-1",
                                              started_by=None, node=node)

    mine_id = await started_by_node("host-a:8080")
    theirs_id = await started_by_node("host-b:8080")
    dead_id = await started_by_node("host-c:8080")
    async with sessions() as s, s.begin():  # host-c stopped sending heartbeats 2 minutes ago
        await s.execute(update(Recording).where(Recording.id == dead_id).values(
            heartbeat_at=datetime.now(UTC) - timedelta(minutes=2)))
    # host-a restarts: its own recording and host-c's are abandoned, host-b's is alive
    assert await catalog.recover_interrupted(root, KEY, node="host-a:8080") == 2
    status = {rid: (await catalog.get(rid))["status"]  # type: ignore[index]
              for rid in (mine_id, theirs_id, dead_id)}
    assert status == {mine_id: "partial", theirs_id: "recording", dead_id: "partial"}
    await catalog.heartbeat(theirs_id)  # host-b keeps recording
    assert await catalog.recover_interrupted(root, KEY, node="host-a:8080",
                                             stale_after=60) == 0
    assert await catalog.recover_interrupted(root, KEY, node="host-a:8080",
                                             stale_after=0) == 1


async def test_delete_removes_the_files_and_every_row(
    sessions: async_sessionmaker[AsyncSession], root: Path
) -> None:
    catalog = RecordingCatalog(sessions)
    rid, _, _ = await add_recording(catalog, root, KEY, org_id="org-1",
                                    participants=(("u-a", "Ann"),))
    keep, _, _ = await add_recording(catalog, root, KEY, org_id="org-1")
    assert (root / rid / "camera.webm").is_file()
    assert await catalog.delete(rid, root)
    assert not (root / rid).exists() and (root / keep / "camera.webm").is_file()
    assert await catalog.get(rid) is None
    async with sessions() as s:
        for table in (RecordingFile, RecordingParticipant):
            left = await s.scalar(select(func.count()).select_from(table).where(
                table.recording_id == rid))
            assert left == 0


async def test_retention_removes_old_recordings_and_files_and_keeps_the_audit_log(
    sessions: async_sessionmaker[AsyncSession], root: Path
) -> None:
    catalog, audit = RecordingCatalog(sessions), AuditLog(sessions)
    old, _, _ = await add_recording(catalog, root, KEY, org_id="org-1")
    fresh, _, _ = await add_recording(catalog, root, KEY, org_id="org-1")
    running, _, _ = await add_recording(catalog, root, KEY, org_id="org-1", finish=False)
    viewer = Principal("u-doc", "Dr Li", "doctor", "org-1")
    await audit.record(viewer, "view", org_id="org-1", recording_id=old,
                       client=ClientInfo("10.0.0.9", "pytest"))
    await _age(sessions, old, 31)
    await _age(sessions, running, 31)

    assert (await RecordingRetention(catalog, audit, root, 0).purge()).deleted == 0
    result = await RecordingRetention(catalog, audit, root, 30).purge()
    assert (result.deleted, result.failed) == (1, 0)
    assert await catalog.get(old) is None and not (root / old).exists()
    assert await catalog.get(fresh) is not None and (root / fresh / "camera.webm").is_file()
    assert await catalog.get(running) is not None  # never while still being recorded
    entries, _ = await audit.entries(AuditQuery(org_id="org-1", recording_id=old))
    assert [(e["action"], e["user_name"], e["user_id"]) for e in entries] == [
        ("delete", "system", None), ("view", "Dr Li", "u-doc")]


def test_cli_recording_purge_deletes_old_recordings(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CARERTC_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(CARERTC_DATA_DIR=str(data), DATABASE_URL=f"sqlite:///{data / 'cli.db'}",
               CARERTC_LOG_LEVEL="WARNING", CARERTC_RECORDING_RETENTION_DAYS="7")
    data.mkdir()
    url = f"sqlite+aiosqlite:///{data / 'cli.db'}"

    async def seed() -> str:
        engine = create_engine(url)
        try:
            await migrate.upgrade(engine)
            sessions = session_factory(engine)
            catalog = RecordingCatalog(sessions)
            rid = await catalog.create_recording(room_id="r", org_id=None, started_by=None)
            write_encrypted_webm(data / "recordings" / rid / "a.webm", KEY, seconds=1)
            await catalog.add_file(rid, kind="track", user_id=None, name="a", source="camera",
                                   media_kind="video", codec="vp8", container="webm",
                                   path=f"{rid}/a.webm", started_at=time.time())
            await catalog.finish_recording(rid, time.time())
            await _age(sessions, rid, 8)
            return rid
        finally:
            await engine.dispose()

    import asyncio

    rid = asyncio.run(seed())
    done = subprocess.run([str(CARERTC), "recording", "purge"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "deleted 1 recordings older than 7 days" in done.stdout
    assert not (data / "recordings" / rid).exists()
    env["CARERTC_RECORDING_RETENTION_DAYS"] = "0"
    off = subprocess.run([str(CARERTC), "recording", "purge"], env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert off.returncode == 0 and "retention is off" in off.stdout
