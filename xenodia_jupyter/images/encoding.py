"""Lossless, fast encoding of in-memory images for upload.

Pillow's PNG writer tries every row filter and compresses on one core, which
makes a 4096x4096 image take seconds.  `encode_image` writes the same kind of
PNG in bands of about 2 MiB compressed in parallel threads (zlib releases the
GIL), choosing the zlib strategy from a sample of the pixels; without NumPy
it falls back to Pillow at ``compress_level=1``.  When the PNG is over the
30 MiB cap, lossless WebP is tried before giving up.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..wire.rules import MAX_REFERENCE_BYTES

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["encode_image"]

def encode_image(image: Image.Image) -> tuple[bytes, str]:
    """Encode `image` losslessly and fast for upload; returns (bytes, mime).

    EXIF orientation is applied first.  Modes: 1, L, LA, P (with or without
    transparency), RGB, RGBA and I;16 are written as they are; PA, La, RGBa,
    RGBX become RGBA/LA/RGB; CMYK, YCbCr, LAB, HSV become RGB (PNG cannot hold
    them; the ICC profile is dropped with the conversion); I and F are turned
    into grey by `_int_to_grey`/`_float_to_grey` (PNG has no 32-bit or float
    pixels).  The result is a PNG; when that is over 30 MiB, smaller lossless
    encodings (WebP lossless) are tried and the smallest is returned, which
    may still be over the cap: callers check.
    """
    image = _upright(image)
    image, icc = _pngable(image)
    data, strategy = _png(image, icc)
    if len(data) <= MAX_REFERENCE_BYTES:
        return data, "image/png"
    return _smaller_lossless(image, icc, data, strategy)


def _upright(image: Image.Image) -> Image.Image:
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:
        return image
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        from PIL import ImageOps

        return ImageOps.exif_transpose(image)
    return image


def _pngable(image: Image.Image) -> tuple[Image.Image, bytes | None]:
    """An image in a mode PNG can hold, and the ICC profile that still applies to it."""
    mode = image.mode
    icc = image.info.get("icc_profile") or None
    if mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        return image, icc
    conversions = {"PA": "RGBA", "La": "LA", "RGBa": "RGBA", "RGBX": "RGB"}
    if mode in conversions:
        return image.convert(conversions[mode]), icc
    if mode.startswith("I;16"):  # I;16B, I;16L, I;16N
        return _int_to_grey(image.convert("I")), icc
    if mode == "I":
        return _int_to_grey(image), icc
    if mode == "F":
        return _float_to_grey(image), icc
    # CMYK, YCbCr, LAB, HSV, ...: PNG has no such colour types; the profile
    # (CMYK, usually) would be wrong for the RGB pixels, so it is dropped.
    return image.convert("RGBA" if "A" in mode else "RGB"), None


def _int_to_grey(image: Image.Image) -> Image.Image:
    """32-bit integers -> 16-bit grey: exact when all values lie in 0..65535, else min-max scaled."""
    low, high = _extrema(image)
    if low < 0 or high > 65535:
        scale = 65535 / (high - low) if high > low else 0.0
        image = image.point(lambda v: v * scale + (0.5 - low * scale))
    return image.convert("I;16")


def _float_to_grey(image: Image.Image) -> Image.Image:
    """Floats -> grey, rounded: [0, 1] is scaled by 255 (as for NumPy floats) into 8 bits;
    [0, 255] goes to 8 bits and [0, 65535] to 16 bits as is; anything else is
    min-max scaled into 16 bits."""
    low, high = _extrema(image)
    if low >= 0 and high <= 1:
        return image.point(lambda v: v * 255 + 0.5).convert("L")
    if low >= 0 and high <= 255:
        return image.point(lambda v: v + 0.5).convert("L")
    if not (low >= 0 and high <= 65535):
        scale = 65535 / (high - low) if high > low else 0.0
        image = image.point(lambda v: v * scale - low * scale)
    return image.point(lambda v: v + 0.5).convert("I").convert("I;16")


def _extrema(image: Image.Image) -> tuple[float, float]:
    low, high = image.getextrema()  # one band: (min, max)
    return float(low), float(high)  # type: ignore[arg-type]


def _png(image: Image.Image, icc: bytes | None) -> tuple[bytes, str]:
    if image.mode in _PNG_LAYOUT and _import_numpy() is not None:
        return _fast_png(image, icc)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1, icc_profile=icc)
    return buffer.getvalue(), "pillow"


def _smaller_lossless(image: Image.Image, icc: bytes | None, data: bytes, strategy: str) -> tuple[bytes, str]:
    """Try smaller lossless encodings of an image whose fast PNG is over the cap."""
    best, mime = data, "image/png"
    if len(best) > 2 * MAX_REFERENCE_BYTES:
        return best, mime  # incompressible (noise): no lossless coder gains 50%
    if strategy == "stored":  # the sample looked incompressible; compress for real
        best = min(best, _fast_png(image, icc, "rle")[0], key=len)
    webp_ok = image.mode in ("L", "LA", "RGB", "RGBA") and max(image.size) <= 16383
    # WebP lossless is 10-45% smaller than our PNG on photos and upscaled images.
    for options in ({"method": 0, "quality": 0}, {"method": 1, "quality": 50}):
        if len(best) <= MAX_REFERENCE_BYTES or len(best) > 1.5 * MAX_REFERENCE_BYTES or not webp_ok:
            break
        buffer = io.BytesIO()
        image.save(buffer, format="WEBP", lossless=True, exact=True, icc_profile=icc or b"", **options)
        if len(buffer.getvalue()) < len(best):
            best, mime = buffer.getvalue(), "image/webp"
    return best, mime


# A fast PNG writer ------------------------------------------------------------------------
#
# Pillow's PNG encoder tries four filters on every row and then deflates at
# level 6 on one core; that is what makes a 4096x4096 RGBA image take seconds.
# Here the rows are cut into bands of about 2 MiB; each band is Up-filtered
# with NumPy and deflated on its own (raw deflate, sync-flushed so that the
# pieces join into one zlib stream) in a thread pool (zlib and NumPy release
# the GIL).  Each piece is its own IDAT chunk; the Adler-32 of the whole stream
# is combined from the bands'.  The deflate settings are picked from a sample
# of rows: stored when the sample does not compress (noise), zlib's default
# strategy when it compresses very well (flat art, gradients), Z_RLE otherwise
# (photos: faster than level 1 and smaller).

_PNG_LAYOUT = {  # mode: (colour type, bit depth, bytes per pixel, raw mode)
    "L": (0, 8, 1, "L"),
    "LA": (4, 8, 2, "LA"),
    "RGB": (2, 8, 3, "RGB"),
    "RGBA": (6, 8, 4, "RGBA"),
    "I;16": (0, 16, 2, "I;16B"),
}
_BAND_BYTES = 2 << 20
_STRATEGIES = {  # name: (level, zlib strategy, PNG filter)
    "stored": (0, zlib.Z_DEFAULT_STRATEGY, 0),
    "default": (1, zlib.Z_DEFAULT_STRATEGY, 2),
    "rle": (1, zlib.Z_RLE, 2),
}


def _import_numpy() -> Any:
    try:
        import numpy
    except ImportError:  # NumPy is optional: Pillow's encoder is the fallback
        return None
    return numpy


def _fast_png(image: Image.Image, icc: bytes | None = None, strategy: str | None = None) -> tuple[bytes, str]:
    """Encode an L, LA, RGB, RGBA or I;16 image as PNG; returns (bytes, strategy used)."""
    np = _import_numpy()
    image.load()  # once, before any thread touches it
    width, height = image.size
    colour_type, depth, pixel_bytes, rawmode = _PNG_LAYOUT[image.mode]
    stride = width * pixel_bytes
    rows_per_band = max(1, _BAND_BYTES // stride)
    bands = [(y, min(height, y + rows_per_band)) for y in range(0, height, rows_per_band)]

    def rows(y0: int, y1: int) -> Any:
        """Rows y0-1 .. y1-1 as a 2-D uint8 array (the row above feeds the Up filter)."""
        top = max(0, y0 - 1)
        region = image if (top == 0 and y1 == height) else image.crop((0, top, width, y1))
        return np.frombuffer(region.tobytes("raw", rawmode), np.uint8).reshape(y1 - top, stride)

    strategy = strategy or _pick_strategy(rows, height, stride)
    level, zstrategy, png_filter = _STRATEGIES[strategy]
    last = len(bands) - 1

    def encode_band(k: int) -> tuple[bytes, int, int]:
        y0, y1 = bands[k]
        above = rows(y0, y1)
        out = np.empty((y1 - y0, stride + 1), np.uint8)
        out[:, 0] = png_filter
        if png_filter == 0:
            out[:, 1:] = above[-(y1 - y0) :]
        elif y0 == 0:
            out[0, 1:] = above[0]
            np.subtract(above[1:], above[:-1], out=out[1:, 1:])
        else:
            np.subtract(above[1:], above[:-1], out=out[:, 1:])
        deflate = _compressor(level, zstrategy)
        piece = deflate.compress(out) + deflate.flush(zlib.Z_FINISH if k == last else zlib.Z_SYNC_FLUSH)
        return _png_chunk(b"IDAT", piece), zlib.adler32(out), out.nbytes

    workers = min(len(bands), os.cpu_count() or 1, 8)
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            pieces = list(pool.map(encode_band, range(len(bands))))
    else:
        pieces = [encode_band(k) for k in range(len(bands))]
    adler = pieces[0][1]
    for _, band_adler, length in pieces[1:]:
        adler = _adler32_combine(adler, band_adler, length)

    head = [
        b"\x89PNG\r\n\x1a\n",
        _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)),
    ]
    if icc:
        head.append(_png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)))
    transparency = _trns(image)
    if transparency:
        head.append(_png_chunk(b"tRNS", transparency))
    head.append(_png_chunk(b"IDAT", b"\x78\x01"))  # zlib header: deflate, 32 KiB window
    tail = [_png_chunk(b"IDAT", struct.pack(">I", adler)), _png_chunk(b"IEND", b"")]
    return b"".join(head + [piece for piece, _, _ in pieces] + tail), strategy


def _compressor(level: int, zstrategy: int) -> Any:
    """A raw deflate stream for one band.  ISA-L (the `isal` package), when it is
    installed, deflates several times faster than zlib at a similar size; its
    Z_SYNC_FLUSH bands join into one valid stream just like zlib's."""
    if level > 0:
        try:
            from isal import isal_zlib
        except ImportError:
            pass
        else:
            return isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15, 9)
    return zlib.compressobj(level, zlib.DEFLATED, -15, 9, zstrategy)


