"""Playback of recordings: who may see them, Range streaming of decrypted files, the audit.

Authorisation: the caller needs ``recording.view`` in the organisation it acts
for, and the recording must belong to that organisation (recordings of rooms
without an organisation are seen by callers acting for none). A recording of
another organisation answers ``recording_not_found`` (its existence is not
revealed), even to that caller's admins; a role without ``recording.view``
answers ``permission_denied``; patients (``elder``) and guests are always
refused, whatever an organisation's overrides say. Taking part in a consult
or meeting gives no access by itself.

Audit: every list and detail read (``list``), playback (``view``), download
(``download``), export of the audit log (``export``) and deletion
(``delete``) is logged with who, what, when, IP and user agent. A media
request is logged when it has no Range or its range starts at byte 0 (a new
playback); further ranges of the same file by the same user (seeking,
buffering) are logged once per :data:`recording.audit.MEDIA_SESSION_SECONDS`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accounts.orgs import OrgService
from accounts.principal import Principal
from recording.audit import AuditLog, AuditQuery, ClientInfo
from recording.catalog import RecordingCatalog, RecordingQuery, content_type, resolve
from recording.errors import RecordingError

ALWAYS_REFUSED = frozenset({"elder", "guest"})
_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range ``start..end`` of the plaintext."""

    start: int
    end: int

    @property
    def length(self) -> int:
        """How many bytes."""
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single range asked for, or None for the whole file.

    Syntax this parser does not take (several ranges, other units) is ignored,
    as RFC 9110 allows: the whole file is sent. A range that cannot be met
    raises ``range_not_satisfiable`` (with ``Content-Range: bytes */size``).
    """
    if not header:
        return None
    match = _RANGE_RE.match(header)
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    unsatisfiable = RecordingError(
        "range_not_satisfiable", f"the range cannot be met: the file has {size} bytes",
        {"Content-Range": f"bytes */{size}"},
    )
    if first == "" and last == "":
        return None
    if first == "":  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise unsatisfiable
        return ByteRange(max(0, size - n), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # syntactically invalid: ignore
    if start >= size:
        raise unsatisfiable
    return ByteRange(start, min(end, size - 1))


def safe_filename(text: str) -> str:
    """An ASCII file name: letters, digits, ``._-``; never empty, at most 120 characters."""
    cleaned = _UNSAFE.sub("_", text).strip("._") or "recording"
    return cleaned[:120]


@dataclass
class MediaStream:
    """What to answer for a media request: status, headers and the decrypted bytes."""

    status: int
    headers: dict[str, str]
    length: int
    path: Path
    byte_range: ByteRange | None
    key: bytes
    filename: str
    content_type: str

    async def chunks(self) -> AsyncIterator[bytes]:
        """The plaintext of the requested range (nothing for an empty file)."""
        import vault

        if self.length <= 0:
            return
        start = self.byte_range.start if self.byte_range else 0
        end = self.byte_range.end if self.byte_range else self.length - 1
        async for block in vault.stream_range(self.path, self.key, start, end):
            yield block


class RecordingPlayback:
    """Authorised reads of the catalog and the files, each one audited."""

    def __init__(
        self,
        catalog: RecordingCatalog,
        audit: AuditLog,
        orgs: OrgService,
        root: Path,
        key: bytes,
    ) -> None:
        self.catalog = catalog
        self.audit = audit
        self.orgs = orgs
        self.root = root
        self.key = key

    # ------------------------------------------------------------------ authorisation

    async def authorise(self, principal: Principal) -> None:
        """``permission_denied`` unless ``principal`` may view recordings (in its org)."""
        if principal.role in ALWAYS_REFUSED or principal.room_grant is not None:
            raise RecordingError("permission_denied", "this account may not view recordings")
        await self.orgs.require(principal, "recording.view")

    async def recording_for(self, principal: Principal, recording_id: str) -> dict[str, Any]:
        """The recording, if ``principal`` may view it; ``recording_not_found`` otherwise."""
        await self.authorise(principal)
        rec = await self.catalog.get(recording_id)
        if rec is None or rec["org_id"] != principal.org:
            raise RecordingError("recording_not_found", "no such recording")
        return rec

    @staticmethod
    def require_admin(principal: Principal) -> None:
        """``permission_denied`` unless an admin of the organisation it acts for."""
        if principal.role != "admin" or principal.room_grant is not None:
            raise RecordingError(
                "permission_denied", "only administrators of the organisation may do this"
            )

    # ------------------------------------------------------------------ reads

    async def search(
        self, principal: Principal, query: RecordingQuery, client: ClientInfo
    ) -> tuple[list[dict[str, Any]], bool]:
        """Recordings of the caller's organisation matching ``query``; audited as ``list``."""
        await self.authorise(principal)
        scoped = dataclasses.replace(query, org_id=principal.org, all_orgs=False)
        items, more = await self.catalog.search(scoped)
        await self.audit.record(principal, "list", org_id=principal.org, client=client)
        return items, more

    async def get(
        self, principal: Principal, recording_id: str, client: ClientInfo
    ) -> dict[str, Any]:
        """One recording with files and participants; audited as ``list``."""
        rec = await self.recording_for(principal, recording_id)
        await self.audit.record(
            principal, "list", org_id=rec["org_id"], recording_id=recording_id, client=client
        )
        return rec

    async def open_media(
        self,
        principal: Principal,
        recording_id: str,
        file_id: str,
        range_header: str | None,
        *,
        download: bool,
        client: ClientInfo,
        audit: bool = True,
    ) -> MediaStream:
        """Authorise, find the file, work out the range; audit ``view`` or ``download``."""
        rec = await self.recording_for(principal, recording_id)
        info = next((f for f in rec["files"] if f["id"] == file_id), None)
        stored = await self.catalog.file_path(recording_id, file_id)
        if info is None or stored is None:
            raise RecordingError("recording_file_not_found", "no such file in this recording")
        try:
            path = resolve(self.root, stored)
        except ValueError:
            raise RecordingError(
                "recording_file_not_found", "the file is no longer stored"
            ) from None
        size = await asyncio.to_thread(_plain_size, path, self.key)
        if size is None:
            raise RecordingError("recording_file_not_found", "the file is no longer stored")
        action = "download" if download else "view"
        try:
            byte_range = parse_range(range_header, size)
        except RecordingError:
            if audit:  # a refused range is an access attempt too
                await self._log_media(principal, rec, file_id, action, range_header, 0, client)
            raise
        if audit:
            start = byte_range.start if byte_range else 0
            await self._log_media(principal, rec, file_id, action, range_header, start, client)
        ctype = content_type(info["container"], info["media_kind"])
        ext = "webm" if info["container"] == "webm" else "mkv"
        day = (rec["started_at"] or "")[:19].replace(":", "-")
        label = info["name"] or info["kind"]
        filename = safe_filename(f"recording-{day}-{label}-{file_id[:8]}") + f".{ext}"
        headers = {"Content-Type": ctype, "Accept-Ranges": "bytes"}
        if byte_range is not None:
            headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{size}"
        length = byte_range.length if byte_range is not None else size
        return MediaStream(
            status=206 if byte_range is not None else 200,
            headers=headers,
            length=length,
            path=path,
            byte_range=byte_range,
            key=self.key,
            filename=filename,
            content_type=ctype,
        )

    async def _log_media(
        self,
        principal: Principal,
        rec: dict[str, Any],
        file_id: str,
        action: str,
        range_header: str | None,
        start: int,
        client: ClientInfo,
    ) -> None:
        if self.audit.should_log_media(principal, file_id, action, start):
            await self.audit.record(
                principal, action, org_id=rec["org_id"], recording_id=rec["id"],
                file_id=file_id, byte_range=range_header, client=client,
            )

    # ------------------------------------------------------------------ admin

    async def delete(self, principal: Principal, recording_id: str, client: ClientInfo) -> bool:
        """Delete a recording (admins of its organisation); audited as ``delete``.

        False when a file could not be removed (the rows stay, so a retry or
        retention finishes the job).
        """
        self.require_admin(principal)
        rec = await self.recording_for(principal, recording_id)
        if rec["status"] == "recording":
            raise RecordingError("recording_in_progress", "stop the recording first")
        await self.audit.record(
            principal, "delete", org_id=rec["org_id"], recording_id=recording_id, client=client
        )
        return await self.catalog.delete(recording_id, self.root)

    async def audit_entries(
        self, principal: Principal, query: AuditQuery
    ) -> tuple[list[dict[str, Any]], bool]:
        """The access log of the caller's organisation (admins only)."""
        self.require_admin(principal)
        return await self.audit.entries(dataclasses.replace(query, org_id=principal.org))

    async def audit_csv(
        self, principal: Principal, query: AuditQuery, client: ClientInfo
    ) -> AsyncIterator[bytes]:
        """The access log as CSV (admins only); the export itself is logged as ``export``."""
        self.require_admin(principal)
        scoped = dataclasses.replace(query, org_id=principal.org)
        await self.audit.record(principal, "export", org_id=principal.org, client=client)
        return self.audit.csv_chunks(scoped)


def _plain_size(path: Path, key: bytes) -> int | None:
    """The plaintext size of an encrypted file, or None if it is not there."""
    import vault

    if not path.is_file():
        return None
    return int(vault.plain_size(path, key))
