"""Image bytes (Pillow, imported lazily): :func:`inspect_image` checks them,
:func:`convert_image` changes the format (keeping transparency for PNG/WebP)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from ..core.errors import ProviderError, UsageError

#: Image formats termchat writes, as Pillow names them -> file extension.
IMAGE_FORMATS: dict[str, str] = {"png": "png", "jpeg": "jpg", "webp": "webp"}
#: File extensions -> format names (for ``-o name.ext``).
IMAGE_EXTENSIONS: dict[str, str] = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "webp": "webp"}


@dataclass
class ImageInfo:
    """What Pillow found in image bytes: ``format`` (lower-case Pillow name: ``png``, ``jpeg``,
    ``webp``, ``gif``…), ``width``/``height`` in pixels, ``mode`` (``RGB``, ``RGBA``…) and
    whether it has an alpha channel or transparency."""

    format: str
    width: int
    height: int
    mode: str
    has_alpha: bool

    @property
    def ext(self) -> str:
        """The file extension for this format (``jpg`` for JPEG)."""
        return IMAGE_FORMATS.get(self.format, self.format)


def inspect_image(data: bytes, what: str = "the image") -> ImageInfo:
    """Check that ``data`` is a complete image Pillow can decode, and describe it.

    Raises:
        ProviderError: not an image, truncated, or a decompression bomb (exit 1).
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ProviderError(f"{what} is empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            fmt = (img.format or "").lower()
            has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
            return ImageInfo(fmt, img.width, img.height, img.mode, has_alpha)
    except UnidentifiedImageError:
        raise ProviderError(f"{what} is not an image (the provider sent {_describe(data)})") from None
    except Image.DecompressionBombError as exc:
        raise ProviderError(f"{what} is too large to decode safely: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ProviderError(f"{what} is damaged: {exc}") from None


def _describe(data: bytes) -> str:
    head = data[:24]
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return f"text starting {head.decode('ascii')!r}"
    return f"{len(data):,} bytes of an unknown format"


def convert_image(data: bytes, fmt: str, compression: int | None = None) -> bytes:
    """Re-encode image ``data`` as ``fmt`` (``png``, ``jpeg`` or ``webp``).

    Transparency is kept for PNG and WebP; for JPEG (no alpha) transparent areas are laid on
    white. ``compression`` (0–100, like OpenAI's ``output_compression``: 100 keeps the most
    detail, lower values make smaller files) is the JPEG/WebP quality; ``None`` uses 90.

    Raises:
        UsageError: an unknown target format.
        ProviderError: ``data`` cannot be decoded.
    """
    from PIL import Image

    if fmt not in IMAGE_FORMATS:
        raise UsageError(f"cannot write images as {fmt!r}; use png, jpeg or webp")
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as exc:
        raise ProviderError(f"cannot decode the image to convert it: {exc}") from None
    quality = 90 if compression is None else max(1, min(100, int(compression)))
    alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    out = io.BytesIO()
    if fmt == "jpeg":
        if alpha:
            rgba = img.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            img = flat
        elif img.mode != "RGB":
            img = img.convert("RGB")
        img.save(out, format="JPEG", quality=quality)
    elif fmt == "webp":
        img = img.convert("RGBA" if alpha else "RGB")
        img.save(out, format="WEBP", quality=quality)
    else:
        if img.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"):
            img = img.convert("RGBA" if alpha else "RGB")
        img.save(out, format="PNG", optimize=False)
    return out.getvalue()
