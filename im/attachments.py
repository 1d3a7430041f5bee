"""Attachments: streamed uploads checked by their bytes, stored under generated names.

Files live flat in one directory (``<data_dir>/attachments``, mode 0700) under
uuid-hex names; the user's file name is only stored in the database. An upload
is streamed into a temporary file in that directory (``.upload-*``), hashed
and size-checked on the way, sniffed (:mod:`im.filetypes`), checked and
thumbnailed if it is an image (:mod:`im.images`), then renamed into place and
recorded. A refused or broken upload leaves no file behind.

Files made on the server (call snapshots) are stored encrypted at rest
(:meth:`AttachmentService.store_bytes`, ``encrypted`` rows, :mod:`vault`, no
thumbnail) and read back decrypted (:meth:`AttachmentService.read_range`).

For retention and export: :meth:`AttachmentService.path_for`,
:meth:`AttachmentService.thumbnail_path_for` and
:meth:`AttachmentService.delete_files`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterable, Mapping
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os
from sqlalchemy import select

import vault
from carertc.config import ImSettings
from im import filetypes, images, wire
from im.errors import ImError
from im.models import Attachment, Member, utcnow
from im.service import Actor, ImService
from im.validation import ATTACHMENT_TYPES

log = logging.getLogger(__name__)

TEMP_PREFIX = ".upload-"
STALE_TEMP_SECONDS = 3600  # leftovers of a crash older than this are removed at start-up
WRITE_SIZE = 256 * 1024  # bytes gathered before each disk write
_STORAGE_NAME = re.compile(r"^[0-9a-f]{32}$")


def not_found() -> ImError:
    """The one answer for "no such attachment" and "not yours to see" alike."""
    return ImError("attachment_not_found", "no such attachment")


def to_wire(att: Attachment) -> dict[str, Any]:
    """The ``Attachment`` wire object."""
    url = f"/api/v1/attachments/{att.id}"
    return {
        "id": att.id,
        "conversation_id": att.conversation_id,
        "filename": att.filename,
        "content_type": att.content_type,
        "kind": att.kind,
        "size": att.size,
        "width": att.width,
        "height": att.height,
        "has_thumbnail": att.thumbnail_name is not None,
        "url": url,
        "thumbnail_url": f"{url}/thumbnail" if att.thumbnail_name is not None else None,
        "created_at": wire.iso(att.created_at),
    }


class AttachmentService:
    """Upload, authorise and locate attachment files; the rows are ``im_attachments``."""

    def __init__(
        self,
        im: ImService,
        root: Path,
        *,
        max_bytes: Mapping[str, int],
        max_image_pixels: int,
    ) -> None:
        missing = set(ATTACHMENT_TYPES) - set(max_bytes)
        if missing:
            raise ValueError(f"no size limit for {sorted(missing)}")
        self.im = im
        self.root = Path(root)
        self.max_bytes = dict(max_bytes)
        self.max_image_pixels = max_image_pixels
        self.vault_key: bytes | None = None  # encrypts files stored with store_bytes
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        images.set_pixel_limit(max_image_pixels)
        self.remove_stale_temp()

    @classmethod
    def from_settings(cls, im: ImService, root: Path, settings: ImSettings) -> AttachmentService:
        """A service with the upload limits of ``settings``."""
        return cls(
            im,
            root,
            max_bytes={
                "image": settings.max_image_bytes,
                "file": settings.max_file_bytes,
                "audio": settings.max_audio_bytes,
                "video": settings.max_video_bytes,
            },
            max_image_pixels=settings.max_image_pixels,
        )

    # -- files ------------------------------------------------------------------------

    def path_for(self, attachment: Attachment) -> Path:
        """Where the attachment's file is stored (it may be gone if deleted)."""
        return self._path(attachment.storage_name)

    def thumbnail_path_for(self, attachment: Attachment) -> Path | None:
        """Where the attachment's JPEG thumbnail is stored, or None if it has none."""
        if attachment.thumbnail_name is None:
            return None
        return self._path(attachment.thumbnail_name)

    async def delete_files(self, attachment: Attachment) -> None:
        """Delete the attachment's file and thumbnail (missing files are fine); not the row."""
        for path in (self.path_for(attachment), self.thumbnail_path_for(attachment)):
            if path is not None:
                await _unlink(path)

    def _path(self, name: str) -> Path:
        if not _STORAGE_NAME.match(name):
            raise ValueError(f"not a storage name: {name!r}")
        return self.root / name

    def remove_stale_temp(self, max_age: float = STALE_TEMP_SECONDS) -> int:
        """Delete temporary upload files older than ``max_age`` seconds; how many."""
        removed = 0
        cutoff = time.time() - max_age
        with os.scandir(self.root) as entries:
            for entry in entries:
                if not entry.name.startswith(TEMP_PREFIX):
                    continue
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
        if removed:
            log.info("attachment_temp_removed", extra={"count": removed})
        return removed

    # -- upload -----------------------------------------------------------------------

    def limit_for(self, kind: str) -> int:
        """The size limit in bytes for uploads of ``kind``."""
        if kind not in self.max_bytes:
            raise ImError("bad_request", "'type' must be one of image, file, audio, video")
        return self.max_bytes[kind]

    async def upload(
        self,
        actor: Actor,
        conversation_id: str,
        filename: str,
        kind: str,
        chunks: AsyncIterable[bytes],
        declared_size: int | None = None,
    ) -> dict[str, Any]:
        """Store an upload for a member of the conversation; the ``Attachment`` wire object.

        ``chunks`` is the body, read only as far as the size limit allows;
        ``declared_size`` (Content-Length) refuses an oversized upload before any
        byte is read. Errors: ``conversation_not_found``, ``bad_request``,
        ``payload_too_large``, ``unsupported_media_type``, ``image_too_large``.
        """
        limit = self.limit_for(kind)
        await self.im.membership(actor.user_id, conversation_id)
        if declared_size is not None and declared_size > limit:
            raise _too_big(kind, limit)
        name = filetypes.sanitise_filename(filename)
        token = uuid.uuid4().hex
        temp = self.root / f"{TEMP_PREFIX}{token}"
        temp_thumb = self.root / f"{TEMP_PREFIX}{token}.thumb"
        placed: list[Path] = []
        try:
            size, sha256, head = await self._receive(chunks, temp, kind, limit)
            if size == 0:
                raise ImError("bad_request", "the file is empty")
            ftype = await asyncio.to_thread(filetypes.detect, temp, head, name, kind)
            width = height = None
            thumbnail_name = None
            if ftype.content_type in filetypes.IMAGE_TYPES:
                info = await asyncio.to_thread(
                    images.inspect_image,
                    temp,
                    ftype.content_type,
                    self.max_image_pixels,
                    temp_thumb,
                )
                width, height = info.width, info.height
                thumbnail_name = uuid.uuid4().hex
                await aiofiles.os.replace(temp_thumb, self._path(thumbnail_name))
                placed.append(self._path(thumbnail_name))
            storage_name = uuid.uuid4().hex
            await aiofiles.os.replace(temp, self._path(storage_name))
            placed.append(self._path(storage_name))
            att = Attachment(
                conversation_id=conversation_id,
                uploader_id=actor.user_id,
                filename=name,
                content_type=ftype.content_type,
                kind=kind,
                size=size,
                sha256=sha256,
                storage_name=storage_name,
                width=width,
                height=height,
                thumbnail_name=thumbnail_name,
                created_at=utcnow(),
            )
            async with self.im.sessions() as s, s.begin():
                s.add(att)
        except BaseException:
            for path in (temp, temp_thumb, *placed):
                _unlink_now(path)
            raise
        log.info(
            "attachment_stored",
            extra={
                "attachment_id": att.id,
                "conversation_id": conversation_id,
                "content_type": att.content_type,
                "size": size,
            },
        )
        return to_wire(att)

    async def _receive(
        self, chunks: AsyncIterable[bytes], temp: Path, kind: str, limit: int
    ) -> tuple[int, str, bytes]:
        """Write the body to ``temp``; (size, sha256 hex, first bytes)."""
        digest = hashlib.sha256()
        size = 0
        head = bytearray()
        pending = bytearray()
        async with aiofiles.open(temp, "xb", opener=_private) as fh:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise _too_big(kind, limit)
                digest.update(chunk)
                if len(head) < filetypes.HEAD_BYTES:
                    head += chunk[: filetypes.HEAD_BYTES - len(head)]
                pending += chunk
                if len(pending) >= WRITE_SIZE:
                    await fh.write(pending)
                    pending = bytearray()
            if pending:
                await fh.write(pending)
        return size, digest.hexdigest(), bytes(head)

    # -- server-made files, encrypted at rest -------------------------------------------

    async def store_bytes(
        self,
        actor: Actor,
        conversation_id: str,
        filename: str,
        data: bytes,
        *,
        content_type: str,
        kind: str,
        width: int | None = None,
        height: int | None = None,
    ) -> dict[str, Any]:
        """Store ``data`` made on the server as an encrypted attachment; the wire object."""
        if not self.vault_key:
            raise ImError("bad_request", "no key for encrypted attachments is configured")
        if kind not in self.max_bytes or not data:
            raise ImError("bad_request", "nothing to store")
        await self.im.membership(actor.user_id, conversation_id)
        storage_name = uuid.uuid4().hex
        path = self._path(storage_name)
        key = self.vault_key
        try:
            await asyncio.to_thread(_write_encrypted, path, key, data)
            att = Attachment(
                conversation_id=conversation_id,
                uploader_id=actor.user_id,
                filename=filetypes.sanitise_filename(filename),
                content_type=content_type,
                kind=kind,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                storage_name=storage_name,
                width=width,
                height=height,
                thumbnail_name=None,  # a plaintext thumbnail would undo the encryption
                encrypted=True,
                created_at=utcnow(),
            )
            async with self.im.sessions() as s, s.begin():
                s.add(att)
        except BaseException:
            _unlink_now(path)
            raise
        log.info(
            "attachment_stored",
            extra={"attachment_id": att.id, "conversation_id": conversation_id,
                   "content_type": content_type, "size": len(data), "encrypted": True},
        )
        return to_wire(att)

    def read_range(self, attachment: Attachment, start: int, end: int) -> AsyncIterable[bytes]:
        """The plaintext bytes ``start..end`` (inclusive) of an encrypted attachment."""
        if not self.vault_key:
            raise ImError("attachment_not_found", "the attachment cannot be decrypted here")
        return vault.stream_range(self.path_for(attachment), self.vault_key, start, end)

    # -- access -----------------------------------------------------------------------

    async def get(self, actor: Actor, attachment_id: str) -> Attachment:
        """The attachment, for a member of its conversation or an admin; else not found."""
        async with self.im.sessions() as s:
            att = await s.get(Attachment, attachment_id)
            member = (
                await s.get(Member, (att.conversation_id, actor.user_id))
                if att is not None
                else None
            )
        if att is None or (member is None and not actor.is_admin):
            raise not_found()
        return att

    async def on_recalled(self, message: dict[str, Any]) -> None:
        """A recalled or removed message takes its attachment with it (row and files)."""
        attachment_id = (message.get("payload") or {}).get("attachment_id")
        if not attachment_id:
            return
        async with self.im.sessions() as s, s.begin():
            att = await s.get(Attachment, attachment_id)
            if att is None or att.conversation_id != message["conversation_id"]:
                return
            await s.delete(att)
        await self.delete_files(att)
        log.info("attachment_removed", extra={"attachment_id": attachment_id, "reason": "recalled"})

    async def for_conversation(self, conversation_id: str) -> list[Attachment]:
        """Every attachment of a conversation, oldest first (no access check)."""
        async with self.im.sessions() as s:
            rows = await s.execute(
                select(Attachment)
                .where(Attachment.conversation_id == conversation_id)
                .order_by(Attachment.created_at, Attachment.id)
            )
            return list(rows.scalars())


def _too_big(kind: str, limit: int) -> ImError:
    return ImError("payload_too_large", f"{kind} uploads are limited to {limit} bytes")


def _write_encrypted(path: Path, key: bytes, data: bytes) -> None:
    """Write ``data`` encrypted with ``key`` (worker thread)."""
    writer = vault.EncryptedWriter(path, key)
    try:
        writer.write(data)
    finally:
        writer.close()


def _private(path: str, flags: int) -> int:
    """``open`` opener: create files readable by the server's user only."""
    return os.open(path, flags, 0o600)


async def _unlink(path: Path) -> None:
    try:
        await aiofiles.os.remove(path)
    except FileNotFoundError:
        pass


def _unlink_now(path: Path) -> None:
    """Remove synchronously (also safe while the task is being cancelled)."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        log.warning("attachment_cleanup_failed", extra={"path": str(path)})
