"""Anything -> upload-ready reference: what we send for each reference image.

A reference may be a URL, a path, bytes, a binary file, a PIL image, a NumPy
array, a matplotlib figure or an earlier result (any object with
``__xenodia_references__``).  `prepare_references` turns each into a
`PreparedReference`: a URL to send in ``image_input``, or the exact bytes,
mime type and file name of one multipart ``image`` part.  No network I/O.

Every file passes the rules of `rules.check_reference_bytes` (30 MiB, type
judged by the bytes) and a cheap header check: the dimensions are read from
the header before Pillow touches the file (decompression bombs are refused),
PNG chunks are walked and their CRCs checked (`Image.verify`), a JPEG must
reach its end-of-image marker, a WebP its declared RIFF size, and animated
PNG/WebP files are refused.  Errors are `InvalidRequestError` with field
``"references"`` and a message that starts with the reference's name, e.g.
``references[2] (photo.png) is truncated or corrupt (...)``.

In-memory images are encoded losslessly and fast: a PIL image that still
holds exactly the pixels of the PNG/JPEG/WebP file it was opened from is sent
as that file, byte for byte; anything else becomes a PNG written by a small
banded, multi-threaded encoder (`_fast_png`, needs NumPy; Pillow's own PNG
writer at ``compress_level=1`` otherwise).  If that PNG is over the 30 MiB
cap, smaller lossless encodings (lossless WebP) are tried before giving up.

Importing this module is cheap: Pillow and NumPy are imported inside the
functions that need them.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeGuard
from urllib.parse import unquote, urlsplit

from ..errors import InvalidRequestError
from ..wire.protocol import public_url
from ..wire.rules import (
    MAX_REFERENCE_BYTES,
    MAX_REFERENCES,
    ModelInfo,
    check_reference_count,
    check_reference_url,
)
from .checks import FORMAT_OF_MIME, MAX_REFERENCE_PIXELS, SHOWN_FORMAT, check_pixel_count, checked
from .encoding import encode_image

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "MAX_REFERENCE_PIXELS",
    "PreparedReference",
    "encode_image",
    "prepare_references",
    "reference_from_bytes",
]

_KINDS_HINT = (
    "give a URL, a path, bytes, a binary file, a PIL image, a NumPy array, a matplotlib figure or an earlier result"
)
_FIELD = "references"
_EXTENSIONS = {"image/png": (".png",), "image/jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"), "image/webp": (".webp",)}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]')


# The prepared reference ------------------------------------------------------


@dataclass(frozen=True)
class PreparedReference:
    """One reference, ready to send: a URL for ``image_input`` or the bytes of one ``image`` part."""

    kind: Literal["url", "file"]
    url: str | None  # kind "url"
    data: bytes | None = field(repr=False)  # kind "file": the exact bytes to upload
    filename: str  # its extension matches the true type
    mime: str  # sniffed from the bytes; "" for URLs
    digest: str  # sha256 hex of `data`, or of the URL text
    source: str  # short human summary, never the bytes

    @property
    def size(self) -> int:
        """Number of bytes to upload (0 for URLs)."""
        return len(self.data) if self.data is not None else 0


def prepare_references(refs: object, *, max_references: int = MAX_REFERENCES) -> list[PreparedReference]:
    """Turn `refs` (None, one reference or a list of them) into upload-ready references.

    Lists and tuples are flattened one level; an object with
    ``__xenodia_references__()`` stands for the references it returns.  The
    count is checked before anything is read or encoded.
    """
    items = _flatten(refs)
    check_reference_count(len(items), ModelInfo(max_references=max_references))
    prepared = []
    for index, (item, origin) in enumerate(items):
        ref = _prepare_one(item, index)
        if origin:
            ref = replace(ref, source=f"{origin}: {ref.source}")
        prepared.append(ref)
    return prepared


def reference_from_bytes(data: bytes, filename: str, source: str, *, index: int | None = None) -> PreparedReference:
    """A file reference from bytes obtained elsewhere (e.g. a URL the client fetched itself).

    Applies every rule (size, type by bytes, header check); the file name's
    extension is corrected to the true type; `source` gets the size, type and
    dimensions appended.
    """
    data = bytes(data)
    label = _label(index, filename or "bytes")
    mime, fmt, width, height = checked(data, label)
    return _file_reference(data, mime, filename, index, f"{source} ({_human_size(len(data))} {fmt} {width}x{height})")


# Sorting out what was given ----------------------------------------------------


def _flatten(refs: object) -> list[tuple[object, str | None]]:
    """The references one by one, with the name of the result each came from (if any)."""
    if refs is None:
        return []
    top = list(refs) if isinstance(refs, (list, tuple)) else [refs]
    flat: list[object] = []
    for item in top:
        if isinstance(item, (list, tuple)):
            flat.extend(item)
        else:
            flat.append(item)
    items: list[tuple[object, str | None]] = []
    for item in flat:
        hook = getattr(type(item), "__xenodia_references__", None)
        if hook is None or isinstance(item, type):
            items.append((item, None))
            continue
        expanded = item.__xenodia_references__()  # type: ignore[attr-defined]
        if not isinstance(expanded, (list, tuple)):
            raise InvalidRequestError(
                _FIELD,
                f"{type(item).__name__}.__xenodia_references__() returned {type(expanded).__name__}, not a list",
            )
        items.extend((sub, f"{type(item).__name__}[{k}]") for k, sub in enumerate(expanded))
    return items


def _prepare_one(item: object, index: int) -> PreparedReference:
    if isinstance(item, str):
        return _from_text(item, index)
    if isinstance(item, os.PathLike):
        shown = os.fsdecode(os.fspath(item))
        return _from_path(Path(shown), shown, index)
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = item.tobytes() if isinstance(item, memoryview) else bytes(item)
        label = _label(index, "bytes")
        mime, fmt, width, height = checked(data, label)
        return _file_reference(data, mime, "", index, f"bytes ({_human_size(len(data))} {fmt} {width}x{height})")
    if _is_pil_image(item):
        return _from_pil(item, index)
    if _is_numpy_array(item):
        return _from_array(item, index)
    if callable(getattr(item, "savefig", None)) and hasattr(item, "canvas"):
        return _from_figure(item, index)
    if callable(getattr(item, "read", None)):
        return _from_file_object(item, index)
    raise InvalidRequestError(
        _FIELD, f"references[{index}] of type {type(item).__name__} cannot be used as a reference; {_KINDS_HINT}"
    )


def _is_pil_image(obj: object) -> TypeGuard[Image.Image]:
    pil_image = sys.modules.get("PIL.Image")  # if Pillow was never imported, obj is no PIL image
    return pil_image is not None and isinstance(obj, pil_image.Image)


def _is_numpy_array(obj: object) -> bool:
    return type(obj).__module__.startswith("numpy") and hasattr(obj, "__array_interface__")


# URLs and paths ------------------------------------------------------------------


def _from_text(text: str, index: int) -> PreparedReference:
    if not text.strip():
        raise InvalidRequestError(_FIELD, f"references[{index}] is an empty string; {_KINDS_HINT}")
    scheme = _SCHEME.match(text.lstrip())
    if scheme and len(scheme.group()) > 2:  # "C:\..." is a Windows drive, not a scheme
        return _from_url(text, index)
    return _from_path(Path(os.path.expanduser(text)), text, index)


def _from_url(url: str, index: int) -> PreparedReference:
    shown = _display_url(url)
    try:
        check_reference_url(url)
    except InvalidRequestError as exc:
        hint = " (to use a local file whose name contains ':', pass a pathlib.Path)" if "scheme" in exc.message else ""
        raise InvalidRequestError(_FIELD, f"references[{index}] (URL {shown}): {exc.message}{hint}") from None
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    name = _UNSAFE_NAME_CHARS.sub("_", name).strip(" .")[:100] or f"reference-{index + 1}"
    return PreparedReference("url", url, None, name, "", _sha256(url.encode()), f"URL {shown}")


def _display_url(url: str) -> str:
    """The URL as shown in messages and kept in the journal: no query string or
    credentials (see `public_url`), at most 80 characters."""
    shown = public_url(url.strip())
    return shown if len(shown) <= 80 else shown[:79] + "…"


def _from_path(path: Path, shown: str, index: int) -> PreparedReference:
    label = _label(index, shown)
    try:
        info = path.stat()
    except FileNotFoundError:
        where = "" if path.is_absolute() else f" (looked in {Path.cwd()}: a kernel runs in its notebook's folder)"
        raise InvalidRequestError(_FIELD, f"references[{index}]: file not found: {shown}{where}") from None
    except OSError as exc:
        raise InvalidRequestError(_FIELD, f"{label} cannot be read ({exc.strerror or exc})") from None
    if path.is_dir():
        raise InvalidRequestError(_FIELD, f"{label} is a directory, not a file")
    if not path.is_file():
        raise InvalidRequestError(_FIELD, f"{label} is not a regular file")
    if info.st_size > MAX_REFERENCE_BYTES:
        raise _too_big(label, f"{info.st_size:,}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidRequestError(_FIELD, f"{label} cannot be read ({exc.strerror or exc})") from None
    mime, fmt, width, height = checked(data, label)
    return _file_reference(
        data, mime, path.name, index, f"file {shown} ({_human_size(len(data))} {fmt} {width}x{height})"
    )


def _from_file_object(fileobj: Any, index: int) -> PreparedReference:
    name = getattr(fileobj, "name", None)
    name = os.path.basename(os.fsdecode(name)) if isinstance(name, (str, bytes)) else ""
    label = _label(index, name or "file object")
    text_mode = f"{label} is a text-mode file; open it in binary mode, e.g. open(path, 'rb')"
    if isinstance(fileobj, io.TextIOBase):
        raise InvalidRequestError(_FIELD, text_mode)
    chunks: list[bytes] = []
    total = 0
    while total <= MAX_REFERENCE_BYTES:  # read at most one byte past the cap
        try:
            chunk = fileobj.read(MAX_REFERENCE_BYTES + 1 - total)
        except Exception as exc:  # any object may stand here: its read() is its own code
            raise InvalidRequestError(_FIELD, f"{label} cannot be read ({type(exc).__name__}: {exc})") from None
        if isinstance(chunk, str):
            raise InvalidRequestError(_FIELD, text_mode)
        if chunk is None:
            raise InvalidRequestError(_FIELD, f"{label} has no data ready (a non-blocking stream?)")
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise InvalidRequestError(_FIELD, f"{label}: read() returned {type(chunk).__name__}, not bytes")
        if not chunk:
            break
        chunks.append(bytes(chunk))
        total += len(chunk)
    data = b"".join(chunks)
    if len(data) > MAX_REFERENCE_BYTES:
        raise _too_big(label, f"more than {MAX_REFERENCE_BYTES:,}")
    if not data and _position(fileobj):
        raise InvalidRequestError(_FIELD, f"{label} is empty (0 bytes left to read; was it already read to the end?)")
    mime, fmt, width, height = checked(data, label)
    what = f"file object {name}" if name else "file object"
    return _file_reference(data, mime, name, index, f"{what} ({_human_size(len(data))} {fmt} {width}x{height})")


def _position(fileobj: Any) -> int:
    try:
        return int(fileobj.tell())
    except Exception:
        return 0


# In-memory images: PIL, NumPy, matplotlib ----------------------------------------


def _from_pil(image: Image.Image, index: int) -> PreparedReference:
    width, height = image.size
    what = f"PIL image {image.mode} {width}x{height}"
    label = _label(index, what)
    check_pixel_count(label, width, height)
    filename = os.path.basename(_image_path(image))
    original = _original_bytes(image)
    if original is not None:
        try:
            mime, fmt, _, _ = checked(original, label)
        except InvalidRequestError:
            pass  # e.g. over 30 MiB: a fresh lossless encoding may fit
        else:
            source = f"{what} from {filename or 'a file'}, unchanged → original {fmt} ({_human_size(len(original))})"
            return _file_reference(original, mime, filename, index, source)
    return _encoded_reference(image, label, what, filename, index)


def _from_array(array: Any, index: int) -> PreparedReference:
    image = _image_from_array(array, index)
    what = f"NumPy array {array.dtype} {'x'.join(str(n) for n in array.shape)}"
    return _encoded_reference(image, _label(index, what), what, "", index)


def _from_figure(figure: Any, index: int) -> PreparedReference:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi="figure", bbox_inches="tight")
    data = buffer.getvalue()
    label = _label(index, "matplotlib figure")
    mime, fmt, width, height = checked(data, label)
    return _file_reference(
        data,
        mime,
        f"figure-{index + 1}",
        index,
        f"matplotlib figure → {fmt} {width}x{height} ({_human_size(len(data))})",
    )


def _encoded_reference(image: Image.Image, label: str, what: str, filename: str, index: int) -> PreparedReference:
    data, mime = encode_image(image)
    fmt = SHOWN_FORMAT[FORMAT_OF_MIME[mime]]
    if len(data) > MAX_REFERENCE_BYTES:
        raise InvalidRequestError(
            _FIELD,
            f"{label}: losslessly encoded it is still {len(data):,} bytes ({fmt}); at most "
            f"{MAX_REFERENCE_BYTES:,} bytes (30 MiB) are allowed per file. Downscale it first "
            "(e.g. image.thumbnail((4096, 4096))) or save it as a JPEG file and pass that",
        )
    mime, fmt, width, height = checked(data, label)
    return _file_reference(data, mime, filename, index, f"{what} → {fmt} {width}x{height} ({_human_size(len(data))})")


def _image_from_array(array: Any, index: int) -> Image.Image:
    """A PIL image holding exactly the array's values (floats in [0, 1] become 0..255)."""
    import numpy as np
    from PIL import Image

    a = np.asarray(array)
    shape = "x".join(str(n) for n in a.shape) or "scalar"
    label = _label(index, f"NumPy array {a.dtype} {shape}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise InvalidRequestError(
            _FIELD, f"{label}: shape {shape} is not an image; use HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA)"
        )
    if a.size == 0:
        raise InvalidRequestError(_FIELD, f"{label} has no pixels")
    check_pixel_count(label, a.shape[1], a.shape[0])
    kind = a.dtype.kind
    if kind == "b" or (kind == "u" and a.dtype.itemsize == 2):
        if a.ndim != 2:
            raise InvalidRequestError(_FIELD, f"{label}: {a.dtype} arrays must be HxW (one channel)")
        if kind == "u":
            a = a.astype("<u2")  # -> I;16
    elif kind == "f":
        low, high = float(np.min(a)), float(np.max(a))
        if not (low >= 0.0 and high <= 1.0):  # also refuses NaN
            raise InvalidRequestError(
                _FIELD,
                f"{label}: float values must lie in the range [0, 1] (they are scaled by 255); "
                f"found min {low:g}, max {high:g}",
            )
        a = np.rint(a * 255.0).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise InvalidRequestError(
            _FIELD,
            f"{label}: dtype {a.dtype} is not supported; use uint8 (0..255), uint16 (HxW), bool (HxW) "
            "or float in [0, 1], e.g. array.astype(np.uint8)",
        )
    return Image.fromarray(np.ascontiguousarray(a))  # bool -> "1", uint16 -> "I;16"


