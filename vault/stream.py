"""Range reads of an encrypted file for HTTP streaming: aiofiles, decrypted chunk by chunk."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiofiles

from .format import HEADER_SIZE, Cipher, VaultError, resolve_size, tail_chunks


async def stream_range(path: str | Path, key: bytes, start: int,
                       end_inclusive: int) -> AsyncIterator[bytes]:
    """Yield the plaintext bytes start..end_inclusive (clamped to the plaintext size)."""
    if start < 0 or end_inclusive < start:
        raise ValueError(f"bad range {start}-{end_inclusive}")
    async with aiofiles.open(path, "rb") as f:
        cipher = Cipher(key, await f.read(HEADER_SIZE))
        file_size = os.fstat(f.fileno()).st_size
        count = cipher.chunk_count(file_size)

        async def blob(index: int) -> bytes:
            await f.seek(cipher.offset(index))
            data: bytes = await f.read(cipher.chunk_length(index, file_size))
            return data

        size = resolve_size(cipher, count, {i: await blob(i) for i in tail_chunks(count)})
        end = min(end_inclusive, size - 1)
        cs = cipher.chunk_size
        for index in range(start // cs, end // cs + 1 if end >= start else 0):
            plain = cipher.decrypt(index, await blob(index))
            lo = max(start - index * cs, 0)
            hi = min(end + 1 - index * cs, len(plain))
            if hi <= lo:
                raise VaultError(f"chunk {index} is shorter than expected")
            yield plain[lo:hi]
