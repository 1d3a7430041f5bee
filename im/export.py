"""Export of a whole conversation as a ZIP, for administrators.

The archive holds ``conversation.json`` (format ``carertc.conversation``,
version 1: the conversation, its members with names, every attachment's
metadata and every message in seq order, recalled ones as tombstones with who
recalled them and when) and ``attachments/<attachment_id>-<filename>`` for
every attachment whose file is present. The ZIP is written in a worker thread,
page by page, so a long conversation is never held in memory at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import vault
from accounts.models import User
from im import wire
from im.errors import ImError, not_found
from im.models import Attachment, Conversation, Member, Message, utcnow
from im.retention import AttachmentFiles
from im.service import Actor

log = logging.getLogger(__name__)

MESSAGES: Table = Message.__table__  # type: ignore[assignment]
FORMAT = "carertc.conversation"
VERSION = 1
# Already compressed: stored as they are.
_STORED_KINDS = ("image", "audio", "video")


def safe_filename(name: str, max_length: int = 100) -> str:
    """``name`` reduced to letters, digits, ``.``, ``-`` and ``_`` (no path, no leading dot)."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = re.sub(r"[^\w.\-]+", "_", name).strip("._")
    if len(cleaned) > max_length:
        stem, dot, ext = cleaned.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            cleaned = stem[: max_length - len(ext) - 1] + "." + ext
        else:
            cleaned = cleaned[:max_length]
    return cleaned or "file"


def download_name(conversation_id: str) -> str:
    """The file name offered for the download of a conversation's export."""
    return f"conversation-{re.sub(r'[^A-Za-z0-9_-]+', '_', conversation_id)}.zip"


@dataclass(frozen=True)
class ExportSummary:
    """What went into an export."""

    conversation_id: str
    messages: int
    attachments: int
    missing_files: int
    size: int


