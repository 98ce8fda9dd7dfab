"""A reference file's bytes, checked before anything is sent: the public
rules (type by its bytes, 30 MiB), the size its header claims (read before
any decoder runs, so a decompression bomb is refused unopened), a pixel
limit, no animation, and a PNG whose every chunk is whole.
"""

from __future__ import annotations

import io
import struct

from ..errors import InvalidRequestError
from ..wire.rules import check_reference_bytes

# Pillow's default `Image.MAX_IMAGE_PIXELS` (about 89.5 megapixels), fixed here
# so that the rule does not change when a notebook changes Pillow's setting.
# The largest output is 3840x2880 (11 MP); a bigger reference only costs time.
MAX_REFERENCE_PIXELS = 89_478_485

FORMAT_OF_MIME = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
SHOWN_FORMAT = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}
_FIELD = "references"


def check_pixel_count(label: str, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise InvalidRequestError(_FIELD, f"{label} has no pixels ({width}x{height})")
    if width * height > MAX_REFERENCE_PIXELS:
        raise InvalidRequestError(
            _FIELD,
            f"{label} is {width}x{height} = {width * height:,} pixels; at most {MAX_REFERENCE_PIXELS:,} "
            "pixels are allowed (a guard against decompression bombs)",
        )


def checked(data: bytes, label: str) -> tuple[str, str, int, int]:
    """Apply every rule to one file; return (mime, shown format, width, height)."""
    mime = check_reference_bytes(data, label)
    fmt = FORMAT_OF_MIME[mime]
    try:
        width, height = _header_size(data, fmt)
    except (ValueError, IndexError, struct.error) as exc:
        raise InvalidRequestError(_FIELD, f"{label} is truncated or corrupt ({exc})") from None
    check_pixel_count(label, width, height)
    _check_with_pillow(data, fmt, label)
    return mime, SHOWN_FORMAT[fmt], width, height


def _check_with_pillow(data: bytes, fmt: str, label: str) -> None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as image:
            frames = getattr(image, "n_frames", 1) if fmt in ("PNG", "WEBP") else 1
            if frames > 1:
                raise InvalidRequestError(
                    _FIELD, f"{label} is animated ({frames} frames); only still images are accepted"
                )
            if fmt == "PNG":
                image.verify()  # walks every chunk to IEND and checks its CRC; no decoding
    except InvalidRequestError:
        raise
    except Image.DecompressionBombError as exc:  # only if Image.MAX_IMAGE_PIXELS was set lower
        raise InvalidRequestError(_FIELD, f"{label} is too large to open safely ({exc})") from None
    except Exception as exc:
        raise InvalidRequestError(_FIELD, f"{label} is truncated or corrupt ({exc or type(exc).__name__})") from None


def _header_size(data: bytes, fmt: str) -> tuple[int, int]:
    """Width and height as the header claims them, read before any decoder runs."""
    if fmt == "PNG":
        if data[12:16] != b"IHDR" or len(data) < 33:
            raise ValueError("no IHDR chunk")
        return struct.unpack(">II", data[16:24])
    if fmt == "JPEG":
        return _jpeg_size(data)
    return _webp_size(data)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Walk the JPEG markers to the first scan; the file must then reach its end-of-image marker."""
    pos, size = 2, None
    while True:
        if pos + 4 > len(data):
            raise ValueError("the file ends inside its header")
        if data[pos] != 0xFF:
            raise ValueError(f"no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker == 0xD9:
            raise ValueError("end-of-image marker before any image data")
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            raise ValueError("the file ends inside its header")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            size = (width, height)
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
    if size is None:
        raise ValueError("no frame header")
    # Entropy-coded data never contains FF D9 (an FF there is followed by 00 or
    # a restart marker), so a file cut short has no end-of-image marker left.
    if data.find(b"\xff\xd9", pos) == -1:
        raise ValueError("no end-of-image marker: the file was cut short")
    return size


def _webp_size(data: bytes) -> tuple[int, int]:
    (riff_size,) = struct.unpack("<I", data[4:8])
    if riff_size + 8 > len(data):
        raise ValueError(f"the RIFF header promises {riff_size + 8:,} bytes but there are {len(data):,}")
    chunk = data[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            raise ValueError("bad VP8L signature")
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise ValueError("bad VP8 start code")
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    raise ValueError(f"unknown WebP chunk {chunk!r}")
