"""vault/: the encrypted chunk format, the seekable writer, the reader and range streaming."""

from __future__ import annotations

import fractions
import os
import random
import shutil
import stat
from pathlib import Path

import av
import pytest

from vault import EncryptedReader, EncryptedWriter, VaultError, plain_size, stream_range
from vault.format import HEADER_SIZE, OVERHEAD

KEY = bytes(range(32))
CS = 64  # small chunks make boundaries easy to hit


def _write(path: Path, data: bytes, chunk_size: int = CS) -> None:
    with EncryptedWriter(path, KEY, chunk_size=chunk_size) as w:
        w.write(data)


def _read(path: Path, key: bytes = KEY) -> bytes:
    with EncryptedReader(path, key) as r:
        return r.read()


async def _range(path: Path, start: int, end: int) -> bytes:
    return b"".join([block async for block in stream_range(path, KEY, start, end)])


def test_round_trip_layout_and_private_mode(tmp_path: Path) -> None:
    data = os.urandom(10 * CS + 17)
    path = tmp_path / "a.enc"
    _write(path, data)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    assert raw[:8] == b"CRTCENC1" and raw[24:28] == CS.to_bytes(4, "big") and raw[28:32] == bytes(4)
    assert len(raw) == HEADER_SIZE + 10 * (CS + OVERHEAD) + 17 + OVERHEAD
    assert data[:16] not in raw
    assert _read(path) == data
    assert plain_size(path, KEY) == len(data)


def test_default_chunk_size_round_trip(tmp_path: Path) -> None:
    data = os.urandom(200_000)
    path = tmp_path / "big.enc"
    with EncryptedWriter(path, KEY) as w:
        for i in range(0, len(data), 7000):
            w.write(data[i : i + 7000])
    assert _read(path) == data


def test_random_access_rewrites_use_fresh_nonces(tmp_path: Path) -> None:
    rng = random.Random(7)
    model = bytearray(os.urandom(5 * CS))
    path = tmp_path / "r.enc"
    w = EncryptedWriter(path, KEY, chunk_size=CS)
    w.write(model)
    w.flush()
    before = path.read_bytes()[HEADER_SIZE : HEADER_SIZE + 12]
    for _ in range(200):
        pos = rng.randrange(0, len(model) + 10)
        blob = os.urandom(rng.randrange(1, 2 * CS))
        w.seek(pos)
        w.write(blob)
        if pos > len(model):
            model.extend(bytes(pos - len(model)))
        model[pos : pos + len(blob)] = blob
        assert w.tell() == pos + len(blob)
    w.seek(3)
    assert w.read(CS) == bytes(model[3 : 3 + CS])
    w.close()
    assert _read(path) == bytes(model)
    assert path.read_bytes()[HEADER_SIZE : HEADER_SIZE + 12] != before  # chunk 0 re-encrypted


def test_seek_past_end_fills_with_zeros(tmp_path: Path) -> None:
    path = tmp_path / "z.enc"
    with EncryptedWriter(path, KEY, chunk_size=CS) as w:
        w.write(b"abc")
        w.seek(3 * CS + 5)
        w.write(b"xyz")
    assert _read(path) == b"abc" + bytes(3 * CS + 2) + b"xyz"


def test_reader_seek_and_partial_reads(tmp_path: Path) -> None:
    data = os.urandom(7 * CS + 3)
    path = tmp_path / "s.enc"
    _write(path, data)
    with EncryptedReader(path, KEY) as r:
        assert r.size == len(data)
        r.seek(CS - 2)
        assert r.read(5) == data[CS - 2 : CS + 3]
        assert r.tell() == CS + 3
        r.seek(-4, os.SEEK_END)
        assert r.read() == data[-4:]
        assert r.read(10) == b""


async def test_range_reads_at_chunk_boundaries(tmp_path: Path) -> None:
    data = os.urandom(6 * CS + 9)
    path = tmp_path / "g.enc"
    _write(path, data)
    cases = [(0, 0), (0, CS - 1), (CS - 1, CS), (CS, 2 * CS - 1), (CS, 2 * CS),
             (2 * CS - 1, 5 * CS), (6 * CS, 6 * CS + 8), (5, len(data) - 1), (0, len(data) - 1)]
    for start, end in cases:
        assert await _range(path, start, end) == data[start : end + 1], (start, end)
    assert await _range(path, len(data) - 3, len(data) + 100) == data[-3:]  # clamped
    assert await _range(path, len(data) + 5, len(data) + 10) == b""


async def test_torn_last_chunk_ends_the_file_at_the_last_good_chunk(tmp_path: Path) -> None:
    data = os.urandom(4 * CS + 20)
    path = tmp_path / "t.enc"
    _write(path, data)
    raw = path.read_bytes()
    torn = tmp_path / "torn.enc"
    torn.write_bytes(raw[:-5])  # the last (partial) chunk cut short
    assert plain_size(torn, KEY) == 4 * CS
    assert _read(torn) == data[: 4 * CS]
    assert await _range(torn, 0, 10 * CS) == data[: 4 * CS]
    half = tmp_path / "half.enc"
    half.write_bytes(raw[: HEADER_SIZE + 2 * (CS + OVERHEAD) + 10])  # a few bytes of chunk 2
    assert _read(half) == data[: 2 * CS]


