"""Retention: delete messages and attachments older than their conversation type allows.

The types are ``direct`` (one-to-one), ``group`` (a group without a call) and
``room`` (the conversation beside a call); ``ImSettings.retention_days_*``
gives the days for each, 0 meaning keep forever. A conversation's ``last_seq``
is never changed, so sequence numbers stay unique and catch-up keeps working:
a sync simply returns the messages that are left (seq numbers may then start
above ``since_seq + 1``). Attachments go by their upload time, rows first and
then their files.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.periodic import Periodic
from im.models import Attachment, Conversation, Message, utcnow

log = logging.getLogger(__name__)

MESSAGES: Table = Message.__table__  # type: ignore[assignment]
CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
ATTACHMENTS: Table = Attachment.__table__  # type: ignore[assignment]

CONVERSATION_TYPES = ("direct", "group", "room")


class AttachmentFiles(Protocol):
    """Where attachment files live, and how to remove them."""

    def path_for(self, attachment: Attachment) -> Path:
        """The stored file of ``attachment``."""
        ...

    def delete_files(self, attachment: Attachment) -> Awaitable[None] | None:
        """Remove the file and thumbnail of ``attachment`` (missing files are fine)."""
        ...


class DirectoryFiles:
    """Attachment files stored flat as ``<root>/<storage_name>`` (and ``thumbnail_name``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
            raise ValueError(f"unsafe storage name {name!r}")
        return self.root / name

    def path_for(self, attachment: Attachment) -> Path:
        """``<root>/<storage_name>``."""
        return self._path(attachment.storage_name)

    def delete_files(self, attachment: Attachment) -> None:
        """Unlink the file and the thumbnail, if there."""
        for name in (attachment.storage_name, attachment.thumbnail_name):
            if name:
                self._path(name).unlink(missing_ok=True)


def conversation_filter(conversation_type: str) -> ColumnElement[bool]:
    """Which conversations belong to ``direct``, ``group`` (no call) or ``room``."""
    c = CONVERSATIONS.c
    if conversation_type == "direct":
        return c.kind == "direct"
    if conversation_type == "group":
        return (c.kind == "group") & c.room_id.is_(None)
    if conversation_type == "room":
        return c.room_id.is_not(None)
    raise ValueError(f"unknown conversation type {conversation_type!r}")


def policy(retention_days: Mapping[str, int]) -> dict[str, int]:
    """Conversation type -> days to keep, for the types with a limit (0 keeps forever)."""
    unknown = set(retention_days) - set(CONVERSATION_TYPES)
    if unknown:
        raise ValueError(f"unknown conversation types {sorted(unknown)}")
    return {k: int(v) for k, v in retention_days.items() if v > 0}


def retention_days(im_settings: object) -> dict[str, int]:
    """``{direct, group, room: days}`` from settings with ``retention_days_<type>`` fields."""
    return {t: int(getattr(im_settings, f"retention_days_{t}")) for t in CONVERSATION_TYPES}


@dataclass
class PurgeResult:
    """What one retention pass deleted, per conversation type."""

    messages: dict[str, int] = field(default_factory=dict)
    attachments: dict[str, int] = field(default_factory=dict)
    files_failed: int = 0

    @property
    def total_messages(self) -> int:
        """Messages deleted in all types."""
        return sum(self.messages.values())

    @property
    def total_attachments(self) -> int:
        """Attachments deleted in all types."""
        return sum(self.attachments.values())


class RetentionService:
    """Runs retention once (:meth:`purge`) or every ``interval_seconds`` in the background.

    ``retention_days`` maps ``direct`` / ``group`` / ``room`` to days (0 = keep).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        retention_days: Mapping[str, int],
        files: AttachmentFiles,
        *,
        interval_seconds: float = 3600.0,
        initial_delay_seconds: float = 60.0,
        batch_size: int = 1000,
    ) -> None:
        self.sessions = sessions
        self.policy = policy(retention_days)
        self.files = files
        self.interval = interval_seconds
        self.batch_size = batch_size
        self._periodic = Periodic("im-retention", self.purge, interval_seconds,
                                  initial_delay_seconds)

    async def purge(self, now: datetime | None = None) -> PurgeResult:
        """Delete everything past its retention; return the counts."""
        now = now or utcnow()
        result = PurgeResult()
        for conversation_type, days in self.policy.items():
            cutoff = now - timedelta(days=days)
            convs = select(CONVERSATIONS.c.id).where(conversation_filter(conversation_type))
            result.messages[conversation_type] = await self._purge_messages(convs, cutoff)
            deleted, failed = await self._purge_attachments(convs, cutoff)
            result.attachments[conversation_type] = deleted
            result.files_failed += failed
            log.info(
                "im_retention_purged",
                extra={
                    "conversation_type": conversation_type,
                    "retention_days": days,
                    "cutoff": cutoff.isoformat(),
                    "messages": result.messages[conversation_type],
                    "attachments": deleted,
                    "files_failed": failed,
                },
            )
        return result

    async def _purge_messages(self, convs: Any, cutoff: datetime) -> int:
        total = 0
        while True:
            batch = (
                select(MESSAGES.c.id)
                .where(MESSAGES.c.conversation_id.in_(convs), MESSAGES.c.created_at < cutoff)
                .limit(self.batch_size)
            )
            async with self.sessions() as s, s.begin():
                done = await s.execute(delete(MESSAGES).where(MESSAGES.c.id.in_(batch)))
            count = int(done.rowcount or 0)  # type: ignore[attr-defined]
            total += count
            if count < self.batch_size:
                return total

    async def _purge_attachments(self, convs: Any, cutoff: datetime) -> tuple[int, int]:
        total = failed = 0
        while True:
            async with self.sessions() as s, s.begin():
                rows = list(
                    (
                        await s.execute(
                            select(Attachment)
                            .where(
                                Attachment.conversation_id.in_(convs),
                                Attachment.created_at < cutoff,
                            )
                            .limit(self.batch_size)
                        )
                    ).scalars()
                )
                if rows:
                    await s.execute(
                        delete(ATTACHMENTS).where(ATTACHMENTS.c.id.in_([a.id for a in rows]))
                    )
            for attachment in rows:
                failed += not await self._delete_files(attachment)
            total += len(rows)
            if len(rows) < self.batch_size:
                return total, failed

    async def _delete_files(self, attachment: Attachment) -> bool:
        try:
            outcome = self.files.delete_files(attachment)
            if inspect.isawaitable(outcome):
                await outcome
        except (OSError, ValueError):
            log.warning(
                "im_retention_file_delete_failed",
                extra={"attachment_id": attachment.id},
                exc_info=True,
            )
            return False
        return True

    # -- background task --------------------------------------------------------------

    def start(self) -> None:
        """Start the periodic task (nothing to do when every type is kept forever)."""
        if not self.policy:
            log.info("im_retention_off")
            return
        if not self._periodic.started:
            self._periodic.start()
            log.info(
                "im_retention_started",
                extra={"policy_days": dict(self.policy), "interval_seconds": self.interval},
            )

    async def stop(self) -> None:
        """Cancel the periodic task and wait for it."""
        await self._periodic.stop()

    async def running(self, _app: object = None) -> AsyncIterator[None]:
        """A cleanup context: started while the app runs, stopped on shutdown."""
        self.start()
        try:
            yield
        finally:
            await self.stop()
