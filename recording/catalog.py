"""The recording catalog: recordings, their files and participants in the database.

The recorders call :meth:`RecordingCatalog.create_recording`, :meth:`add_file`,
:meth:`update_file`, :meth:`add_participant` and :meth:`finish_recording`;
playback and the API read it with :meth:`search` and :meth:`get`. Times given
as floats are ``time.time()`` values. A file's ``path`` is relative to the
recordings directory. :meth:`recover_interrupted` runs at start-up: rows a
crash left ``recording`` become ``partial``, with sizes and durations read
from the encrypted files.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.periodic import Periodic
from db.times import aware, iso
from recording.models import (
    CONTAINERS,
    FILE_KINDS,
    MEDIA_KINDS,
    RECORDING_STATUSES,
    Recording,
    RecordingFile,
    RecordingParticipant,
    new_id,
    utcnow,
)

log = logging.getLogger("carertc.recording")

MAX_LIMIT = 100
# seconds without a heartbeat after which another process's recording counts as abandoned
STALE_AFTER = 60.0
DEFAULT_LIMIT = 50


def from_epoch(value: float) -> datetime:
    """A ``time.time()`` value as an aware UTC datetime."""
    return datetime.fromtimestamp(value, UTC)


def resolve(root: Path, stored: str) -> Path:
    """The file a stored ``path`` names, which must lie inside ``root``."""
    base = root.resolve()
    candidate = Path(stored)
    full = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if full != base and base not in full.parents:
        raise ValueError(f"recording file outside the recordings directory: {stored!r}")
    return full


def content_type(container: str, media_kind: str) -> str:
    """The MIME type of a recording file."""
    top = "audio" if media_kind == "audio" else "video"
    return f"{top}/webm" if container == "webm" else f"{top}/x-matroska"


@dataclass(frozen=True)
class RecordingQuery:
    """Filters of :meth:`RecordingCatalog.search`; ``org_id`` applies unless ``all_orgs``."""

    org_id: str | None = None
    all_orgs: bool = False
    start: datetime | None = None  # started at or after
    end: datetime | None = None  # started before
    room_id: str | None = None
    consult_id: str | None = None
    meeting_id: str | None = None
    participant: str | None = None  # a user id, or part of a participant's name
    status: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def file_public(f: RecordingFile) -> dict[str, Any]:
    """A file as the API shows it (never its path on disk)."""
    return {
        "id": f.id,
        "kind": f.kind,
        "user_id": f.user_id,
        "name": f.name,
        "source": f.source,
        "media_kind": f.media_kind,
        "codec": f.codec,
        "container": f.container,
        "content_type": content_type(f.container, f.media_kind),
        "started_at": iso(f.started_at),
        "ended_at": iso(f.ended_at),
        "duration_s": f.duration_s,
        "size_bytes": int(f.size_bytes or 0),
        "status": f.status,
    }


def recording_public(
    r: Recording, participants: list[RecordingParticipant], files: list[RecordingFile] | None
) -> dict[str, Any]:
    """A recording as the API shows it (with its files when ``files`` is given)."""
    out: dict[str, Any] = {
        "id": r.id,
        "room_id": r.room_id,
        "org_id": r.org_id,
        "consult_id": r.consult_id,
        "meeting_id": r.meeting_id,
        "title": r.title,
        "layout": r.layout,
        "status": r.status,
        "started_by": r.started_by,
        "started_at": iso(r.started_at),
        "ended_at": iso(r.ended_at),
        "duration_s": r.duration_s,
        "size_bytes": int(r.size_bytes or 0),
        "participants": [{"user_id": p.user_id, "name": p.name} for p in participants],
    }
    if files is not None:
        out["files"] = [file_public(f) for f in files]
    return out


class RecordingCatalog:
    """Recordings, files and participants in the database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    # ------------------------------------------------------------------ writers

    async def create_recording(
        self,
        *,
        room_id: str,
        org_id: str | None,
        started_by: str | None,
        context: Mapping[str, Any] | None = None,
        layout: str = "grid",
        title: str = "",
        node: str | None = None,
    ) -> str:
        """A new recording in status ``recording``, started now by ``node``; its id."""
        ctx = dict(context or {})
        rec = Recording(
            id=new_id(),
            room_id=room_id,
            org_id=org_id,
            consult_id=ctx.get("consult_id"),
            meeting_id=ctx.get("meeting_id"),
            title=(title or "")[:200],
            layout=layout,
            status="recording",
            started_by=started_by,
            started_at=utcnow(),
            size_bytes=0,
            node=node,
            heartbeat_at=utcnow(),
        )
        async with self.sessions() as s, s.begin():
            s.add(rec)
        log.info("recording_created", extra={"recording_id": rec.id, "room_id": room_id})
        return rec.id

    async def add_file(
        self,
        recording_id: str,
        *,
        kind: str,
        user_id: str | None,
        name: str,
        source: str,
        media_kind: str,
        codec: str,
        container: str,
        path: str | Path,
        started_at: float,
    ) -> str:
        """A new file of ``recording_id`` in status ``recording``; its id."""
        for value, allowed, what in ((kind, FILE_KINDS, "kind"), (media_kind, MEDIA_KINDS,
                                     "media_kind"), (container, CONTAINERS, "container")):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {allowed}, got {value!r}")
        row = RecordingFile(
            id=new_id(),
            recording_id=recording_id,
            kind=kind,
            user_id=user_id,
            name=(name or "")[:200],
            source=(source or "")[:32],
            media_kind=media_kind,
            codec=(codec or "")[:32],
            container=container,
            path=str(path),
            started_at=from_epoch(started_at),
            size_bytes=0,
            status="recording",
        )
        async with self.sessions() as s, s.begin():
            s.add(row)
        return row.id

    async def update_file(
        self,
        file_id: str,
        *,
        size: int | None = None,
        duration: float | None = None,
        ended_at: float | None = None,
        status: str | None = None,
    ) -> None:
        """Set what is known of a file: plaintext size, duration (s), end time, status."""
        values: dict[str, Any] = {}
        if size is not None:
            values["size_bytes"] = int(size)
        if duration is not None:
            values["duration_s"] = float(duration)
        if ended_at is not None:
            values["ended_at"] = from_epoch(ended_at)
        if status is not None:
            if status not in RECORDING_STATUSES:
                raise ValueError(f"unknown file status {status!r}")
            values["status"] = status
        if not values:
            return
        async with self.sessions() as s, s.begin():
            await s.execute(update(RecordingFile).where(RecordingFile.id == file_id).values(values))

    async def add_participant(self, recording_id: str, *, user_id: str, name: str) -> None:
        """Note that ``user_id`` took part (idempotent; the latest name wins)."""
        name = (name or "")[:200]
        async with self.sessions() as s, s.begin():
            found = await s.get(RecordingParticipant, (recording_id, user_id))
            if found is not None:
                found.name = name or found.name
                return
        try:
            async with self.sessions() as s, s.begin():
                s.add(RecordingParticipant(recording_id=recording_id, user_id=user_id, name=name))
        except IntegrityError:  # added concurrently
            pass

    async def finish_recording(
        self, recording_id: str, ended_at: float, status: str = "complete"
    ) -> None:
        """End a recording: status, end time, duration and total size of its files."""
        if status not in RECORDING_STATUSES:
            raise ValueError(f"unknown recording status {status!r}")
        end = from_epoch(ended_at)
        async with self.sessions() as s, s.begin():
            rec = await s.get(Recording, recording_id)
            if rec is None:
                return
            await s.execute(
                update(RecordingFile)
                .where(RecordingFile.recording_id == recording_id,
                       RecordingFile.status == "recording")
                .values(status=status)
            )
            total = await s.scalar(
                select(func.coalesce(func.sum(RecordingFile.size_bytes), 0)).where(
                    RecordingFile.recording_id == recording_id
                )
            )
            rec.status = status
            rec.ended_at = end
            started = aware(rec.started_at) or end
            rec.duration_s = max(0.0, (end - started).total_seconds())
            rec.size_bytes = int(total or 0)
        log.info("recording_finished", extra={"recording_id": recording_id, "status": status})

    # ------------------------------------------------------------------ readers

    async def search(self, query: RecordingQuery) -> tuple[list[dict[str, Any]], bool]:
        """Recordings matching ``query``, newest first, and whether more follow."""
        stmt = select(Recording)
        if not query.all_orgs:
            stmt = stmt.where(
                Recording.org_id.is_(None) if query.org_id is None
                else Recording.org_id == query.org_id
            )
        if query.start is not None:
            stmt = stmt.where(Recording.started_at >= query.start)
        if query.end is not None:
            stmt = stmt.where(Recording.started_at < query.end)
        for column, value in ((Recording.room_id, query.room_id),
                              (Recording.consult_id, query.consult_id),
                              (Recording.meeting_id, query.meeting_id),
                              (Recording.status, query.status)):
            if value is not None:
                stmt = stmt.where(column == value)
        if query.participant:
            p = RecordingParticipant
            needle = query.participant.lower()
            stmt = stmt.where(
                exists().where(
                    p.recording_id == Recording.id,
                    or_(p.user_id == query.participant,
                        func.lower(p.name).contains(needle, autoescape=True)),
                )
            )
        limit = max(1, min(query.limit, MAX_LIMIT))
        stmt = (stmt.order_by(Recording.started_at.desc(), Recording.id.desc())
                .offset(max(0, query.offset)).limit(limit + 1))
        async with self.sessions() as s:
            rows = list((await s.execute(stmt)).scalars())
            more = len(rows) > limit
            rows = rows[:limit]
            people = await self._participants(s, [r.id for r in rows])
        return [recording_public(r, people.get(r.id, []), None) for r in rows], more

    async def _participants(
        self, s: AsyncSession, ids: list[str]
    ) -> dict[str, list[RecordingParticipant]]:
        out: dict[str, list[RecordingParticipant]] = {}
        if not ids:
            return out
        rows = await s.execute(
            select(RecordingParticipant)
            .where(RecordingParticipant.recording_id.in_(ids))
            .order_by(RecordingParticipant.name, RecordingParticipant.user_id)
        )
        for p in rows.scalars():
            out.setdefault(p.recording_id, []).append(p)
        return out

    async def get(self, recording_id: str) -> dict[str, Any] | None:
        """One recording with its files and participants, or None."""
        async with self.sessions() as s:
            rec = await s.get(Recording, recording_id)
            if rec is None:
                return None
            files = list(
                (
                    await s.execute(
                        select(RecordingFile)
                        .where(RecordingFile.recording_id == recording_id)
                        .order_by(RecordingFile.started_at, RecordingFile.id)
                    )
                ).scalars()
            )
            people = await self._participants(s, [rec.id])
        return recording_public(rec, people.get(rec.id, []), files)

    async def file_path(self, recording_id: str, file_id: str) -> str | None:
        """The stored (relative) path of a file of ``recording_id``, or None."""
        async with self.sessions() as s:
            return await s.scalar(
                select(RecordingFile.path).where(
                    RecordingFile.id == file_id, RecordingFile.recording_id == recording_id
                )
            )

    async def older_than(self, cutoff: datetime, limit: int = 100) -> list[dict[str, Any]]:
        """Recordings started before ``cutoff`` and no longer being recorded (oldest first)."""
        async with self.sessions() as s:
            rows = await s.execute(
                select(Recording)
                .where(Recording.started_at < cutoff, Recording.status != "recording")
                .order_by(Recording.started_at)
                .limit(limit)
            )
            return [recording_public(r, [], None) for r in rows.scalars()]

    # ------------------------------------------------------------------ delete

    async def delete(self, recording_id: str, root: Path) -> bool:
        """Remove a recording's files from disk, then its rows; False if a file stays."""
        async with self.sessions() as s:
            paths = list(
                (
                    await s.execute(
                        select(RecordingFile.path).where(
                            RecordingFile.recording_id == recording_id
                        )
                    )
                ).scalars()
            )
        failed = await asyncio.to_thread(_remove_files, root, paths)
        if failed:
            log.warning("recording_files_not_deleted",
                        extra={"recording_id": recording_id, "files": failed})
            return False
        async with self.sessions() as s, s.begin():
            for table in (RecordingFile, RecordingParticipant):
                await s.execute(delete(table).where(table.recording_id == recording_id))
            await s.execute(delete(Recording).where(Recording.id == recording_id))
        log.info("recording_deleted", extra={"recording_id": recording_id})
        return True

    # ------------------------------------------------------------------ start-up

    async def heartbeat(self, recording_id: str) -> None:
        """The recording's node is still making it (see :meth:`recover_interrupted`)."""
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(Recording)
                .where(Recording.id == recording_id, Recording.status == "recording")
                .values(heartbeat_at=utcnow())
            )

    def recovering(self, root: Path, key: bytes, *, interval: float = STALE_AFTER) -> Periodic:
        """Every ``interval`` s, recordings of processes that died become partial (``running``
        is the cleanup context)."""

        async def sweep() -> None:
            await self.recover_interrupted(root, key, node=None)

        return Periodic("recording-recovery", sweep, interval, interval)

    async def recover_interrupted(self, root: Path, key: bytes, *, node: str | None = None,
                                  stale_after: float = STALE_AFTER) -> int:
        """Turn recordings a crash left ``recording`` into ``partial``; how many there were.

        A recording is left behind if ``node`` (this process, just started) made it, if it
        names no node, or if its node has not sent a heartbeat for ``stale_after`` seconds
        (another process that died); recordings other live processes make are kept.
        """
        cutoff = utcnow() - timedelta(seconds=stale_after)
        abandoned = or_(Recording.node.is_(None), Recording.heartbeat_at.is_(None),
                        Recording.heartbeat_at < cutoff)
        if node is not None:
            abandoned = or_(abandoned, Recording.node == node)
        async with self.sessions() as s:
            recs = list(
                (await s.execute(select(Recording).where(Recording.status == "recording",
                                                         abandoned)))
                .scalars()
            )
            ids = [r.id for r in recs]
            files = list(
                (
                    await s.execute(
                        select(RecordingFile).where(RecordingFile.recording_id.in_(ids))
                    )
                ).scalars()
            ) if ids else []
        for rec in recs:
            mine = [f for f in files if f.recording_id == rec.id]
            await self._recover_one(rec, mine, root, key)
        if recs:
            log.warning("recordings_recovered", extra={"count": len(recs)})
        return len(recs)

    async def _recover_one(
        self, rec: Recording, files: list[RecordingFile], root: Path, key: bytes
    ) -> None:
        started = aware(rec.started_at) or utcnow()
        ended = started
        total = 0
        for f in files:
            size, duration, last = f.size_bytes or 0, f.duration_s, aware(f.ended_at)
            if f.status == "recording":
                probed = await asyncio.to_thread(_probe, root, f.path, key)
                size = probed.size if probed.size is not None else size
                f_start = aware(f.started_at) or started
                if probed.duration is not None:
                    duration = probed.duration
                elif probed.mtime is not None:
                    duration = max(0.0, probed.mtime - f_start.timestamp())
                if probed.mtime is not None:
                    last = from_epoch(max(probed.mtime, f_start.timestamp()))
                elif duration is not None:
                    last = from_epoch(f_start.timestamp() + duration)
                async with self.sessions() as s, s.begin():
                    await s.execute(
                        update(RecordingFile).where(RecordingFile.id == f.id).values(
                            size_bytes=int(size), duration_s=duration, ended_at=last,
                            status="partial",
                        )
                    )
            total += int(size or 0)
            if last is not None and last > ended:
                ended = last
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(Recording)
                .where(Recording.id == rec.id, Recording.status == "recording")
                .values(status="partial", ended_at=ended, size_bytes=total,
                        duration_s=max(0.0, (ended - started).total_seconds()))
            )