# A PIL image that is still its file ---------------------------------------------------

_ORIGINAL_FORMATS = ("PNG", "JPEG", "MPO", "WEBP")  # MPO: a JPEG with extra pictures (phones)


def _original_bytes(image: Image.Image) -> bytes | None:
    """The file `image` was opened from, if its pixels are provably still that file's.

    Not loaded yet: the pixels will come from the open file, so its bytes are
    the image (the header is checked to be the same).  Loaded: the file is
    decoded afresh and must give the same mode, size, pixels, palette and
    transparency; anything changed in place (paste, draw, putpalette,
    thumbnail, draft...) fails that and the image is re-encoded.
    """
    fmt = getattr(image, "format", None)
    if fmt not in _ORIGINAL_FORMATS:
        return None
    if fmt == "MPO":
        if image.tell() != 0:
            return None
    elif getattr(image, "is_animated", False):
        return None  # the file would be refused as animated; send the current frame
    path = _image_path(image)
    if getattr(image, "tile", None):  # not loaded yet
        data = _read_open_file(getattr(image, "fp", None)) or _read_limited(path)
        if data is None:
            return None
        fresh = _try_open(data)
        if fresh is None:
            return None
        with fresh:
            same = (fresh.format, fresh.size, fresh.mode) == (fmt, image.size, image.mode)
        return data if same else None
    data = _read_limited(path)
    if data is None:
        return None
    fresh = _try_open(data)
    if fresh is None:
        return None
    with fresh:
        try:
            fresh.load()
        except Exception:
            return None
        same = (
            fresh.mode == image.mode
            and fresh.size == image.size
            and fresh.info.get("transparency") == image.info.get("transparency")
            and (image.mode not in ("P", "PA") or fresh.getpalette() == image.getpalette())
            and fresh.tobytes() == image.tobytes()
        )
    return data if same else None


