"""Bad inputs that must be refused before anything is sent, kept as data.

Each `BadInput` builds (cheaply, under `tmp_path`) the keyword arguments of one
`Client.generate(...)` call that breaks exactly one rule, and says which field
the `InvalidRequestError` must name and what its message must contain.  The
prompt defaults to "a cat" when a case does not give one.

`tests/images/test_references.py` replays the corpus through `prepare_references`
and the rules functions; the client tests replay it through `Client.generate`
against the emulator (nothing may be billed).

kind: "reference" -> kwargs["references"]; "prompt" -> kwargs["prompt"];
"option" -> the other keyword arguments (aspect_ratio, resolution, unknown ones).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image

MAX_REFERENCE_BYTES = 31_457_280
DEFAULT_PROMPT = "a cat"


@dataclass(frozen=True)
class BadInput:
    id: str
    make: Callable[[Path], dict[str, Any]]  # make(tmp_path) -> generate() keyword arguments
    field: str  # InvalidRequestError.field
    message_contains: str  # a substring of InvalidRequestError.message
    kind: Literal["reference", "prompt", "option"] = "reference"

    def generate_kwargs(self, tmp_path: Path) -> dict[str, Any]:
        """The full keyword arguments for generate(), prompt included."""
        kwargs = self.make(tmp_path)
        return {"prompt": DEFAULT_PROMPT, **kwargs} if "prompt" not in kwargs else kwargs


# Building blocks (small and fast) --------------------------------------------------


def encoded(fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB", **options: Any) -> bytes:
    """A real image file with some texture (so that truncating it hurts)."""
    image = Image.effect_noise(size, 64).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ("red", "blue", "green")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def png_chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims width x height (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header is patched to claim width x height."""
    data = bytearray(encoded("JPEG", quality=80))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_claiming(width: int, height: int) -> bytes:
    """A minimal extended-format WebP header claiming width x height."""
    vp8x = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def corrupt_png() -> bytes:
    data = bytearray(encoded("PNG"))
    idat = data.index(b"IDAT")
    data[idat + 20] ^= 0xFF  # inside the compressed data: the chunk CRC no longer matches
    return bytes(data)


