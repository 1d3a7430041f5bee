"""Upload file types: magic-byte sniffing, the allow-list, and file-name sanitising.

An upload's content type is decided from its bytes, never from what the client
says. The declared message type and the file name's extension must agree with
what the bytes are, else the upload is refused (``unsupported_media_type``).
"""

from __future__ import annotations

import codecs
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from im.errors import ImError

HEAD_BYTES = 64 * 1024  # how much of the start of a file sniffing looks at
MAX_FILENAME_BYTES = 255

# Office documents are zips; refuse ones that would be dangerous to unpack.
ZIP_MAX_ENTRIES = 10_000
ZIP_MAX_TOTAL = 1024 * 1024 * 1024  # uncompressed bytes of all entries together
ZIP_MAX_RATIO = 100  # uncompressed / compressed, for entries over ZIP_RATIO_FROM bytes
ZIP_RATIO_FROM = 1024 * 1024
ZIP_MAX_CONTENT_TYPES = 1024 * 1024


@dataclass(frozen=True)
class FileType:
    """An allowed content type: its media type, broad kind and file-name extensions."""

    content_type: str
    kind: str  # "image", "audio", "video" or "document"
    extensions: tuple[str, ...]


JPEG = FileType("image/jpeg", "image", (".jpg", ".jpeg", ".jpe", ".jfif"))
PNG = FileType("image/png", "image", (".png",))
GIF = FileType("image/gif", "image", (".gif",))
WEBP = FileType("image/webp", "image", (".webp",))
PDF = FileType("application/pdf", "document", (".pdf",))
DICOM = FileType("application/dicom", "document", (".dcm", ".dicom"))
MP3 = FileType("audio/mpeg", "audio", (".mp3",))
AAC = FileType("audio/aac", "audio", (".aac",))
WAV = FileType("audio/wav", "audio", (".wav",))
OGG_AUDIO = FileType("audio/ogg", "audio", (".ogg", ".oga", ".opus"))
OGG_VIDEO = FileType("video/ogg", "video", (".ogv", ".ogg"))
WEBM_VIDEO = FileType("video/webm", "video", (".webm",))
WEBM_AUDIO = FileType("audio/webm", "audio", (".weba", ".webm"))
MKV_VIDEO = FileType("video/x-matroska", "video", (".mkv",))
MKV_AUDIO = FileType("audio/x-matroska", "audio", (".mka",))
MP4_VIDEO = FileType("video/mp4", "video", (".mp4", ".m4v"))
MP4_AUDIO = FileType("audio/mp4", "audio", (".m4a", ".m4b", ".mp4"))
MOV = FileType("video/quicktime", "video", (".mov", ".qt"))
GPP_VIDEO = FileType("video/3gpp", "video", (".3gp", ".3gpp", ".3g2"))
GPP_AUDIO = FileType("audio/3gpp", "audio", (".3ga", ".3gp", ".3gpp"))
TEXT = FileType("text/plain", "document", (".txt", ".text", ".log", ".md"))
CSV = FileType("text/csv", "document", (".csv",))
TSV = FileType("text/tab-separated-values", "document", (".tsv",))
JSON = FileType("application/json", "document", (".json",))
DOCX = FileType(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "document",
    (".docx",),
)
XLSX = FileType(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "document", (".xlsx",)
)
PPTX = FileType(
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "document",
    (".pptx",),
)

