"""Retention: delete recordings older than ``CARERTC_RECORDING_RETENTION_DAYS`` (0 keeps all).

A recording goes by its start time, files first and then rows; each deletion
is written to the access log as ``delete`` by ``system`` (the log itself is
kept). Recordings still being recorded are never touched. Runs hourly while
the server runs (:meth:`RecordingRetention.running`) and once from
``carertc recording purge``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from db.periodic import Periodic
from recording.audit import SYSTEM, AuditLog
from recording.catalog import RecordingCatalog
from recording.models import utcnow

log = logging.getLogger("carertc.recording")


@dataclass
class RecordingPurge:
    """What one retention pass did."""

    deleted: int = 0
    failed: int = 0


class RecordingRetention:
    """Runs retention once (:meth:`purge`) or every ``interval_seconds`` in the background."""

    def __init__(
        self,
        catalog: RecordingCatalog,
        audit: AuditLog,
        root: Path,
        retention_days: int,
        *,
        interval_seconds: float = 3600.0,
        initial_delay_seconds: float = 60.0,
        batch_size: int = 100,
    ) -> None:
        self.catalog = catalog
        self.audit = audit
        self.root = root
        self.retention_days = retention_days
        self.batch_size = batch_size
        self._periodic = Periodic("recording-retention", self.purge, interval_seconds,
                                  initial_delay_seconds)

    async def purge(self, now: datetime | None = None) -> RecordingPurge:
        """Delete every recording past its retention; nothing when retention is 0."""
        result = RecordingPurge()
        if self.retention_days <= 0:
            return result
        cutoff = (now or utcnow()) - timedelta(days=self.retention_days)
        skip: set[str] = set()
        while True:
            batch = [r for r in await self.catalog.older_than(
                cutoff, self.batch_size + len(skip)) if r["id"] not in skip]
            if not batch:
                break
            for rec in batch:
                await self.audit.record(SYSTEM, "delete", org_id=rec["org_id"],
                                        recording_id=rec["id"])
                if await self.catalog.delete(rec["id"], self.root):
                    result.deleted += 1
                else:
                    result.failed += 1
                    skip.add(rec["id"])
        log.info("recording_retention_purged", extra={
            "retention_days": self.retention_days, "cutoff": cutoff.isoformat(),
            "deleted": result.deleted, "failed": result.failed,
        })
        return result

    def start(self) -> None:
        """Start the periodic task (nothing to do when recordings are kept forever)."""
        if self.retention_days <= 0:
            log.info("recording_retention_off")
            return
        self._periodic.start()

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
