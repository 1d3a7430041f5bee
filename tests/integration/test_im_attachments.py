"""Attachments against the running app: upload, send, download, Range, and every refusal."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import os
import struct
import uuid
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from PIL import Image

from tests.conftest import make_settings
from tests.support.im_client import ImClient

DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"


# ---------------------------------------------------------------- helpers


def png(size: tuple[int, int], noise: bool = False) -> bytes:
    """A PNG; with ``noise`` it barely compresses (for size limits)."""
    if noise:
        img = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        img = Image.new("RGB", size, (200, 40, 40))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(64)))
        + chunk(b"IEND", b"")
    )


def webm_video(frames: int = 30) -> bytes:
    """A real VP8 WebM made with PyAV."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame(96, 64, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([i * 8 % 256]) * plane.buffer_size)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def ogg_opus(frames: int = 50) -> bytes:
    """A real Ogg/Opus file (one second of a tone) made with PyAV."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=48000, layout="mono")
        size = stream.codec_context.frame_size or 960
        for i in range(frames):
            frame = av.AudioFrame(format="s16", layout="mono", samples=size)
            frame.sample_rate = 48000
            tone = b"".join(
                struct.pack("<h", 8000 if (n // 24) % 2 else -8000) for n in range(size)
            )
            frame.planes[0].update(tone)
            frame.pts = i * size
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    """A deflated zip of ``entries``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def content_types(main: str) -> bytes:
    """A [Content_Types].xml naming ``main`` as the document part."""
    return (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'content-types"><Override PartName="/word/document.xml" ContentType="{main}"/></Types>'
    ).encode()


def tree(root: Path) -> set[str]:
    """Every path under ``root`` (relative), SQLite's own files left out."""
    return {
        str(p.relative_to(root)) for p in root.rglob("*") if not p.name.startswith("carertc.db")
    }


def stored(server) -> list[str]:
    """Names in the attachment directory (temporary files included)."""
    return sorted(os.listdir(server.settings.data_dir / "attachments"))


def auth(token: str) -> dict[str, str]:
    """The Authorization header."""
    return {"Authorization": f"Bearer {token}"}


async def direct(server, a, b) -> str:
    """A direct conversation between users ``a`` and ``b``; its id."""
    async with aiohttp.ClientSession(headers=auth(server.token(a))) as http:
        resp = await http.post(
            f"{server.url}/api/v1/conversations", json={"kind": "direct", "members": [b.id]}
        )
        assert resp.status == 201, await resp.text()
        return (await resp.json())["id"]


async def upload(
    server, token: str, cid: str, data: Any, filename: str, kind: str, **kw: Any
) -> tuple[int, dict[str, Any]]:
    """POST the raw body; (status, JSON)."""
    async with aiohttp.ClientSession(headers=auth(token)) as http:
        resp = await http.post(
            f"{server.url}/api/v1/conversations/{cid}/attachments",
            params={"filename": filename, "type": kind},
            data=data,
            **kw,
        )
        return resp.status, await resp.json()


async def get(
    server, path: str, token: str | None = None, **kw: Any
) -> tuple[int, bytes, dict[str, str]]:
    """GET; (status, body, headers)."""
    headers = {**(auth(token) if token else {}), **kw.pop("headers", {})}
    async with aiohttp.ClientSession() as http:
        resp = await http.get(f"{server.url}{path}", headers=headers, **kw)
        return resp.status, await resp.read(), dict(resp.headers)


# ---------------------------------------------------------------- tests


