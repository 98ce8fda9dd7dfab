"""Saved files on remote storage (any fsspec URL: `s3://`, `gs://`, `memory://`).

Local output folders use `pathlib.Path` throughout; a result saved to remote
storage carries `upath.UPath` objects instead, which answer the same calls we
make (`exists`, `name`, `suffix`, `read_bytes`, `open`).  Only opening an
image differs (Pillow takes a path or a file, not a UPath): `open_image`.
Needs the `[storage]` extra (fsspec and universal_pathlib), imported here only.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._extras import require
from ..errors import InvalidRequestError

if TYPE_CHECKING:
    from PIL import Image


def check_remote(url: str) -> None:
    """Refuse an output URL that fsspec cannot write to, before anything is sent."""
    require("storage", f"output_dir={url!r} (remote storage)")
    import fsspec

    protocol = url.partition("://")[0]
    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as exc:
        raise InvalidRequestError(
            "output_dir", f"{url!r}: fsspec cannot write to {protocol}:// here ({exc})"
        ) from None


def remote_path(url: str) -> Path:
    """A remote file as a path-like object (typed as `Path`: it duck-types the
    part of `Path` that results use)."""
    require("storage", "results saved to remote storage")
    from upath import UPath

    return UPath(url)  # type: ignore[return-value]


def write_remote(base_url: str, name: str, data: bytes, meta: bytes) -> Path:
    """Write an image and its JSON side file under `base_url`; the image last, so
    an image that exists always has its side file (each object is written whole)."""
    import fsspec

    fs, base = fsspec.core.url_to_fs(base_url)
    stem = name.rsplit(".", 1)[0]
    fs.makedirs(base, exist_ok=True)
    fs.pipe_file(f"{base}/{stem}.json", meta)
    fs.pipe_file(f"{base}/{name}", data)
    return remote_path(f"{base_url}/{name}")


def is_local(path: object) -> bool:
    return isinstance(path, (str, os.PathLike))


def open_image(path: Any) -> Image.Image:
    """`Image.open` for a local path or a remote one (read whole: object stores
    serve ranges slowly, and a result is read to be shown or used anyway)."""
    from PIL import Image

    if is_local(path):
        return Image.open(path)
    return Image.open(io.BytesIO(path.read_bytes()))
