"""The encrypted file format (version 1): a 32-byte header, then AES-256-GCM chunks."""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"CRTCENC1"
HEADER_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
OVERHEAD = NONCE_SIZE + TAG_SIZE
DEFAULT_CHUNK_SIZE = 65536
MAX_CHUNK_SIZE = 64 * 1024 * 1024


class VaultError(Exception):
    """An encrypted file cannot be read: not a vault file, wrong key, or tampered with."""


def new_header(chunk_size: int) -> bytes:
    """A fresh header: magic, a random file id, the chunk size, 4 zero bytes."""
    if not 16 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size out of range: {chunk_size}")
    return MAGIC + os.urandom(16) + struct.pack(">I", chunk_size) + bytes(4)


def parse_header(header: bytes) -> int:
    """Check a header and return its chunk size."""
    if len(header) < HEADER_SIZE:
        raise VaultError("not a vault file (truncated header)")
    if header[:8] != MAGIC:
        raise VaultError("not a vault file (bad magic)")
    (chunk_size,) = struct.unpack(">I", header[24:28])
    if not 16 <= chunk_size <= MAX_CHUNK_SIZE or header[28:32] != bytes(4):
        raise VaultError("not a vault file (bad header)")
    return chunk_size


class Cipher:
    """Encrypts and decrypts the chunks of one file (bound to its header)."""

    def __init__(self, key: bytes, header: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the key must be 32 bytes (AES-256)")
        self.chunk_size = parse_header(header)
        self.header = bytes(header[:HEADER_SIZE])
        self.span = self.chunk_size + OVERHEAD
        self._aes = AESGCM(key)

    def offset(self, index: int) -> int:
        """Where chunk `index` starts in the file."""
        return HEADER_SIZE + index * self.span

    def encrypt(self, index: int, plain: bytes) -> bytes:
        """Nonce + ciphertext + tag of chunk `index`, with a fresh random nonce."""
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aes.encrypt(nonce, plain, self._aad(index))

    def decrypt(self, index: int, blob: bytes) -> bytes:
        """The plaintext of chunk `index`; VaultError if it does not authenticate."""
        if len(blob) <= OVERHEAD:
            raise VaultError(f"chunk {index} is truncated")
        try:
            return self._aes.decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], self._aad(index))
        except InvalidTag:
            raise VaultError(f"chunk {index} failed authentication") from None

    def chunk_count(self, file_size: int) -> int:
        """How many chunks (the last possibly partial or torn) a file of `file_size` holds."""
        body = max(0, file_size - HEADER_SIZE)
        return -(-body // self.span)

    def chunk_length(self, index: int, file_size: int) -> int:
        """Stored length of chunk `index` in a file of `file_size` bytes."""
        return min(self.span, file_size - self.offset(index))

    def _aad(self, index: int) -> bytes:
        return self.header + struct.pack(">Q", index)


def check_first(cipher: Cipher, blob: bytes) -> bytes:
    """Decrypt chunk 0, turning a failure into the clear 'wrong key' error."""
    try:
        return cipher.decrypt(0, blob)
    except VaultError:
        raise VaultError("wrong key, or the file is corrupt (chunk 0 failed authentication)") \
            from None


def tail_chunks(count: int) -> list[int]:
    """The chunks `resolve_size` needs: the first and the last two."""
    return sorted({i for i in (0, count - 2, count - 1) if i >= 0})


def resolve_size(cipher: Cipher, count: int, blobs: dict[int, bytes]) -> int:
    """Plaintext size of a file of `count` chunks; a torn last chunk is dropped."""
    if count == 0:
        return 0
    first = check_first(cipher, blobs[0])
    if count == 1:
        return len(first)
    if len(first) != cipher.chunk_size:
        raise VaultError("chunk 0 is short but is not the last chunk")
    last = count - 1
    try:
        return last * cipher.chunk_size + len(cipher.decrypt(last, blobs[last]))
    except VaultError:
        pass  # a torn tail: the file ends at the chunk before
    prev = last - 1
    if prev > 0:
        plain = cipher.decrypt(prev, blobs[prev])
        if len(plain) != cipher.chunk_size:
            raise VaultError(f"chunk {prev} is short but is not the last chunk")
    return last * cipher.chunk_size
