"""How an image was made, kept inside the image.

Every saved PNG carries an `iTXt` chunk with the keyword `xenodia` holding
JSON (prompt, model, parameters, reference digests, task and request id,
cost, time, package version).  It is spliced in before `IEND`, so the pixel
data is not touched and nothing is re-encoded: `Image.open(path).text["xenodia"]`
reads it.  JPEG and WebP results keep only the JSON side file beside them.

    xj.provenance("somewhere/copied.png")   # from the chunk, else the side file
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

KEYWORD = b"xenodia"
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def itxt_chunk(record: dict[str, Any]) -> bytes:
    """An uncompressed iTXt chunk: keyword, flags, empty language and translation, UTF-8 text."""
    text = json.dumps(record, ensure_ascii=False, default=str).encode("utf-8")
    data = KEYWORD + b"\x00" + b"\x00\x00" + b"\x00" + b"\x00" + text
    return struct.pack(">I", len(data)) + b"iTXt" + data + struct.pack(">I", zlib.crc32(b"iTXt" + data))


def with_provenance(png: bytes, record: dict[str, Any]) -> bytes:
    """`png` with the chunk spliced in before its IEND (the bytes of every other
    chunk unchanged).  Data that does not end in a plain IEND is returned as it is."""
    end = png.rfind(_IEND)
    if end < 8 or not png.startswith(b"\x89PNG\r\n\x1a\n"):
        return png
    return png[:end] + itxt_chunk(record) + png[end:]


def provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance of an image file: the PNG's `xenodia` chunk, else the JSON
    side file beside it.  Raises `FileNotFoundError` when neither exists."""
    path = Path(path)
    if path.suffix.lower() == ".png" and path.exists():
        from PIL import Image

        with Image.open(path) as image:
            text = getattr(image, "text", {}).get(KEYWORD.decode())
        if text:
            loaded = json.loads(text)
            if isinstance(loaded, dict):
                return loaded
    side = path.with_suffix(".json")
    if side.exists():
        loaded = json.loads(side.read_text())
        if isinstance(loaded, dict):
            return loaded
    raise FileNotFoundError(f"no xenodia provenance in {path} and no side file {side.name} beside it")


def provenance_in_png(data: bytes) -> dict[str, Any] | None:
    """The `xenodia` record in PNG bytes (a dropped file), or None: the chunks are
    walked, nothing is decoded."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    at = 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        body = data[at + 8 : at + 8 + length]
        if kind == b"iTXt" and body.startswith(KEYWORD + b"\x00\x00"):  # uncompressed, as we write it
            text = body[len(KEYWORD) + 3 :].split(b"\x00", 2)  # language, translated keyword, text
            try:
                loaded = json.loads(text[2].decode("utf-8")) if len(text) == 3 else None
            except ValueError:
                return None
            return loaded if isinstance(loaded, dict) else None
        if kind == b"IEND":
            return None
        at += 12 + length
    return None
