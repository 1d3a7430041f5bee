"""Image checks and thumbnails with Pillow (blocking: run them in a worker thread).

The pixel-flood guard reads the dimensions from the header (``Image.open`` does
not decode) and refuses images over the limit before any pixel is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from im.errors import ImError

THUMBNAIL_SIZE = 320  # longest side of a thumbnail, pixels
THUMBNAIL_QUALITY = 80
PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
_ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transposes that make the image upright
_UPRIGHT: dict[int, tuple[Image.Transpose, ...]] = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


@dataclass(frozen=True)
class ImageInfo:
    """Dimensions as displayed (EXIF orientation applied)."""

    width: int
    height: int


def set_pixel_limit(max_pixels: int) -> None:
    """Make sure Pillow's process-wide bomb guard is not stricter than ``max_pixels``.

    Pillow refuses (``DecompressionBombError``) images over twice
    ``Image.MAX_IMAGE_PIXELS`` while opening; it is only ever raised here, and
    :func:`inspect_image` applies each caller's own, possibly lower, limit.
    """
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def too_large(width: int, height: int, max_pixels: int) -> ImError:
    """An ``image_too_large`` error."""
    return ImError(
        "image_too_large",
        f"the image is {width}x{height} pixels; at most {max_pixels} pixels are accepted",
    )


def inspect_image(
    path: Path, content_type: str, max_pixels: int, thumbnail_path: Path
) -> ImageInfo:
    """Check an uploaded image and write its JPEG thumbnail to ``thumbnail_path``.

    Raises ``image_too_large`` if width x height exceeds ``max_pixels`` (checked
    from the header, before decoding) and ``unsupported_media_type`` if the file
    is not a well-formed image of ``content_type``.
    """
    fmt = PIL_FORMATS.get(content_type)
    if fmt is None:
        raise ImError("unsupported_media_type", f"{content_type} is not an image type")
    try:
        with Image.open(path, formats=[fmt]) as img:
            width, height = img.size
            if width <= 0 or height <= 0:
                raise ImError("unsupported_media_type", "the image has no pixels")
            if width * height > max_pixels:
                raise too_large(width, height, max_pixels)
            img.verify()
        with Image.open(path, formats=[fmt]) as img:
            orientation = _orientation(img)
            img.draft("RGB", (THUMBNAIL_SIZE, THUMBNAIL_SIZE))  # JPEG: decode at a smaller scale
            img.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            thumb = _flatten(img)
        for step in _UPRIGHT.get(orientation, ()):
            thumb = thumb.transpose(step)
        thumb.save(thumbnail_path, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    except ImError:
        raise
    except Image.DecompressionBombError:
        raise ImError("image_too_large", f"the image is larger than {max_pixels} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError):
        raise ImError(
            "unsupported_media_type", "the image is damaged or not a valid image"
        ) from None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(width, height)


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation read from the header (1, upright, if there is none)."""
    if "exif" not in img.info:  # getexif() would decode a PNG to look further
        return 1
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block only loses the rotation
        return 1
    return value if isinstance(value, int) else 1


def _flatten(img: Image.Image) -> Image.Image:
    """RGB on a white background (transparency flattened)."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        img = img.convert("I").point(lambda v: v / 256).convert("L")  # 16-bit grey -> 8-bit
    return img.convert("RGB")
