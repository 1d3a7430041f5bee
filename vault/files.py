"""Seekable file objects over the encrypted format: a writer PyAV can mux into, and a reader."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Self

from .format import (
    DEFAULT_CHUNK_SIZE,
    HEADER_SIZE,
    Cipher,
    VaultError,
    new_header,
    resolve_size,
    tail_chunks,
)


def _seek_target(pos: int, size: int, offset: int, whence: int) -> int:
    if whence == os.SEEK_SET:
        target = offset
    elif whence == os.SEEK_CUR:
        target = pos + offset
    elif whence == os.SEEK_END:
        target = size + offset
    else:
        raise ValueError(f"bad whence: {whence}")
    if target < 0:
        raise ValueError("negative seek position")
    return target


class EncryptedWriter:
    """A writable, seekable (and readable) file that stores AES-256-GCM chunks.

    One chunk's plaintext is held in memory; it is encrypted and written when the
    position moves to another chunk, on `flush()` and on `close()`. Rewriting a chunk
    encrypts it again with a fresh nonce. Not thread-safe: one thread owns it.
    """

    def __init__(self, path: str | Path, key: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        header = new_header(chunk_size)
        self._cipher = Cipher(key, header)
        self._cs = chunk_size
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(self._fd, 0o600)
        os.pwrite(self._fd, header, 0)
        self._pos = 0
        self._size = 0  # plaintext size, including the chunk in memory
        self._stored = 0  # plaintext bytes present on disk
        self._index = 0  # the chunk in memory
        self._buf = bytearray()
        self._dirty = False
        self._closed = False

    @property
    def size(self) -> int:
        """Plaintext size written so far."""
        return self._size

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._closed

    def readable(self) -> bool:
        """Yes (PyAV may read back what it wrote)."""
        return True

    def writable(self) -> bool:
        """Yes."""
        return True

    def seekable(self) -> bool:
        """Yes."""
        return True

    def tell(self) -> int:
        """The plaintext position."""
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move the plaintext position (past the end is allowed; a write fills with zeros)."""
        self._check_open()
        self._pos = _seek_target(self._pos, self._size, offset, whence)
        return self._pos

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write at the position; returns the number of bytes written."""
        self._check_open()
        view = memoryview(data).cast("B")
        count = len(view)
        if self._pos > self._size:
            gap, self._pos = self._pos - self._size, self._size
            self._write(memoryview(bytes(gap)))
        self._write(view)
        return count

    def read(self, size: int = -1) -> bytes:
        """Read plaintext from the position."""
        self._check_open()
        end = self._size if size < 0 else min(self._size, self._pos + size)
        out = bytearray()
        while self._pos < end:
            index, off = divmod(self._pos, self._cs)
            self._load(index)
            piece = self._buf[off : off + (end - self._pos)]
            out += piece
            self._pos += len(piece)
        return bytes(out)

    def flush(self) -> None:
        """Encrypt and write the chunk in memory (a partial last chunk too)."""
        if not self._closed:
            self._store()

    def close(self) -> None:
        """Flush, fsync and close (idempotent)."""
        if self._closed:
            return
        try:
            self._store()
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("I/O operation on a closed file")

    def _write(self, view: memoryview) -> None:
        while len(view):
            index, off = divmod(self._pos, self._cs)
            self._load(index)
            take = min(self._cs - off, len(view))
            self._buf[off : off + take] = view[:take]
            self._dirty = True
            self._pos += take
            self._size = max(self._size, index * self._cs + len(self._buf))
            view = view[take:]

    def _load(self, index: int) -> None:
        if index == self._index:
            return
        self._store()
        self._index = index
        if index * self._cs < self._stored:
            length = min(self._cs, self._stored - index * self._cs) + self._cipher.span - self._cs
            blob = os.pread(self._fd, length, self._cipher.offset(index))
            self._buf = bytearray(self._cipher.decrypt(index, blob))
        else:
            self._buf = bytearray()

    def _store(self) -> None:
        if not self._dirty:
            return
        blob = self._cipher.encrypt(self._index, bytes(self._buf))
        os.pwrite(self._fd, blob, self._cipher.offset(self._index))
        self._stored = max(self._stored, self._index * self._cs + len(self._buf))
        self._dirty = False


class EncryptedReader:
    """A readable, seekable file over an encrypted file; `size` is the plaintext size."""

    def __init__(self, path: str | Path, key: bytes) -> None:
        self.path = Path(path)
        self._file = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        try:
            header = self._file.read(HEADER_SIZE)
            self._cipher = Cipher(key, header)
            file_size = os.fstat(self._file.fileno()).st_size
            count = self._cipher.chunk_count(file_size)
            blobs = {i: self._read_blob(i, file_size) for i in tail_chunks(count)}
            self._size = resolve_size(self._cipher, count, blobs)
        except BaseException:
            self._file.close()
            raise
        self._file_size = file_size
        self._cs = self._cipher.chunk_size
        self._pos = 0
        self._index = -1
        self._buf = b""

    @property
    def size(self) -> int:
        """Plaintext size (a torn last chunk excluded)."""
        return self._size

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._file.closed

    def readable(self) -> bool:
        """Yes."""
        return True

    def writable(self) -> bool:
        """No."""
        return False

    def seekable(self) -> bool:
        """Yes."""
        return True

    def tell(self) -> int:
        """The plaintext position."""
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move the plaintext position."""
        self._pos = _seek_target(self._pos, self._size, offset, whence)
        return self._pos

    def read(self, size: int = -1) -> bytes:
        """Read plaintext; VaultError if a chunk fails authentication."""
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        out = bytearray()
        while self._pos < end:
            index, off = divmod(self._pos, self._cs)
            if index != self._index:
                self._buf = self._cipher.decrypt(index, self._read_blob(index, self._file_size))
                self._index = index
            piece = self._buf[off : off + (end - self._pos)]
            if not piece:
                raise VaultError(f"chunk {index} is shorter than expected")
            out += piece
            self._pos += len(piece)
        return bytes(out)

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _read_blob(self, index: int, file_size: int) -> bytes:
        self._file.seek(self._cipher.offset(index))
        return self._file.read(self._cipher.chunk_length(index, file_size))


def plain_size(path: str | Path, key: bytes) -> int:
    """Plaintext size of an encrypted file (a torn last chunk excluded)."""
    with EncryptedReader(path, key) as reader:
        return reader.size
