"""Small JPEG thumbnails: the one recipe behind result previews, the panel's
gallery and its reference chips.

    jpeg_thumbnail(png_bytes, 64)          # encoded bytes, a path, or a PIL image
    make_thumbnail(result_path)            # a file's thumbnail, kept beside it at the default size

Transparent pixels come out white (JPEG has no alpha), whichever way in.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from PIL import Image

    ImageSource: TypeAlias = "bytes | bytearray | memoryview | str | os.PathLike[str] | Image.Image"

THUMBNAIL_SIZE = 256  # pixels: the inline preview of a result
JPEG_QUALITY = 80  # a 256 px thumbnail is 5-15 KB at this quality


def jpeg_thumbnail(source: ImageSource, size: int = THUMBNAIL_SIZE) -> bytes:
    """A JPEG at most `size` pixels on a side of encoded image bytes, an image
    file, or a PIL image (which is not changed)."""
    from PIL import Image

    if isinstance(source, Image.Image):
        return _encode(_shrink(source, size, opened_here=False))
    file = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else source
    with Image.open(file) as im:
        check_pixels(im, source if isinstance(source, (str, os.PathLike)) else "the image")
        return _encode(_shrink(im, size, opened_here=True))


MAX_DECODE_PIXELS = 40_000_000  # twice the largest output the API documents (3840x2160 is 8.3 MP; 4K 1:1 is refused)


def check_pixels(im: Image.Image, source: object) -> None:
    """Refuse to decode an image larger than `MAX_DECODE_PIXELS`: a 560 KB PNG of
    12000x12000 would take over 1 GB of memory.  Reading the size costs only the
    header.  The file itself stays saved (it was paid for)."""
    width, height = im.size
    if width * height > MAX_DECODE_PIXELS:
        from ..errors import APIResponseError

        raise APIResponseError(
            f"{source} is {width}x{height} ({width * height / 1e6:.0f} megapixels), more than the "
            f"{MAX_DECODE_PIXELS / 1e6:.0f} this package decodes; the file stays on disk as it came"
        )


def thumbnail_path(path: str | os.PathLike[str]) -> Path:
    """Where the thumbnail of an image file is kept, beside the image."""
    return Path(path).with_suffix(".thumb.jpg")


def make_thumbnail(path: str | os.PathLike[str], size: int = THUMBNAIL_SIZE) -> bytes:
    """The thumbnail of the image file at `path`.  At the default size it is kept
    beside the image (`.thumb.jpg`): a 4K PNG must be decoded whole (PNG has no
    `draft`), which is worth doing once per image, not on every display.
    Nothing is made ahead of time, so a script that never displays pays nothing."""
    if not isinstance(path, (str, os.PathLike)):  # on remote storage: nothing is kept beside it
        return jpeg_thumbnail(path.read_bytes(), size)
    cached = thumbnail_path(path)
    if size == THUMBNAIL_SIZE and cached.exists() and cached.stat().st_mtime >= os.stat(path).st_mtime:
        return cached.read_bytes()
    thumb = jpeg_thumbnail(path, size)
    if size == THUMBNAIL_SIZE:
        with contextlib.suppress(OSError):  # a read-only folder only costs the next display a decode
            tmp = cached.with_name(f".{cached.name}.{os.getpid()}.{threading.get_ident()}.part")
            tmp.write_bytes(thumb)
            os.replace(tmp, cached)
    return thumb


def _shrink(im: Image.Image, size: int, *, opened_here: bool) -> Image.Image:
    """Decode as little as possible: `draft` lets a JPEG decode at a fraction of
    its size, and `reduce` shrinks by an integer factor before the final
    resample.  (`draft` changes the image, so only on one opened here.)"""
    from PIL import Image

    if opened_here:
        im.draft("RGB", (size, size))
    if im.mode not in ("RGB", "RGBA", "L", "LA"):  # palette, 1-bit, 16-bit, CMYK: resample in colour
        im = im.convert("RGBA" if _has_alpha(im) else "RGB")
    factor = max(1, min(im.size) // (size * 2))
    small = im.reduce(factor) if factor > 1 else im.copy()
    small.thumbnail((size, size), Image.Resampling.BILINEAR)
    return _flatten(small)


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info


def _flatten(im: Image.Image) -> Image.Image:
    """RGB or L, with any transparency laid over white."""
    from PIL import Image

    if im.mode in ("RGBA", "LA"):
        rgba = im.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return im


def _encode(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()
