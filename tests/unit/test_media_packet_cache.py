"""The per-producer packet cache used to answer NACKs."""

from __future__ import annotations

import pytest

from media.packet_cache import PacketCache


def test_get_returns_exact_sequence_number_only() -> None:
    cache = PacketCache(8)
    cache.put(65534, 1, 0, b"a", True)
    cache.put(65535, 2, 1, b"b", False)
    cache.put(0, 3, 0, b"c", False)
    assert cache.get(65535).payload == b"b" and cache.get(65535).marker == 1
    assert cache.get(0).ts == 3
    assert cache.get(1) is None
    cache.put(8, 4, 0, b"d", False)  # same slot as 0
    assert cache.get(0) is None and cache.get(8).payload == b"d"
    cache.clear()
    assert cache.get(8) is None


def test_size_must_be_a_power_of_two() -> None:
    with pytest.raises(ValueError):
        PacketCache(1000)