@dataclass(frozen=True)
class _Probe:
    size: int | None
    duration: float | None
    mtime: float | None


def _probe(root: Path, stored: str, key: bytes) -> _Probe:
    """Plaintext size, duration (if the container says) and mtime of an encrypted file."""
    import vault

    try:
        path = resolve(root, stored)
        mtime = os.stat(path).st_mtime
    except (OSError, ValueError):
        return _Probe(None, None, None)
    try:
        size: int | None = int(vault.plain_size(path, key))
    except Exception:
        log.warning("recording_file_unreadable", extra={"path": stored}, exc_info=True)
        return _Probe(None, None, mtime)
    return _Probe(size, _duration(path, key) if size else None, mtime)


def _duration(path: Path, key: bytes) -> float | None:
    """The container's duration in seconds, when its header has one."""
    import av

    import vault

    reader = vault.EncryptedReader(path, key)
    try:
        with av.open(reader, mode="r") as container:
            if container.duration:
                return float(container.duration) / 1_000_000
    except Exception:  # noqa: BLE001 - a torn file: no duration
        return None
    finally:
        reader.close()
    return None


def _remove_files(root: Path, paths: list[str]) -> int:
    """Unlink ``paths`` (missing is fine) and then empty parent folders; how many failed."""
    failed = 0
    parents: set[Path] = set()
    base = root.resolve()
    for stored in paths:
        try:
            path = resolve(root, stored)
            path.unlink(missing_ok=True)
            parents.add(path.parent)
        except (OSError, ValueError):
            failed += 1
    for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        while parent != base and base in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
    return failed