class ConversationExporter:
    """Writes conversation exports; :meth:`export_for` checks that the actor is an admin."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        files: AttachmentFiles,
        tmp_dir: Path,
        *,
        page_size: int = 1000,
        vault_key: bytes | None = None,
    ) -> None:
        self.sessions = sessions
        self.files = files
        self.tmp_dir = tmp_dir
        self.page_size = page_size
        self.vault_key = vault_key  # decrypts attachments stored encrypted (snapshots)

    async def export_for(self, actor: Actor, conversation_id: str) -> tuple[Path, ExportSummary]:
        """A temporary ZIP of the conversation (the caller deletes it); admins only."""
        if not actor.is_admin:
            raise ImError("not_allowed", "only an administrator may export a conversation")
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="export-", suffix=".zip", dir=self.tmp_dir)
        os.close(fd)
        path = Path(name)
        try:
            summary = await self.write_zip(
                conversation_id, path, {"user_id": actor.user_id, "name": actor.name}
            )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path, summary

    async def write_zip(
        self, conversation_id: str, out: Path, exported_by: dict[str, Any]
    ) -> ExportSummary:
        """Write the export of ``conversation_id`` to ``out``; ``conversation_not_found``."""
        async with self.sessions() as s:
            conv = await s.get(Conversation, conversation_id)
            if conv is None:
                raise not_found()
            members = list(
                (
                    await s.execute(
                        select(Member)
                        .where(Member.conversation_id == conversation_id)
                        .order_by(Member.joined_at, Member.user_id)
                    )
                ).scalars()
            )
            attachments = list(
                (
                    await s.execute(
                        select(Attachment)
                        .where(Attachment.conversation_id == conversation_id)
                        .order_by(Attachment.created_at, Attachment.id)
                    )
                ).scalars()
            )
            senders = (
                await s.execute(
                    select(MESSAGES.c.sender_id)
                    .where(MESSAGES.c.conversation_id == conversation_id)
                    .distinct()
                )
            ).scalars()
            names = await _names(
                s,
                [m.user_id for m in members]
                + [a.uploader_id for a in attachments]
                + [u for u in senders if u],
            )
        files: list[tuple[Attachment, Path, str]] = []
        for att in attachments:
            path = self._present(att)
            if path is not None:
                files.append((att, path, f"attachments/{att.id}-{safe_filename(att.filename)}"))
        archived = {att.id: arcname for att, _, arcname in files}
        head = {
            "format": FORMAT,
            "version": VERSION,
            "exported_at": wire.iso(utcnow()),
            "exported_by": exported_by,
            "conversation": {
                "id": conv.id,
                "kind": conv.kind,
                "title": conv.title,
                "room_id": conv.room_id,
                "created_by": conv.created_by,
                "created_at": wire.iso(conv.created_at),
                "last_seq": conv.last_seq,
            },
            "members": [
                {
                    "user_id": m.user_id,
                    "name": names.get(m.user_id, ""),
                    "role": m.role,
                    "joined_at": wire.iso(m.joined_at),
                    "read_seq": m.read_seq,
                }
                for m in members
            ],
            "attachments": [_attachment(a, names, archived.get(a.id)) for a in attachments],
        }
        zf = await asyncio.to_thread(zipfile.ZipFile, out, "w", zipfile.ZIP_DEFLATED)
        try:
            count = await self._write_json(zf, head, conversation_id, names)
            for att, path, arcname in files:
                compress = zipfile.ZIP_STORED if att.kind in _STORED_KINDS else zipfile.ZIP_DEFLATED
                if att.encrypted:
                    await asyncio.to_thread(self._write_decrypted, zf, path, arcname, compress)
                else:
                    await asyncio.to_thread(zf.write, path, arcname, compress)
        finally:
            await asyncio.to_thread(zf.close)
        summary = ExportSummary(
            conversation_id, count, len(files), len(attachments) - len(files), out.stat().st_size
        )
        log.info(
            "im_conversation_exported",
            extra={
                "conversation_id": conversation_id,
                "exported_by": exported_by.get("user_id"),
                "messages": summary.messages,
                "attachments": summary.attachments,
                "missing_files": summary.missing_files,
                "bytes": summary.size,
            },
        )
        return summary

    def _write_decrypted(self, zf: zipfile.ZipFile, path: Path, arcname: str,
                         compress: int) -> None:
        """Archive an attachment stored encrypted at rest as its plaintext."""
        if not self.vault_key:
            raise ImError("unavailable", "an encrypted attachment needs the recording key")
        info = zipfile.ZipInfo(arcname)
        info.compress_type = compress
        with vault.EncryptedReader(path, self.vault_key) as src, zf.open(info, "w") as dst:
            shutil.copyfileobj(src, dst, 1 << 16)

    def _present(self, att: Attachment) -> Path | None:
        try:
            path = self.files.path_for(att)
        except ValueError:
            return None
        return path if path.is_file() else None

    async def _write_json(
        self,
        zf: zipfile.ZipFile,
        head: dict[str, Any],
        conversation_id: str,
        names: dict[str, str],
    ) -> int:
        """``conversation.json``: the head, then ``"messages"`` one per line, page by page."""
        stream: IO[bytes] = await asyncio.to_thread(
            zf.open, "conversation.json", "w", force_zip64=True
        )
        try:
            opening = _dumps(head)[:-1] + ',\n"messages": ['
            await asyncio.to_thread(stream.write, opening.encode())
            after, count = 0, 0
            while True:
                async with self.sessions() as s:
                    rows = (
                        await s.execute(
                            select(MESSAGES)
                            .where(
                                MESSAGES.c.conversation_id == conversation_id,
                                MESSAGES.c.seq > after,
                            )
                            .order_by(MESSAGES.c.seq)
                            .limit(self.page_size)
                        )
                    ).all()
                if not rows:
                    break
                chunk = "".join(
                    ("\n" if count + i == 0 else ",\n") + _dumps(_message(r._mapping, names))
                    for i, r in enumerate(rows)
                )
                await asyncio.to_thread(stream.write, chunk.encode())
                count += len(rows)
                after = rows[-1].seq
            await asyncio.to_thread(stream.write, b"\n]}\n")
        finally:
            await asyncio.to_thread(stream.close)
        return count


async def _names(s: AsyncSession, user_ids: Iterable[str]) -> dict[str, str]:
    wanted = {u for u in user_ids if u}
    if not wanted:
        return {}
    rows = await s.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {uid: name for uid, name in rows}


def _message(row: Any, names: dict[str, str]) -> dict[str, Any]:
    out = wire.message(row, names)
    out["recalled_at"] = wire.iso(row["recalled_at"])
    return out


def _attachment(att: Attachment, names: dict[str, str], arcname: str | None) -> dict[str, Any]:
    return {
        "id": att.id,
        "filename": att.filename,
        "content_type": att.content_type,
        "kind": att.kind,
        "size": att.size,
        "sha256": att.sha256,
        "width": att.width,
        "height": att.height,
        "uploader_id": att.uploader_id,
        "uploader_name": names.get(att.uploader_id, ""),
        "created_at": wire.iso(att.created_at),
        "file": arcname,
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