async def test_image_upload_send_receive_download(server) -> None:
    nurse = await server.user("nina", "nurse", display_name="Nurse Nina")
    patient = await server.user("pat", "elder", display_name="Pat")
    cid = await direct(server, nurse, patient)
    data = png((640, 480))
    status, att = await upload(server, server.token(nurse), cid, data, "伤口 照片.png", "image")
    assert status == 201, att
    assert att["filename"] == "伤口 照片.png" and att["content_type"] == "image/png"
    assert (att["kind"], att["size"], att["width"], att["height"]) == ("image", len(data), 640, 480)
    assert (
        att["has_thumbnail"]
        and att["thumbnail_url"] == f"/api/v1/attachments/{att['id']}/thumbnail"
    )
    assert att["url"] == f"/api/v1/attachments/{att['id']}" and att["conversation_id"] == cid

    status, thumb, headers = await get(server, att["thumbnail_url"], server.token(patient))
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(thumb)) as img:
        assert img.format == "JPEG" and img.size == (320, 240)

    a = await ImClient(server.url, server.token(nurse)).connect()
    b = await ImClient(server.url, server.token(patient)).connect()
    try:
        ack = await a.request(
            "im:send",
            {
                "conversation_id": cid,
                "client_msg_id": uuid.uuid4().hex,
                "type": "image",
                "body": "今天的伤口",
                "payload": {"attachment_id": att["id"]},
            },
        )
        got = await b.wait_for("im:message", lambda m: m["id"] == ack["id"])
    finally:
        await a.disconnect()
        await b.disconnect()
    payload = got["payload"]
    assert payload["attachment_id"] == att["id"] and payload["filename"] == "伤口 照片.png"
    assert (payload["width"], payload["height"], payload["has_thumbnail"]) == (640, 480, True)

    status, body, headers = await get(server, att["url"], server.token(patient))
    assert status == 200 and body == data
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    assert headers["Content-Type"] == "image/png"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Disposition"] == (
        'inline; filename="file.png"; '
        "filename*=UTF-8''%E4%BC%A4%E5%8F%A3%20%E7%85%A7%E7%89%87.png"
    )
    assert headers["Accept-Ranges"] == "bytes"


async def test_range_requests_on_video_and_audio(server) -> None:
    nurse = await server.user("nina", "nurse")
    patient = await server.user("pat", "elder")
    cid = await direct(server, nurse, patient)
    video, audio = webm_video(), ogg_opus()
    status, v = await upload(server, server.token(patient), cid, video, "clip.webm", "video")
    assert status == 201 and v["content_type"] == "video/webm" and not v["has_thumbnail"]
    assert v["thumbnail_url"] is None and v["width"] is None
    status, a = await upload(server, server.token(patient), cid, audio, "voice.ogg", "audio")
    assert status == 201 and a["content_type"] == "audio/ogg"
    token = server.token(nurse)
    for att, data in ((v, video), (a, audio)):
        status, body, headers = await get(
            server, att["url"], token, headers={"Range": "bytes=100-199"}
        )
        assert status == 206 and body == data[100:200]
        assert headers["Content-Range"] == f"bytes 100-199/{len(data)}"
        assert headers["Content-Type"] == att["content_type"]
        assert headers["Content-Disposition"].startswith("attachment; ")
        status, body, _ = await get(server, att["url"], token, headers={"Range": "bytes=-64"})
        assert status == 206 and body == data[-64:]
        status, body, _ = await get(server, att["url"], token, headers={"Range": "bytes=150-"})
        assert status == 206 and body == data[150:]
        status, _, headers = await get(
            server, att["url"], token, headers={"Range": f"bytes={len(data) + 10}-"}
        )
        assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"
        status, _, _ = await get(server, att["url"], token, headers={"Range": "bytes=9-2"})
        assert status == 416
        status, body, _ = await get(server, att["url"], token)
        assert status == 200 and body == data
    status, _, _ = await get(server, f"{v['url']}/thumbnail", token)
    assert status == 404


async def test_oversized_upload_is_refused_and_leaves_nothing(server_factory, tmp_path) -> None:
    server = await server_factory(
        make_settings(tmp_path / "small", CARERTC_IM_MAX_IMAGE_BYTES="20000")
    )
    nurse = await server.user("nina", "nurse")
    patient = await server.user("pat", "elder")
    cid = await direct(server, nurse, patient)
    token = server.token(nurse)
    big = png((120, 120), noise=True)
    assert len(big) > 40_000

    status, body = await upload(server, token, cid, big, "big.png", "image")  # Content-Length
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert stored(server) == []

    async def stream() -> AsyncIterator[bytes]:  # chunked: refused while streaming
        for i in range(0, len(big), 4096):
            yield big[i : i + 4096]
            await asyncio.sleep(0)

    status, body = await upload(server, token, cid, stream(), "big.png", "image")
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert stored(server) == []

    # the limit is per kind: the same bytes are fine as a file, and the server still serves
    status, att = await upload(server, token, cid, big, "big.png", "file")
    assert status == 201 and att["kind"] == "file" and att["size"] == len(big)
    status, att = await upload(server, token, cid, png((20, 20)), "small.png", "image")
    assert status == 201