async def test_flush_writes_the_partial_chunk(tmp_path: Path) -> None:
    path = tmp_path / "f.enc"
    w = EncryptedWriter(path, KEY, chunk_size=CS)
    w.write(b"x" * (CS + 10))
    w.flush()
    copy = tmp_path / "copy.enc"
    shutil.copy(path, copy)  # what a killed process leaves
    assert _read(copy) == b"x" * (CS + 10)
    w.write(b"y" * 5)
    w.close()
    assert _read(path) == b"x" * (CS + 10) + b"y" * 5


async def test_tampered_middle_chunk_raises(tmp_path: Path) -> None:
    data = os.urandom(5 * CS)
    path = tmp_path / "m.enc"
    _write(path, data)
    raw = bytearray(path.read_bytes())
    raw[HEADER_SIZE + 2 * (CS + OVERHEAD) + 20] ^= 1
    path.write_bytes(bytes(raw))
    with EncryptedReader(path, KEY) as r:
        assert r.read(2 * CS) == data[: 2 * CS]
        with pytest.raises(VaultError, match="chunk 2"):
            r.read(CS)
    with pytest.raises(VaultError, match="chunk 2"):
        await _range(path, 0, 5 * CS - 1)


def test_tampered_header_or_chunk_order_raises(tmp_path: Path) -> None:
    data = os.urandom(3 * CS)
    path = tmp_path / "h.enc"
    _write(path, data)
    raw = bytearray(path.read_bytes())
    raw[10] ^= 1  # the file id is authenticated with every chunk
    path.write_bytes(bytes(raw))
    with pytest.raises(VaultError):
        _read(path)
    _write(path, data)
    raw = bytearray(path.read_bytes())
    span = CS + OVERHEAD
    c0, c1 = raw[HEADER_SIZE : HEADER_SIZE + span], raw[HEADER_SIZE + span : HEADER_SIZE + 2 * span]
    raw[HEADER_SIZE : HEADER_SIZE + 2 * span] = c1 + c0  # swapped chunks
    path.write_bytes(bytes(raw))
    with pytest.raises(VaultError):
        _read(path)


async def test_wrong_key_raises_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "k.enc"
    _write(path, os.urandom(3 * CS + 1))
    other = bytes(32)
    with pytest.raises(VaultError, match="wrong key"):
        EncryptedReader(path, other)
    with pytest.raises(VaultError, match="wrong key"):
        plain_size(path, other)
    with pytest.raises(VaultError, match="wrong key"):
        async for _ in stream_range(path, other, 0, 10):
            pass


def test_not_a_vault_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.webm"
    path.write_bytes(b"\x1aE\xdf\xa3" + bytes(100))
    with pytest.raises(VaultError, match="not a vault file"):
        EncryptedReader(path, KEY)


def _vp8_packets(count: int = 30) -> list[tuple[bytes, bool]]:
    """A short VP8 stream (320x240) encoded with PyAV."""
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 320, 240, "yuv420p"
    ctx.time_base = fractions.Fraction(1, 30)
    ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    out: list[tuple[bytes, bool]] = []
    for i in range(count):
        frame = av.VideoFrame(320, 240, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([(i * 8) % 256]) * plane.buffer_size)
        frame.pts = i
        out += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(frame)]
    out += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(None)]
    return out


def test_pyav_muxes_into_a_writer_and_demuxes_from_a_reader(tmp_path: Path) -> None:
    packets = _vp8_packets()
    path = tmp_path / "v.webm"
    writer = EncryptedWriter(path, KEY, chunk_size=4096)
    container = av.open(writer, "w", format="webm")
    stream = container.add_mux_stream("vp8", width=320, height=240)
    stream.time_base = fractions.Fraction(1, 1000)
    for i, (data, key) in enumerate(packets):
        packet = av.Packet(data)
        packet.stream = stream
        packet.time_base = stream.time_base
        packet.pts = packet.dts = round(i * 1000 / 30)
        packet.is_keyframe = key
        container.mux(packet)
    container.close()  # writes cues and seeks back to fix sizes
    writer.close()
    with EncryptedReader(path, KEY) as reader:
        with av.open(reader) as demux:
            assert demux.duration is not None and demux.duration > 900_000
            got = [bytes(p) for p in demux.demux(video=0) if p.size]
        assert got == [data for data, _ in packets]
        reader.seek(0)
        with av.open(reader) as decode:
            frames = list(decode.decode(video=0))
        assert len(frames) == len(packets) and frames[0].width == 320
