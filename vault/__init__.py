"""Files encrypted at rest: AES-256-GCM in fixed-size chunks, seekable, range-readable."""