def _image_path(image: Image.Image) -> str:
    """The path Pillow opened the image from, or ""."""
    path = getattr(image, "filename", "") or ""
    return os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else ""


def _read_open_file(fp: Any) -> bytes | None:
    if fp is None or getattr(fp, "closed", False):
        return None
    try:
        position = fp.tell()
        fp.seek(0)
        try:
            data = fp.read(MAX_REFERENCE_BYTES + 1)
        finally:
            fp.seek(position)
    except Exception:
        return None
    return bytes(data) if isinstance(data, (bytes, bytearray)) and data else None


def _read_limited(path: str) -> bytes | None:
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_REFERENCE_BYTES + 1)
    except OSError:
        return None
    return data or None


def _try_open(data: bytes) -> Image.Image | None:
    from PIL import Image

    try:
        return Image.open(io.BytesIO(data), formats=("PNG", "JPEG", "WEBP"))  # JPEG also opens MPO
    except Exception:
        return None


# Building the result --------------------------------------------------------------------


def _file_reference(data: bytes, mime: str, name: str, index: int | None, source: str) -> PreparedReference:
    return PreparedReference("file", None, data, _filename(name, mime, index), mime, _sha256(data), source)


def _filename(name: str, mime: str, index: int | None) -> str:
    """A safe base name whose extension matches the true type ("logo.png" holding a JPEG -> "logo.jpg")."""
    stem, ext = os.path.splitext(os.path.basename(name))
    stem = _UNSAFE_NAME_CHARS.sub("_", stem).strip(" .")[:100]
    if not stem:
        stem = f"reference-{index + 1}" if index is not None else "reference"
    extensions = _EXTENSIONS[mime]
    return stem + (ext if ext.lower() in extensions else extensions[0])


def _label(index: int | None, what: str) -> str:
    return f"references[{index}] ({what})" if index is not None else f"reference ({what})"


def _too_big(label: str, size: str) -> InvalidRequestError:
    return InvalidRequestError(
        _FIELD, f"{label} is {size} bytes; at most {MAX_REFERENCE_BYTES:,} bytes (30 MiB) are allowed per file"
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _human_size(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    if size < 1_000_000:
        return f"{size / 1000:.1f} KB"
    return f"{size / 1_000_000:.1f} MB"
