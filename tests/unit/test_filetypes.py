"""Magic-byte sniffing, the type allow-list, file-name sanitising and image checks."""

from __future__ import annotations

import io
import os
import stat
import struct
import time
import zipfile
import zlib
from pathlib import Path

import av
import pytest
from PIL import Image

from api.attachments import content_disposition
from im import filetypes as ft
from im.attachments import AttachmentService
from im.errors import ImError
from im.images import inspect_image
from im.models import Attachment

# ---------------------------------------------------------------- samples


def encode_video(fmt: str, codec: str, frames: int = 6) -> bytes:
    """A tiny real video file made with PyAV."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame(64, 48, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([i * 40 % 256]) * plane.buffer_size)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def encode_audio(fmt: str, codec: str, rate: int = 48000, frames: int = 10) -> bytes:
    """A tiny real (silent) audio file made with PyAV."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        size = stream.codec_context.frame_size or 1024
        sample_format = stream.codec_context.format.name
        for i in range(frames):
            frame = av.AudioFrame(format=sample_format, layout="mono", samples=size)
            frame.sample_rate = rate
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.pts = i * size
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def image_bytes(
    fmt: str, size: tuple[int, int] = (40, 30), mode: str = "RGB", **kw: object
) -> bytes:
    """An image encoded by Pillow."""
    buf = io.BytesIO()
    Image.new(mode, size, "red" if mode != "L" else 128).save(buf, fmt, **kw)
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (the pixel data is a stub)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def office_zip(main_part: str | None, extra: dict[str, bytes] | None = None) -> bytes:
    """A zip laid out like an Office document (``main_part`` None: no [Content_Types].xml)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if main_part is not None:
            zf.writestr(
                "[Content_Types].xml",
                '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                'package/2006/content-types"><Override PartName="/word/document.xml" '
                f'ContentType="{main_part}"/></Types>',
            )
        zf.writestr("word/document.xml", "<w:document/>")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
PPTX_MAIN = "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"


def detect(tmp_path: Path, data: bytes, filename: str, kind: str = "file") -> str:
    """Write ``data`` and detect it; the content type."""
    path = tmp_path / "upload"
    path.write_bytes(data)
    return ft.detect(path, data[: ft.HEAD_BYTES], filename, kind).content_type


def refused(tmp_path: Path, data: bytes, filename: str, kind: str = "file") -> str:
    """Detect ``data`` expecting a refusal; the error code."""
    with pytest.raises(ImError) as err:
        detect(tmp_path, data, filename, kind)
    return err.value.code


# ---------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    ("make", "filename", "kind", "expected"),
    [
        (lambda: image_bytes("JPEG"), "photo.jpg", "image", "image/jpeg"),
        (lambda: image_bytes("JPEG"), "photo.JPEG", "image", "image/jpeg"),
        (lambda: image_bytes("PNG"), "scan.png", "image", "image/png"),
        (lambda: image_bytes("GIF"), "anim.gif", "image", "image/gif"),
        (lambda: image_bytes("WEBP"), "pic.webp", "image", "image/webp"),
        (lambda: image_bytes("PNG"), "scan.png", "file", "image/png"),
        (
            lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
            "report.pdf",
            "file",
            "application/pdf",
        ),
        (lambda: bytes(128) + b"DICM\x02\x00\x00\x00UL", "CT0001", "file", "application/dicom"),
        (lambda: bytes(128) + b"DICM\x02\x00", "ct.dcm", "file", "application/dicom"),
        (lambda: encode_audio("mp3", "libmp3lame", 44100), "voice.mp3", "audio", "audio/mpeg"),
        (lambda: b"\xff\xfb\x90\x64" + bytes(400), "raw.mp3", "audio", "audio/mpeg"),
        (lambda: encode_audio("adts", "aac", 44100), "voice.aac", "audio", "audio/aac"),
        (lambda: encode_audio("ogg", "libopus"), "voice.ogg", "audio", "audio/ogg"),
        (lambda: encode_audio("ogg", "libopus"), "voice.opus", "file", "audio/ogg"),
        (lambda: encode_audio("wav", "pcm_s16le"), "beat.wav", "audio", "audio/wav"),
        (lambda: encode_audio("webm", "libopus"), "memo.webm", "audio", "audio/webm"),
        (lambda: encode_audio("webm", "libopus"), "memo.weba", "file", "audio/webm"),
        (lambda: encode_audio("ipod", "aac", 44100), "memo.m4a", "audio", "audio/mp4"),
        (lambda: encode_video("webm", "libvpx"), "clip.webm", "video", "video/webm"),
        (lambda: encode_video("webm", "libvpx"), "clip.webm", "file", "video/webm"),
        (lambda: encode_video("mp4", "mpeg4"), "clip.mp4", "video", "video/mp4"),
        (lambda: encode_video("mp4", "mpeg4"), "sound.m4a", "audio", "audio/mp4"),
        (lambda: encode_video("mov", "mpeg4"), "clip.mov", "video", "video/quicktime"),
        (lambda: encode_video("matroska", "mpeg4"), "clip.mkv", "video", "video/x-matroska"),
        (lambda: "体温 37.2 ℃\n血压 120/80\n".encode(), "notes.txt", "file", "text/plain"),
        (lambda: b"a,b\n1,2\n", "data.csv", "file", "text/csv"),
        (lambda: b'{"ok": true}', "data.json", "file", "application/json"),
        (lambda: b"no extension at all\n", "README", "file", "text/plain"),
        (lambda: office_zip(DOCX_MAIN), "letter.docx", "file", ft.DOCX.content_type),
        (lambda: office_zip(XLSX_MAIN), "sheet.xlsx", "file", ft.XLSX.content_type),
        (lambda: office_zip(PPTX_MAIN), "slides.pptx", "file", ft.PPTX.content_type),
    ],
)
def test_accepted_types(tmp_path: Path, make, filename: str, kind: str, expected: str) -> None:
    assert detect(tmp_path, make(), filename, kind) == expected


PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(200)


@pytest.mark.parametrize(
    ("make", "filename", "kind"),
    [
        (lambda: PDF, "x.png", "image"),  # a PDF is not an image
        (lambda: PDF, "x.png", "file"),  # the extension lies
        (lambda: EXE, "setup.exe", "file"),  # unknown binary
        (lambda: EXE, "setup.pdf", "file"),
        (lambda: EXE, "noext", "file"),
        (lambda: image_bytes("PNG"), "x.jpg", "image"),  # PNG named .jpg
        (lambda: image_bytes("PNG"), "x.png", "audio"),
        (lambda: encode_video("webm", "libvpx"), "clip.webm", "image"),
        (lambda: encode_audio("ogg", "libopus"), "voice.ogg", "video"),
        (lambda: b"<html><script>alert(1)</script></html>", "page.html", "file"),
        (lambda: b"<svg xmlns='http://www.w3.org/2000/svg'/>", "icon.svg", "image"),
        (lambda: b"text with a \x00 NUL", "notes.txt", "file"),
        (lambda: b"\xc3\x28 invalid utf-8", "notes.txt", "file"),
        (lambda: b"hello", "notes.txt", "image"),
        (lambda: office_zip(None), "letter.docx", "file"),  # a zip without content types
        (
            lambda: office_zip("application/vnd.ms-word.document.macroEnabled.main+xml"),
            "a.docx",
            "file",
        ),
        (lambda: office_zip(DOCX_MAIN), "letter.xlsx", "file"),  # wrong extension
        (lambda: b"PK\x03\x04" + bytes(60), "broken.docx", "file"),
        (lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "photo.heic", "file"),
        (lambda: b"OggS\x00\x02" + bytes(40), "unknown.ogg", "audio"),
        (lambda: b"Rar!\x1a\x07\x00", "archive.rar", "file"),
    ],
)
def test_refused_types(tmp_path: Path, make, filename: str, kind: str) -> None:
    assert refused(tmp_path, make(), filename, kind) == "unsupported_media_type"


def test_unknown_declared_type_is_a_bad_request(tmp_path: Path) -> None:
    assert refused(tmp_path, PDF, "x.pdf", "document") == "bad_request"


def test_zip_bomb_disguised_as_docx_is_refused(tmp_path: Path) -> None:
    bomb = office_zip(DOCX_MAIN, {"word/media/big.bin": bytes(20 * 1024 * 1024)})
    assert len(bomb) < 100_000
    assert refused(tmp_path, bomb, "letter.docx") == "unsupported_media_type"


def test_zip_with_too_many_entries_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(ft, "ZIP_MAX_ENTRIES", 5)
    many = office_zip(DOCX_MAIN, {f"word/p{i}.xml": b"<p/>" for i in range(10)})
    assert refused(tmp_path, many, "letter.docx") == "unsupported_media_type"


def test_ordinary_docx_images_are_not_mistaken_for_a_bomb(tmp_path: Path) -> None:
    photo = image_bytes("JPEG", (300, 300), quality=95)
    doc = office_zip(
        DOCX_MAIN, {"word/media/image1.jpeg": photo, "word/styles.xml": b"<s/>" * 5000}
    )
    assert detect(tmp_path, doc, "letter.docx") == ft.DOCX.content_type


# ---------------------------------------------------------------- file names


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("report.pdf", "report.pdf"),
        ("伤口照片 2024.png", "伤口照片 2024.png"),
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("..\\..\\Windows\\win.ini", "win.ini"),
        ("C:\\Users\\me\\scan.jpg", "scan.jpg"),
        ("....//....//x.txt", "x.txt"),
        ("..", "file"),
        ("a/..", "file"),
        ("", "file"),
        ("   ", "file"),
        (".bashrc", "bashrc"),
        ("...hidden.txt", "hidden.txt"),
        ("name..with..dots.txt", "name.with.dots.txt"),
        ("bell\x07and\x00nul.txt", "bellandnul.txt"),
        ("line\r\nbreak.txt", "line break.txt"),
        ("spoof\u202egnp.exe", "spoofgnp.exe"),
        ('what?*<>|:".txt', "what_______.txt"),
        ("trailing dots...", "trailing dots"),
        ("tab\tand  spaces.txt", "tab and spaces.txt"),
        ("emoji 😀.png", "emoji 😀.png"),
    ],
)
def test_sanitise_filename(raw: str, clean: str) -> None:
    assert ft.sanitise_filename(raw) == clean


def test_long_names_are_cut_to_255_bytes_keeping_the_extension() -> None:
    name = ft.sanitise_filename("检" * 200 + ".pdf")
    assert len(name.encode()) <= 255 and name.endswith(".pdf")
    assert name.startswith("检") and "\ufffd" not in name
    assert ft.sanitise_filename("a" * 300) == "a" * 255


def test_ascii_fallback_and_content_disposition() -> None:
    assert ft.ascii_filename("伤口照片.png") == "file.png"
    assert ft.ascii_filename("Café report.pdf") == "Cafe report.pdf"
    header = content_disposition("伤口 照片.png", inline=True)
    assert header == (
        'inline; filename="file.png"; '
        "filename*=UTF-8''%E4%BC%A4%E5%8F%A3%20%E7%85%A7%E7%89%87.png"
    )
    header = content_disposition('a"b;c.pdf', inline=False)
    assert header.startswith('attachment; filename="a_b_c.pdf";')
    assert "filename*=UTF-8''a%22b%3Bc.pdf" in header


# ---------------------------------------------------------------- images


def test_image_dimensions_and_thumbnail(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(image_bytes("PNG", (1000, 500), "RGBA"))
    thumb = tmp_path / "thumb"
    info = inspect_image(src, "image/png", 40_000_000, thumb)
    assert (info.width, info.height) == (1000, 500)
    with Image.open(thumb) as img:
        assert img.format == "JPEG" and img.mode == "RGB" and img.size == (320, 160)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    Image.new("RGB", (400, 200), "blue").save(buf, "JPEG", exif=exif)
    src = tmp_path / "src"
    src.write_bytes(buf.getvalue())
    info = inspect_image(src, "image/jpeg", 40_000_000, tmp_path / "thumb")
    assert (info.width, info.height) == (200, 400)
    with Image.open(tmp_path / "thumb") as img:
        assert img.size == (160, 320)


def test_pixel_flood_is_refused_before_decoding(tmp_path: Path) -> None:
    src = tmp_path / "flood.png"
    src.write_bytes(png_header(100_000, 100_000))
    with pytest.raises(ImError) as err:
        inspect_image(src, "image/png", 40_000_000, tmp_path / "thumb")
    assert err.value.code == "image_too_large"
    src.write_bytes(image_bytes("PNG", (300, 300)))
    with pytest.raises(ImError) as err:
        inspect_image(src, "image/png", 50_000, tmp_path / "thumb")
    assert err.value.code == "image_too_large"
    assert not (tmp_path / "thumb").exists()


def test_damaged_image_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "cut.png"
    src.write_bytes(image_bytes("PNG", (200, 200))[:120])
    with pytest.raises(ImError) as err:
        inspect_image(src, "image/png", 40_000_000, tmp_path / "thumb")
    assert err.value.code == "unsupported_media_type"


# ---------------------------------------------------------------- storage


def test_storage_dir_is_private_and_stale_temp_files_go(tmp_path: Path) -> None:
    root = tmp_path / "attachments"
    root.mkdir(mode=0o755)
    old, new, kept = root / ".upload-old", root / ".upload-new", root / ("a" * 32)
    for path in (old, new, kept):
        path.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    service = AttachmentService(
        None,  # type: ignore[arg-type]  # the database is not touched here
        root,
        max_bytes={"image": 1, "file": 1, "audio": 1, "video": 1},
        max_image_pixels=1000,
    )
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert sorted(p.name for p in root.iterdir()) == [".upload-new", "a" * 32]
    att = Attachment(storage_name="b" * 32, thumbnail_name=None)
    assert service.path_for(att) == root / ("b" * 32)
    assert service.thumbnail_path_for(att) is None
    for bad in ("../../etc/passwd", "/etc/passwd", "B" * 32, "a" * 31):
        with pytest.raises(ValueError):
            service.path_for(Attachment(storage_name=bad))
