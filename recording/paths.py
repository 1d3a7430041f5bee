"""Where recordings are stored and the key they are encrypted with, from the settings."""

from __future__ import annotations

import os
from pathlib import Path

from carertc.config import Settings, env_name, key_bytes, load_or_create_recording_key


def recordings_dir(settings: Settings, *, create: bool = True) -> Path:
    """``CARERTC_RECORDING_DIR`` or ``<data_dir>/recordings``, created private (0700)."""
    root = Path(settings.recording.dir or settings.data_dir / "recordings").expanduser()
    if create:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(root, 0o700)
    return root


def recording_key(settings: Settings) -> bytes:
    """The 32-byte key: ``CARERTC_RECORDING_KEY``, or ``<data_dir>/recording_key`` (made once)."""
    key = settings.recording.key_bytes
    if key:
        return key
    return key_bytes(load_or_create_recording_key(settings.data_dir),
                     env_name("recording", "key"))