def oversized_png_bytes() -> bytes:
    """A valid PNG signature padded to 30 MiB + 1 byte (the size rule comes first)."""
    return b"\x89PNG\r\n\x1a\n" + bytes(MAX_REFERENCE_BYTES + 1 - 8)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def sparse_oversized_file(tmp_path: Path) -> Path:
    """A 30 MiB + 1 byte file that costs no disk space."""
    path = tmp_path / "huge.png"
    with path.open("wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.truncate(MAX_REFERENCE_BYTES + 1)
    return path


def refs_file(name: str, data_factory: Callable[[], bytes]) -> Callable[[Path], dict[str, Any]]:
    """make() for one reference given as a file called `name`."""
    return lambda tmp_path: {"references": [write(tmp_path, name, data_factory())]}


def refs(*items: Any) -> Callable[[Path], dict[str, Any]]:
    return lambda tmp_path: {"references": list(items)}


def many_files(count: int) -> Callable[[Path], dict[str, Any]]:
    def make(tmp_path: Path) -> dict[str, Any]:
        path = write(tmp_path, "ok.png", encoded("PNG", (8, 8)))
        return {"references": [path] * count}

    return make


def numpy_array(factory: Callable[[Any], Any]) -> Callable[[Path], dict[str, Any]]:
    def make(tmp_path: Path) -> dict[str, Any]:
        import numpy

        return {"references": [factory(numpy)]}

    return make


HEIC_JUNK = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
XML_SVG = b'<?xml version="1.0"?>\n' + SVG
LIMIT = f"at most {MAX_REFERENCE_BYTES:,} bytes"
ACCEPTED = "accepted types are image/jpeg, image/png, image/webp"


BAD_INPUTS: list[BadInput] = [
    # Wrong type, whatever the extension says
    BadInput("gif-named-gif", refs_file("anim.gif", lambda: encoded("GIF")), "references", "GIF"),
    BadInput("gif-named-png", refs_file("photo.png", lambda: encoded("GIF")), "references", "is a GIF image"),
    BadInput("bmp-named-jpg", refs_file("photo.jpg", lambda: encoded("BMP")), "references", "is a BMP image"),
    BadInput("bmp", refs_file("photo.bmp", lambda: encoded("BMP")), "references", ACCEPTED),
    BadInput("tiff-named-webp", refs_file("photo.webp", lambda: encoded("TIFF")), "references", "is a TIFF image"),
    BadInput("tiff", refs_file("scan.tiff", lambda: encoded("TIFF")), "references", "judged by the bytes"),
    BadInput("svg-named-png", refs_file("logo.png", lambda: SVG), "references", "is an SVG image"),
    BadInput("xml-svg", refs_file("logo.svg", lambda: XML_SVG), "references", "XML/SVG"),
    BadInput("heic-junk", refs_file("IMG_0001.heic", lambda: HEIC_JUNK), "references", "HEIC"),
    BadInput("heic-named-jpg", refs_file("IMG_0001.jpg", lambda: HEIC_JUNK), "references", "HEIC"),
    BadInput("pdf-named-png", refs_file("doc.png", lambda: b"%PDF-1.7\n" + bytes(100)), "references", "PDF"),
    BadInput("html-named-jpg", refs_file("page.jpg", lambda: b"<!DOCTYPE html><html></html>"), "references", "HTML"),
    BadInput("text-named-png", refs_file("notes.png", lambda: b"just some text\n"), "references", "not a recognisable"),
    BadInput("gif-bytes", refs(encoded("GIF")), "references", "references[0] (bytes) is a GIF image"),
    # Empty, too big, too many
    BadInput("zero-byte-file", refs_file("empty.png", lambda: b""), "references", "empty (0 bytes)"),
    BadInput("zero-bytes", refs(b""), "references", "empty (0 bytes)"),
    BadInput("empty-file-object", lambda tmp_path: {"references": [io.BytesIO()]}, "references", "empty"),
    BadInput("30MiB-plus-1-bytes", lambda tmp_path: {"references": [oversized_png_bytes()]}, "references", LIMIT),
    BadInput(
        "30MiB-plus-1-file", lambda tmp_path: {"references": [sparse_oversized_file(tmp_path)]}, "references", LIMIT
    ),
    BadInput("17-files", many_files(17), "references", "17 given; at most 16"),
    BadInput("17-urls", refs(*[f"https://example.com/{i}.png" for i in range(17)]), "references", "at most 16"),
    BadInput(
        "17-in-nested-lists",
        lambda tmp_path: {
            "references": [[f"https://example.com/{i}.png" for i in range(9)], ["https://e.com/a.png"] * 8]
        },
        "references",
        "17 given",
    ),
    # Broken files
    BadInput("truncated-png", refs_file("cut.png", lambda: encoded("PNG")[:300]), "references", "truncated or corrupt"),
    BadInput(
        "png-without-iend", refs_file("noend.png", lambda: encoded("PNG")[:-12]), "references", "truncated or corrupt"
    ),
    BadInput("png-bad-crc", refs_file("crc.png", corrupt_png), "references", "truncated or corrupt"),
    BadInput("png-signature-only", refs(b"\x89PNG\r\n\x1a\n"), "references", "truncated or corrupt"),
    BadInput(
        "truncated-jpeg",
        refs_file("cut.jpg", lambda: encoded("JPEG", quality=90)[:-400]),
        "references",
        "truncated or corrupt",
    ),
    BadInput("jpeg-header-only", refs(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"), "references", "truncated or corrupt"),
    BadInput(
        "truncated-webp",
        refs_file("cut.webp", lambda: encoded("WEBP", lossless=True)[:-100]),
        "references",
        "truncated or corrupt",
    ),
    # Decompression bombs and animations
    BadInput(
        "png-bomb", refs_file("bomb.png", lambda: png_claiming(100_000, 100_000)), "references", "pixels are allowed"
    ),
    BadInput("png-just-over-limit", refs(png_claiming(10_000, 9_000)), "references", "decompression bombs"),
    BadInput(
        "jpeg-bomb", refs_file("bomb.jpg", lambda: jpeg_claiming(60_000, 60_000)), "references", "pixels are allowed"
    ),
    BadInput(
        "webp-bomb", refs_file("bomb.webp", lambda: webp_claiming(16_383, 16_383)), "references", "pixels are allowed"
    ),
    BadInput("animated-webp", refs_file("anim.webp", lambda: animated("WEBP")), "references", "animated (3 frames)"),
    BadInput("animated-png", refs_file("anim.png", lambda: animated("PNG")), "references", "animated"),
    # URLs
    BadInput("file-url", refs("file:///etc/passwd"), "references", "URL scheme file: is not allowed"),
    BadInput("javascript-url", refs("javascript:alert(1)"), "references", "URL scheme javascript: is not allowed"),
    BadInput("data-url", refs("data:image/png;base64,iVBORw0KGgo="), "references", "URL scheme data: is not allowed"),
    BadInput("ftp-url", refs("ftp://example.com/cat.png"), "references", "URL scheme ftp: is not allowed"),
    BadInput("url-with-password", refs("https://user:s3cret@example.com/cat.png"), "references", "credentials"),
    BadInput("url-with-user", refs("https://user@example.com/cat.png"), "references", "credentials"),
    BadInput("url-without-host", refs("https:///cat.png"), "references", "has no host"),
    BadInput("url-with-space", refs("https://example.com/a cat.png"), "references", "white space"),
    # Paths and kinds
    BadInput("missing-file", lambda tmp_path: {"references": [tmp_path / "nope.png"]}, "references", "file not found"),
    BadInput(
        "missing-file-str", lambda tmp_path: {"references": str(tmp_path / "nope.png")}, "references", "file not found"
    ),
    BadInput("directory", lambda tmp_path: {"references": [tmp_path]}, "references", "is a directory"),
    BadInput("empty-string", refs(""), "references", "empty string"),
    BadInput("int", refs(42), "references", "of type int cannot be used as a reference"),
    BadInput("dict", refs({"url": "https://example.com/cat.png"}), "references", "of type dict cannot be used"),
    BadInput("none-in-list", refs(None), "references", "of type NoneType cannot be used"),
    BadInput("too-deeply-nested", refs([["https://example.com/cat.png"]]), "references", "of type list cannot be used"),
    BadInput("text-mode-file", lambda tmp_path: {"references": [io.StringIO("not bytes")]}, "references", "text-mode"),
    BadInput(
        "text-wrapper-over-png",
        lambda tmp_path: {"references": [io.TextIOWrapper(io.BytesIO(encoded("PNG")), encoding="latin-1")]},
        "references",
        "text-mode",
    ),
    # In-memory images
    BadInput(
        "numpy-float-out-of-range",
        numpy_array(lambda np: np.full((8, 8, 3), 1.5)),
        "references",
        "range [0, 1]",
    ),
    BadInput("numpy-float-nan", numpy_array(lambda np: np.full((8, 8), np.nan)), "references", "range [0, 1]"),
    BadInput("numpy-int64", numpy_array(lambda np: np.zeros((8, 8, 3), np.int64)), "references", "dtype int64"),
    BadInput("numpy-two-channels", numpy_array(lambda np: np.zeros((8, 8, 2), np.uint8)), "references", "not an image"),
    BadInput("numpy-1d", numpy_array(lambda np: np.zeros(64, np.uint8)), "references", "not an image"),
    BadInput("numpy-empty", numpy_array(lambda np: np.zeros((0, 8), np.uint8)), "references", "has no pixels"),
    BadInput(
        "pil-too-many-pixels",
        lambda tmp_path: {"references": [Image.new("1", (10_000, 9_000))]},
        "references",
        "pixels are allowed",
    ),
    BadInput(
        "pil-zero-size", lambda tmp_path: {"references": [Image.new("RGB", (0, 0))]}, "references", "has no pixels"
    ),
    # Prompts
    BadInput("prompt-int", lambda tmp_path: {"prompt": 5}, "prompt", "must be text (str), not int", "prompt"),
    BadInput("prompt-none", lambda tmp_path: {"prompt": None}, "prompt", "not NoneType", "prompt"),
    BadInput("prompt-bytes", lambda tmp_path: {"prompt": b"a cat"}, "prompt", "not bytes", "prompt"),
    BadInput("prompt-list", lambda tmp_path: {"prompt": ["a cat"]}, "prompt", "not list", "prompt"),
    BadInput("prompt-empty", lambda tmp_path: {"prompt": ""}, "prompt", "must not be empty", "prompt"),
    BadInput("prompt-spaces", lambda tmp_path: {"prompt": "   "}, "prompt", "only white space", "prompt"),
    BadInput("prompt-newlines-tabs", lambda tmp_path: {"prompt": "\n\t \n"}, "prompt", "must not be empty", "prompt"),
    BadInput("prompt-too-long", lambda tmp_path: {"prompt": "a" * 32_001}, "prompt", "32,001 characters", "prompt"),
    BadInput("prompt-nul", lambda tmp_path: {"prompt": "a\x00cat"}, "prompt", "NUL", "prompt"),
    # Options
    BadInput(
        "output-format-png", lambda tmp_path: {"output_format": "png"}, "output_format", "not supported", "option"
    ),
    BadInput(
        "output-format-webp", lambda tmp_path: {"output_format": "webp"}, "output_format", "not supported", "option"
    ),
    BadInput("unknown-quality", lambda tmp_path: {"quality": "hd"}, "quality", "unknown option(s): quality", "option"),
    BadInput("unknown-size", lambda tmp_path: {"size": "1024x1024"}, "size", "unknown option(s): size", "option"),
    BadInput("aspect-2-1", lambda tmp_path: {"aspect_ratio": "2:1"}, "aspect_ratio", "'2:1' is not allowed", "option"),
    BadInput("aspect-16-10", lambda tmp_path: {"aspect_ratio": "16:10"}, "aspect_ratio", "choose one of", "option"),
    BadInput("aspect-float", lambda tmp_path: {"aspect_ratio": 1.5}, "aspect_ratio", "1.5 is not allowed", "option"),
    BadInput("aspect-upper-auto", lambda tmp_path: {"aspect_ratio": "AUTO"}, "aspect_ratio", "'AUTO'", "option"),
    BadInput("resolution-8K", lambda tmp_path: {"resolution": "8K"}, "resolution", "'8K' is not allowed", "option"),
    BadInput(
        "resolution-lower-1k", lambda tmp_path: {"resolution": "1k"}, "resolution", "'1k' is not allowed", "option"
    ),
    BadInput("resolution-int", lambda tmp_path: {"resolution": 1024}, "resolution", "1024 is not allowed", "option"),
    BadInput(
        "auto-with-2K",
        lambda tmp_path: {"aspect_ratio": "auto", "resolution": "2K"},
        "resolution",
        "allows only resolution '1K'",
        "option",
    ),
    BadInput(
        "auto-with-4K",
        lambda tmp_path: {"aspect_ratio": "auto", "resolution": "4K"},
        "resolution",
        "allows only resolution '1K'",
        "option",
    ),
    BadInput(
        "square-with-4K",
        lambda tmp_path: {"aspect_ratio": "1:1", "resolution": "4K"},
        "resolution",
        "cannot be combined with resolution '4K'",
        "option",
    ),
]
