"""Files encrypted at rest: AES-256-GCM in fixed-size chunks, seekable, range-readable."""

from .files import EncryptedReader, EncryptedWriter, plain_size
from .format import DEFAULT_CHUNK_SIZE, VaultError
from .stream import stream_range

__all__ = ["DEFAULT_CHUNK_SIZE", "EncryptedReader", "EncryptedWriter", "VaultError",
           "plain_size", "stream_range"]