def _pick_strategy(rows: Callable[[int, int], Any], height: int, stride: int) -> str:
    """Deflate a few Up-filtered sample rows at level 1 and judge by the ratio."""
    sample_rows = max(2, (64 << 10) // stride)
    raw = compressed = 0
    for y in sorted({height // 4, height // 2, 3 * height // 4}):
        y0, y1 = y, min(height, y + sample_rows)
        block = rows(y0, y1)
        filtered = (block[1:] - block[:-1]).tobytes() if len(block) > 1 else block.tobytes()
        raw += len(filtered)
        compressed += len(zlib.compress(filtered, 1))
    ratio = compressed / max(1, raw)
    if ratio > 0.95:
        return "stored"
    return "default" if ratio < 0.1 else "rle"


def _trns(image: Image.Image) -> bytes | None:
    value = image.info.get("transparency")
    if image.mode in ("L", "I;16") and isinstance(value, int):
        return struct.pack(">H", value)
    if image.mode == "RGB" and isinstance(value, tuple) and len(value) == 3:
        return struct.pack(">HHH", *value)
    return None


def _png_chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(tag)))


def _adler32_combine(adler1: int, adler2: int, length2: int) -> int:
    """Adler-32 of A+B from those of A and B (zlib's adler32_combine)."""
    base = 65521
    remainder = length2 % base
    sum1 = adler1 & 0xFFFF
    sum2 = (remainder * sum1) % base
    sum1 += (adler2 & 0xFFFF) + base - 1
    sum2 += ((adler1 >> 16) & 0xFFFF) + ((adler2 >> 16) & 0xFFFF) + base - remainder
    return (sum1 % base) | ((sum2 % base) << 16)