async def test_client_abort_mid_upload_leaves_nothing(server) -> None:
    nurse = await server.user("nina", "nurse")
    patient = await server.user("pat", "elder")
    cid = await direct(server, nurse, patient)

    class Abort(Exception):
        pass

    async def stream() -> AsyncIterator[bytes]:
        yield png((64, 64))
        yield os.urandom(300_000)
        await asyncio.sleep(0.2)
        raise Abort

    try:
        await upload(server, server.token(nurse), cid, stream(), "cut.png", "image")
    except (Abort, aiohttp.ClientError):
        pass
    for _ in range(50):
        if stored(server) == []:
            break
        await asyncio.sleep(0.1)
    assert stored(server) == []

    # a body shorter than its Content-Length, then the connection closes
    _reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        (
            f"POST /api/v1/conversations/{cid}/attachments?filename=cut.png&type=image HTTP/1.1\r\n"
            f"Host: {server.host}\r\nAuthorization: Bearer {server.token(nurse)}\r\n"
            "Content-Length: 500000\r\n\r\n"
        ).encode()
        + png((64, 64))
        + os.urandom(200_000)
    )
    await writer.drain()
    for _ in range(50):
        if stored(server):
            break
        await asyncio.sleep(0.05)
    assert [n[:8] for n in stored(server)] == [".upload-"]  # streaming into a temp file
    writer.close()
    for _ in range(50):
        if stored(server) == []:
            break
        await asyncio.sleep(0.1)
    assert stored(server) == []
    status, _ = await upload(server, server.token(nurse), cid, png((8, 8)), "ok.png", "image")
    assert status == 201


async def test_content_must_match_magic_bytes(server) -> None:
    nurse = await server.user("nina", "nurse")
    patient = await server.user("pat", "elder")
    cid = await direct(server, nurse, patient)
    token = server.token(nurse)
    pdf = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n"
    exe = b"MZ\x90\x00\x03" + bytes(59) + b"PE\x00\x00" + os.urandom(512)
    for data, name, kind in [
        (pdf, "scan.png", "image"),
        (pdf, "scan.png", "file"),
        (exe, "scan.png", "image"),
        (exe, "setup.exe", "file"),
        (exe, "report.pdf", "file"),
        (png((10, 10)), "photo.png", "audio"),
        (webm_video(3), "clip.webm", "image"),
        (b"<script>alert(1)</script>", "page.html", "file"),
    ]:
        status, body = await upload(server, token, cid, data, name, kind)
        assert status == 415, (name, kind, body)
        assert body["error"]["code"] == "unsupported_media_type"
    status, body = await upload(server, token, cid, pdf, "scan.png", "sticker")
    assert status == 400 and body["error"]["code"] == "bad_request"
    status, body = await upload(server, token, cid, b"", "empty.txt", "file")
    assert status == 400
    assert stored(server) == []
    status, att = await upload(server, token, cid, pdf, "报告.pdf", "file")
    assert status == 201 and att["content_type"] == "application/pdf"
    _, _, headers = await get(server, att["url"], token)
    assert headers["Content-Disposition"].startswith('attachment; filename="file.pdf"')


async def test_pixel_flood_is_refused(server_factory, tmp_path) -> None:
    server = await server_factory(
        make_settings(tmp_path / "px", CARERTC_IM_MAX_IMAGE_PIXELS="10000")
    )
    nurse = await server.user("nina", "nurse")
    patient = await server.user("pat", "elder")
    cid = await direct(server, nurse, patient)
    token = server.token(nurse)
    flood = png_header(100_000, 100_000)
    assert len(flood) < 200
    status, body = await upload(server, token, cid, flood, "flood.png", "image")
    assert status == 422 and body["error"]["code"] == "image_too_large"
    status, body = await upload(server, token, cid, png((200, 200)), "big.png", "image")
    assert status == 422 and body["error"]["code"] == "image_too_large"
    status, body = await upload(server, token, cid, png((200, 200)), "big.png", "file")
    assert status == 422
    assert stored(server) == []
    status, att = await upload(server, token, cid, png((100, 100)), "ok.png", "image")
    assert status == 201 and (att["width"], att["height"]) == (100, 100)