IMAGE_TYPES = frozenset(t.content_type for t in (JPEG, PNG, GIF, WEBP))
TEXT_TYPES = (TEXT, CSV, TSV, JSON)
# the main part of each Office document type, as named in [Content_Types].xml
OOXML_MAIN_PARTS = (
    (b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml", DOCX),
    (b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml", XLSX),
    (
        b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
        PPTX,
    ),
)
# which sniffed kinds each declared message type accepts
KIND_ACCEPTS = {
    "image": ("image",),
    "audio": ("audio",),
    "video": ("video",),
    "file": ("image", "audio", "video", "document"),
}
# C0 controls other than tab, newline, vertical tab, form feed, carriage return and escape
_BINARY_CONTROLS = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")


def unsupported(message: str) -> ImError:
    """An ``unsupported_media_type`` error."""
    return ImError("unsupported_media_type", message)


# ----------------------------------------------------------------- sniffing


def sniff(head: bytes) -> tuple[FileType, ...]:
    """The binary types the first bytes of a file can be, most likely first; () if none."""
    if head.startswith(b"\xff\xd8\xff"):
        return (JPEG,)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return (PNG,)
    if head.startswith((b"GIF87a", b"GIF89a")):
        return (GIF,)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return (WEBP,)
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return (WAV,)
    if head.startswith(b"%PDF-"):
        return (PDF,)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return (DICOM,)
    if head.startswith(b"ID3"):
        return (MP3,)
    if len(head) >= 2 and head[0] == 0xFF:
        b1 = head[1]
        if b1 & 0xF6 == 0xF0:  # ADTS: 12 sync bits, layer 00
            return (AAC,)
        if b1 & 0xE0 == 0xE0 and (b1 >> 1) & 3 == 1 and (b1 >> 3) & 3 != 1:  # MPEG layer III
            return (MP3,)
    if head.startswith(b"OggS"):
        if b"\x80theora" in head:
            return (OGG_VIDEO, OGG_AUDIO)
        if b"OpusHead" in head or b"\x01vorbis" in head or b"\x7fFLAC" in head:
            return (OGG_AUDIO,)
        return ()
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: WebM or Matroska
        doc = head[:64]
        if b"webm" in doc:
            return (WEBM_VIDEO, WEBM_AUDIO)
        if b"matroska" in doc:
            return (MKV_VIDEO, MKV_AUDIO)
        return ()
    if head[4:8] == b"ftyp":
        return _iso_media(head[8:12])
    return ()


def _iso_media(brand: bytes) -> tuple[FileType, ...]:
    """MP4-family types by major brand (HEIF/AVIF images and unknown brands are refused)."""
    if brand == b"qt  ":
        return (MOV,)
    if brand in (b"M4A ", b"M4B ", b"M4P "):
        return (MP4_AUDIO,)
    if brand.startswith(b"3g"):
        return (GPP_VIDEO, GPP_AUDIO)
    if brand in (
        b"isom",
        b"iso2",
        b"iso4",
        b"iso5",
        b"iso6",
        b"mp41",
        b"mp42",
        b"avc1",
        b"M4V ",
        b"dash",
        b"mmp4",
        b"MSNV",
        b"f4v ",
    ):
        return (MP4_VIDEO, MP4_AUDIO)
    return ()


def is_text(path: Path) -> bool:
    """True if the whole file is UTF-8 without NULs or other binary control characters."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                if _BINARY_CONTROLS.search(chunk):
                    return False
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def office_type(path: Path) -> FileType:
    """The Office (OOXML) type of a zip, read from its directory without extracting it.

    Refuses zips that are not DOCX/XLSX/PPTX, encrypted ones, and likely zip bombs
    (too many entries, too much uncompressed data, an extreme compression ratio).
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > ZIP_MAX_ENTRIES:
                raise unsupported("the archive has too many entries")
            total = 0
            for info in infos:
                if info.flag_bits & 0x1:
                    raise unsupported("encrypted archives are not accepted")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise unsupported("the archive uses an unsupported compression method")
                total += info.file_size
                ratio = info.file_size / max(info.compress_size, 1)
                if info.file_size > ZIP_RATIO_FROM and ratio > ZIP_MAX_RATIO:
                    raise unsupported("the archive is compressed suspiciously well (zip bomb?)")
            if total > ZIP_MAX_TOTAL:
                raise unsupported("the archive unpacks to too much data")
            try:
                ct = zf.getinfo("[Content_Types].xml")
            except KeyError:
                raise unsupported("only Office documents (DOCX, XLSX, PPTX) may be zips") from None
            if ct.file_size > ZIP_MAX_CONTENT_TYPES:
                raise unsupported("the document's [Content_Types].xml is too large")
            with zf.open(ct) as fh:
                listing = fh.read(ZIP_MAX_CONTENT_TYPES + 1)
    except ImError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        raise unsupported("the archive is damaged") from None
    except (NotImplementedError, RuntimeError):
        raise unsupported("the archive cannot be read") from None
    for part, filetype in OOXML_MAIN_PARTS:
        if b'ContentType="' + part + b'"' in listing:
            return filetype
    raise unsupported("only Office documents (DOCX, XLSX, PPTX) may be zips")


def detect(path: Path, head: bytes, filename: str, kind: str) -> FileType:
    """The type of the stored upload at ``path``, checked against its name and declared kind.

    ``head`` is the start of the file (at least :data:`HEAD_BYTES` if the file is
    that long), ``filename`` the sanitised name and ``kind`` the declared message
    type (``image``/``file``/``audio``/``video``). Blocking; raises
    ``unsupported_media_type``.
    """
    if kind not in KIND_ACCEPTS:
        raise ImError("bad_request", "'type' must be one of image, file, audio, video")
    candidates = sniff(head)
    if not candidates:
        if head.startswith(b"PK\x03\x04"):
            candidates = (office_type(path),)
        elif is_text(path):
            candidates = TEXT_TYPES
        else:
            raise unsupported("this kind of file is not accepted")
    return choose(candidates, filename, kind)


def choose(candidates: tuple[FileType, ...], filename: str, kind: str) -> FileType:
    """The first candidate the declared kind accepts and the extension (if any) names."""
    accepted = [c for c in candidates if c.kind in KIND_ACCEPTS[kind]]
    if not accepted:
        raise unsupported(f"a {kind} upload cannot be {candidates[0].content_type}")
    ext = extension(filename)
    if ext:
        accepted = [c for c in accepted if ext in c.extensions]
        if not accepted:
            raise unsupported(
                f"the name ends in {ext} but the content is {candidates[0].content_type}"
            )
    return accepted[0]


# ----------------------------------------------------------------- file names

_SEPARATORS = re.compile(r"[/\\]")
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_RESERVED = re.compile(r'[:*?"<>|]')
_SPACES = re.compile(r"\s+")


def extension(filename: str) -> str:
    """The lower-case extension with its dot (``.png``), or '' if the name has none."""
    stem, dot, ext = filename.rpartition(".")
    if not dot or not stem or not ext or len(ext) > 16 or " " in ext:
        return ""
    return "." + ext.lower()


def sanitise_filename(raw: str) -> str:
    """A display name safe to store and send in headers: no directories, controls or '..'.

    Keeps letters of every script (Chinese, emoji, ...); at most 255 UTF-8 bytes,
    the extension kept when shortening; ``file`` if nothing is left. The result
    is never used in a file-system path.
    """
    name = unicodedata.normalize("NFC", raw)
    name = _SEPARATORS.split(name)[-1]  # drop any directory part, '/' or '\'
    name = _SPACES.sub(" ", name)  # tabs, line breaks, ... become one space
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cs", "Zl", "Zp"))
    name = _SPACES.sub(" ", _BIDI.sub("", name))
    name = _RESERVED.sub("_", name)
    while ".." in name:
        name = name.replace("..", ".")
    name = name.strip(" .")
    if not name:
        return "file"
    return _truncate(name, MAX_FILENAME_BYTES)


def _truncate(name: str, limit: int) -> str:
    if len(name.encode("utf-8")) <= limit:
        return name
    ext = extension(name)
    stem = name[: -len(ext)] if ext else name
    room = limit - len(ext.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(" .")
    return (cut or "file") + ext


def ascii_filename(name: str) -> str:
    """An ASCII stand-in for a sanitised name (the ``filename=`` fallback of a download)."""
    ext = extension(name)
    stem = name[: -len(ext)] if ext else name
    folded = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    folded = re.sub(r"[^A-Za-z0-9._ -]+", "_", folded).strip(" ._")
    if not any(ch.isalnum() for ch in folded):
        folded = "file"
    return folded + re.sub(r"[^a-z0-9.]", "", ext)
