"""The emulator's own table of the API, written out from the contract page.

The emulator keeps this apart from the client's rules (`xenodia_jupyter.wire.rules`)
on purpose: a wrong value on one side then shows up as a disagreement in the tests
instead of agreeing with itself.  Pure: no I/O, standard library only.
"""

from __future__ import annotations

__all__ = [
    "MODEL",
    "ASPECT_RATIOS",
    "RESOLUTIONS",
    "RESOLUTIONS_BY_ASPECT_RATIO",
    "RESPONSE_FORMATS",
    "MAX_REFERENCES",
    "MAX_REFERENCE_BYTES",
    "ACCEPTED_MIME_TYPES",
    "PRICE_MICRO_USDC",
    "MAX_PROMPT_CHARS",
    "LONG_SIDE",
    "SCALAR_FIELDS",
    "FILE_FIELDS",
    "URL_FIELDS",
    "combination_problem",
    "image_size",
    "sniff_mime",
    "describe_bytes",
]

MODEL = "gpt-image-2"
ASPECT_RATIOS: tuple[str, ...] = ("auto", "1:1", "9:16", "16:9", "4:3", "3:4")
RESOLUTIONS: tuple[str, ...] = ("1K", "2K", "4K")
# With aspect_ratio auto only 1K is valid; 1:1 cannot be combined with 4K.
RESOLUTIONS_BY_ASPECT_RATIO: dict[str, tuple[str, ...]] = {
    "auto": ("1K",),
    "1:1": ("1K", "2K"),
    "9:16": ("1K", "2K", "4K"),
    "16:9": ("1K", "2K", "4K"),
    "4:3": ("1K", "2K", "4K"),
    "3:4": ("1K", "2K", "4K"),
}
RESPONSE_FORMATS: tuple[str, ...] = ("url",)
MAX_REFERENCES = 16  # per request, URLs and files together
MAX_REFERENCE_BYTES = 31_457_280  # 30 MiB, per file
ACCEPTED_MIME_TYPES: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp")
PRICE_MICRO_USDC = 70_000  # $0.07 per generation call
# Not on the contract page: a sanity cap on prompts, the same one the client applies.
MAX_PROMPT_CHARS = 32_000
# Not on the contract page either: the pixel size the emulator renders at.
LONG_SIDE: dict[str, int] = {"1K": 1024, "2K": 2048, "4K": 3840}

# Wire field names of a generation request.
SCALAR_FIELDS: tuple[str, ...] = ("model", "prompt", "aspect_ratio", "resolution", "response_format", "async")
FILE_FIELDS: tuple[str, ...] = ("image", "image[]", "image_input[]", "image_input")
URL_FIELDS: tuple[str, ...] = ("image_input", "image_input[]")

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    # (offset, magic bytes, name) of the kinds we refuse, for messages
    (0, b"GIF8", "a GIF image"),
    (0, b"BM", "a BMP image"),
    (0, b"II*\x00", "a TIFF image"),
    (0, b"MM\x00*", "a TIFF image"),
    (0, b"%PDF", "a PDF document"),
    (0, b"<svg", "an SVG image"),
    (0, b"<?xml", "an XML/SVG document"),
    (0, b"<!DOCTYPE", "an HTML page"),
    (0, b"<html", "an HTML page"),
    (4, b"ftypheic", "a HEIC/AVIF image"),
    (4, b"ftypheix", "a HEIC/AVIF image"),
    (4, b"ftypmif1", "a HEIC/AVIF image"),
    (4, b"ftypavif", "a HEIC/AVIF image"),
)


def combination_problem(aspect_ratio: str | None, resolution: str | None) -> str | None:
    """Why this aspect ratio and resolution cannot go together, or None (a missing one is the default)."""
    if aspect_ratio is None or resolution is None:
        return None
    allowed = RESOLUTIONS_BY_ASPECT_RATIO.get(aspect_ratio, RESOLUTIONS)
    if resolution in allowed:
        return None
    return (
        f"aspect_ratio {aspect_ratio!r} allows only resolution {' or '.join(map(repr, allowed))}, "
        f"not {resolution!r}"
    )


def image_size(aspect_ratio: str | None, resolution: str | None) -> tuple[int, int]:
    """Pixel size (width, height) the emulator renders for a request."""
    long_side = LONG_SIDE.get(resolution or "1K", LONG_SIDE["1K"])
    if aspect_ratio in (None, "auto", "1:1"):
        return (long_side, long_side)
    w, h = (int(x) for x in aspect_ratio.split(":"))
    if w >= h:
        return (long_side, round(long_side * h / w))
    return (round(long_side * w / h), long_side)


def sniff_mime(data: bytes) -> str | None:
    """The accepted image type of `data`, judged by its first bytes; None for any other kind."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def describe_bytes(data: bytes) -> str:
    """A short human name for what refused bytes look like (for messages)."""
    if not data:
        return "empty (0 bytes)"
    for offset, magic, name in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return name
    return "not a recognisable image"