async def test_path_traversal_names_are_sanitised_and_write_nothing_outside(
    server, tmp_path
) -> None:
    nurse = await server.user("nina", "nurse")
    patient = await server.user("pat", "elder")
    cid = await direct(server, nurse, patient)
    token = server.token(nurse)
    data_dir = server.settings.data_dir
    before_all, before = tree(tmp_path), tree(data_dir)
    cases = {
        "../../etc/passwd": "passwd",
        "../../../../../../tmp/evil.txt": "evil.txt",
        "/etc/cron.d/evil.txt": "evil.txt",
        "..\\..\\..\\Windows\\win.txt": "win.txt",
        "....//....//x.txt": "x.txt",
        "..": "file",
        ".env": "env",
        "a\x1fb\r\n.txt": "a b .txt",
        "%2e%2e%2fpasswd": "%2e%2e%2fpasswd",
    }
    ids = []
    for raw, clean in cases.items():
        status, att = await upload(server, token, cid, b"root:x:0:0\n", raw, "file")
        assert status == 201, (raw, att)
        assert att["filename"] == clean and att["content_type"] == "text/plain"
        ids.append(att["id"])
    # a NUL anywhere in the query is refused before any byte is stored
    status, err = await upload(server, token, cid, b"x", "a\x00b.txt", "file")
    assert status == 400 and err["error"]["code"] == "bad_request"
    added = tree(data_dir) - before
    assert len(added) == len(cases)
    assert all(p.startswith("attachments/") and len(p) == len("attachments/") + 32 for p in added)
    assert tree(tmp_path) - before_all == {f"data/{p}" for p in added}
    status, body, headers = await get(server, f"/api/v1/attachments/{ids[0]}", token)
    assert status == 200 and body == b"root:x:0:0\n"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Content-Disposition"] == (
        "attachment; filename=\"passwd\"; filename*=UTF-8''passwd"
    )


async def test_zip_bombs_and_plain_zips_are_refused_as_docx(server) -> None:
    nurse = await server.user("nina", "nurse")
    patient = await server.user("pat", "elder")
    cid = await direct(server, nurse, patient)
    token = server.token(nurse)
    bomb = zip_bytes(
        {
            "[Content_Types].xml": content_types(DOCX_MAIN),
            "word/document.xml": b"<w:document/>",
            "word/media/zeros.bin": bytes(50 * 1024 * 1024),
        }
    )
    assert len(bomb) < 200_000
    plain = zip_bytes({"notes.txt": b"hello", "evil.exe": b"MZ" + bytes(100)})
    macro = zip_bytes(
        {
            "[Content_Types].xml": content_types(
                "application/vnd.ms-word.document.macroEnabled.main+xml"
            ),
            "word/vbaProject.bin": os.urandom(100),
        }
    )
    for data, name in [
        (bomb, "letter.docx"),
        (plain, "letter.docx"),
        (plain, "x.zip"),
        (macro, "m.docx"),
    ]:
        status, body = await upload(server, token, cid, data, name, "file")
        assert status == 415, (name, body)
        assert body["error"]["code"] == "unsupported_media_type"
    assert stored(server) == []
    docx = zip_bytes(
        {"[Content_Types].xml": content_types(DOCX_MAIN), "word/document.xml": b"<w:document/>"}
    )
    status, att = await upload(server, token, cid, docx, "出院小结.docx", "file")
    assert status == 201
    assert att["content_type"] == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )


async def test_only_members_upload_and_download(server) -> None:
    nurse = await server.user("nina", "nurse")
    patient = await server.user("pat", "elder")
    stranger = await server.user("sam", "family")
    admin = await server.user("root", "admin")
    cid = await direct(server, nurse, patient)
    status, att = await upload(server, server.token(nurse), cid, png((32, 32)), "x.png", "image")
    assert status == 201
    outsider = server.token(stranger)

    status, body = await upload(server, outsider, cid, png((8, 8)), "y.png", "image")
    assert status == 404 and body["error"]["code"] == "conversation_not_found"
    status, body = await upload(server, outsider, "no-such-conv", png((8, 8)), "y.png", "image")
    assert status == 404 and body["error"]["code"] == "conversation_not_found"
    for path in (att["url"], att["thumbnail_url"], "/api/v1/attachments/nope"):
        status, body, _ = await get(server, path, outsider)
        assert status == 404 and b"attachment_not_found" in body
    # a global admin may read any attachment (export)
    status, _, _ = await get(server, att["url"], server.token(admin))
    assert status == 200

    # ?token= works on the two GET routes only; the header still wins
    status, _, _ = await get(server, att["url"], params={"token": server.token(patient)})
    assert status == 200
    status, _, headers = await get(
        server, att["thumbnail_url"], params={"token": server.token(patient)}
    )
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    status, body, _ = await get(server, att["url"], params={"token": "not-a-jwt"})
    assert status == 401 and b"token_invalid" in body
    status, body, _ = await get(server, att["url"], params={"token": outsider})
    assert status == 404
    status, body, _ = await get(server, att["url"])
    assert status == 401 and b"token_missing" in body
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{server.url}/api/v1/conversations/{cid}/attachments",
            params={"filename": "z.png", "type": "image", "token": server.token(nurse)},
            data=png((8, 8)),
        )
        assert resp.status == 401
    assert len(stored(server)) == 2  # the one upload and its thumbnail


@pytest.mark.postgres
async def test_upload_send_download_on_postgres(settings, pg_url, server_factory) -> None:
    server = await server_factory(dataclasses.replace(settings, database_url=pg_url))
    nurse = await server.user("nina", "nurse")
    patient = await server.user("pat", "elder")
    cid = await direct(server, nurse, patient)
    data = png((50, 40))
    name = "检查" * 60 + ".png"  # over 255 UTF-8 bytes: shortened, extension kept
    status, att = await upload(server, server.token(nurse), cid, data, name, "image")
    assert status == 201, att
    assert att["filename"].endswith(".png") and len(att["filename"].encode()) <= 255
    async with aiohttp.ClientSession(headers=auth(server.token(nurse))) as http:
        resp = await http.post(
            f"{server.url}/api/v1/conversations/{cid}/messages",
            json={
                "client_msg_id": "pg-1",
                "type": "image",
                "payload": {"attachment_id": att["id"]},
            },
        )
        assert resp.status == 201, await resp.text()
        resp = await http.get(f"{server.url}/api/v1/conversations/{cid}/messages?since_seq=0")
        payload = (await resp.json())["messages"][-1]["payload"]
    assert (payload["width"], payload["height"], payload["has_thumbnail"]) == (50, 40, True)
    status, body, _ = await get(server, att["url"], server.token(patient))
    assert status == 200 and body == data


async def test_a_recalled_message_takes_its_attachment_with_it(server) -> None:
    nurse = await server.user("nina", "nurse")
    patient = await server.user("pat", "elder")
    cid = await direct(server, nurse, patient)
    status, att = await upload(
        server, server.token(patient), cid, png((64, 48)), "wrong.png", "image"
    )
    assert status == 201
    p = await ImClient(server.url, server.token(patient)).connect()
    try:
        ack = await p.request(
            "im:send",
            {
                "conversation_id": cid,
                "client_msg_id": "img",
                "type": "image",
                "payload": {"attachment_id": att["id"]},
            },
        )
        status, _, _ = await get(server, f"/api/v1/attachments/{att['id']}", server.token(nurse))
        assert status == 200
        await p.request("im:recall", {"message_id": ack["id"]})
        for path in (
            f"/api/v1/attachments/{att['id']}",
            f"/api/v1/attachments/{att['id']}/thumbnail",
        ):
            status, body, _ = await get(server, path, server.token(nurse))
            assert status == 404, body
        assert stored(server) == []
    finally:
        await p.disconnect()
