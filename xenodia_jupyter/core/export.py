"""Results out of the notebook: a DataFrame, and a Parquet dataset that
Hugging Face `datasets` reads with its images.

    results.to_pandas()                               # one row per image; failed items keep a row
    results.to_parquet("ideas.parquet")               # image column = {bytes, path}, an `Image` feature
    results.to_parquet("shards/", rows_per_file=1000) # numbered shards, one shard's images in memory at a time

pandas and pyarrow are optional (`pip install "xenodia-jupyter[data]"`) and
imported only here, when called.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from ..store.entries import stored_path
from ..wire.protocol import public_url


class Exported(Protocol):
    """What an export reads of a result (a `GenerationResult`); results call
    this module, never the reverse."""

    prompt: str
    aspect_ratio: str | None
    resolution: str | None
    paths: list[Path]
    urls: list[str]
    task_id: str | None
    request_id: str | None
    cost_usd: float | None
    created_at: float | None
    cached: bool
    rating: int
    journal_id: str | None
    parent: str | None


COLUMNS = (
    "prompt", "aspect_ratio", "resolution", "path", "url", "width", "height", "task_id", "request_id",
    "job", "index", "cost_usd", "created_at", "cached", "rating", "error", "journal_id", "parent",
)
_TYPES = {  # pyarrow type names; the Hugging Face feature of each column follows from it
    "prompt": "string", "aspect_ratio": "string", "resolution": "string", "path": "string", "url": "string",
    "width": "int64", "height": "int64", "task_id": "string", "request_id": "string", "job": "string",
    "index": "int64", "cost_usd": "float64", "created_at": "float64", "cached": "bool_", "rating": "int64",
    "error": "string", "journal_id": "string", "parent": "string",
}


def rows(
    items: Iterable[Exported | BaseException], job: str | None = None, prompts: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """One row per image; a failed item keeps one row with its `error` (and
    its prompt, from `prompts`, so the table says which prompt failed)."""
    for index, item in enumerate(items):
        if isinstance(item, BaseException) or not hasattr(item, "paths"):
            prompt = prompts[index] if prompts is not None and index < len(prompts) else None
            yield {**dict.fromkeys(COLUMNS), "prompt": prompt, "job": job, "index": index, "cached": False,
                   "error": f"{type(item).__name__}: {item}"}
            continue
        for number, path in enumerate(item.paths):
            width, height = _size(path)
            yield {
                "prompt": item.prompt, "aspect_ratio": item.aspect_ratio, "resolution": item.resolution,
                "path": str(path), "url": public_url(item.urls[number]) if number < len(item.urls) else None,
                "width": width, "height": height, "task_id": item.task_id, "request_id": item.request_id,
                "job": job, "index": index, "cost_usd": item.cost_usd if number == 0 else 0.0,
                "created_at": item.created_at, "cached": item.cached, "rating": item.rating,
                "error": None, "journal_id": item.journal_id, "parent": item.parent,
            }


ROW_GROUP_BYTES = 32 * 1024 * 1024  # image bytes held before a row group is written
# PNG bytes neither repeat nor compress, and min/max statistics of them would be
# copies of whole images held by the writer: dictionaries, compression and
# statistics are for the other columns only.
COMPRESSION = {"image.bytes": "NONE", "image.path": "SNAPPY", **{name: "SNAPPY" for name in COLUMNS}}


def to_pandas(items: Iterable[Exported | BaseException], job: str | None = None, prompts: list[str] | None = None) -> Any:
    pandas = _require("pandas")
    return pandas.DataFrame(list(rows(items, job, prompts)), columns=list(COLUMNS))


def to_parquet(
    items: Iterable[Exported | BaseException],
    path: str | Path,
    *,
    embed_images: bool = True,
    rows_per_file: int | None = None,
    job: str | None = None,
    overwrite: bool = False,
    prompts: list[str] | None = None,
) -> list[Path]:
    """Write the rows to one Parquet file, or to `path/part-00000.parquet`...
    shards of `rows_per_file` rows; returns the files written.

    An existing export is refused unless `overwrite=True`.  Every file is
    written under a temporary name beside its target and renamed only once
    all of them are whole: a full disk or an error leaves the earlier export
    as it was, never a truncated one."""
    from ..errors import InvalidRequestError

    pyarrow = _require("pyarrow")
    parquet = _require("pyarrow.parquet")
    if rows_per_file is not None and rows_per_file < 1:
        raise InvalidRequestError("rows_per_file", f"must be at least 1, not {rows_per_file}")
    target = Path(path)
    existing = sorted(target.glob("part-*.parquet")) if rows_per_file is not None and target.is_dir() else []
    if rows_per_file is None and target.is_dir():
        raise InvalidRequestError("path", f"{target} is a folder; give a file name, or rows_per_file= to write shards into it")
    if not overwrite and (existing or (rows_per_file is None and target.exists())):
        raise InvalidRequestError("path", f"{existing[0] if existing else target} exists; pass overwrite=True to replace it")
    schema = _schema(pyarrow)
    final: list[Path] = []
    written: list[Path] = []  # the temporary files, in order
    writer: Any = None
    group: list[dict[str, Any]] = []
    group_bytes = in_file = 0

    def write_group() -> None:
        nonlocal group_bytes
        if group:
            writer.write_table(_table(pyarrow, group, schema))
            group.clear()
            group_bytes = 0

    def open_file() -> Any:
        out = target if rows_per_file is None else target / f"part-{len(written):05d}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        final.append(out)
        written.append(out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.part"))
        return parquet.ParquetWriter(
            written[-1], schema, use_dictionary=list(COLUMNS), compression=COMPRESSION, write_statistics=list(COLUMNS)
        )

    try:
        for row in rows(items, job, prompts):
            if writer is None:
                writer, in_file = open_file(), 0
            with_image = _with_image(row, embed_images)
            group.append(with_image)
            group_bytes += len((with_image["image"] or {}).get("bytes") or b"")
            in_file += 1
            if group_bytes >= ROW_GROUP_BYTES:  # images are large: memory holds one row group, not a file
                write_group()
            if rows_per_file is not None and in_file >= rows_per_file:
                write_group()
                writer.close()
                writer = None
        if writer is None and not written:
            writer = open_file()  # no rows: still one (empty) file with the schema
        if writer is not None:
            write_group()
            writer.close()
            writer = None
    except BaseException:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        for temporary in written:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, out in zip(written, final, strict=True):
        os.replace(temporary, out)
    for stale in set(existing) - set(final):  # an overwritten set of shards that was longer
        stale.unlink(missing_ok=True)
    return final


def _table(pyarrow: Any, group: list[dict[str, Any]], schema: Any) -> Any:
    """One row group as a table.  The image bytes go into one buffer, copied
    once (`Table.from_pylist` grows a builder by doubling: several copies of
    images tens of MB each)."""
    images = [row["image"] for row in group]
    blobs = [image.get("bytes") or b"" if image else b"" for image in images]
    offsets = array.array("i", [0])
    for blob in blobs:
        offsets.append(offsets[-1] + len(blob))
    data = pyarrow.py_buffer(blobs[0] if len(blobs) == 1 else b"".join(blobs))
    del blobs
    present = [bool(image) and image.get("bytes") is not None for image in images]  # embed_images=False: null
    validity = None if all(present) else pyarrow.array(present, pyarrow.bool_()).buffers()[1]
    image_bytes = pyarrow.BinaryArray.from_buffers(
        pyarrow.binary(), len(group), [validity, pyarrow.py_buffer(offsets.tobytes()), data]
    )
    paths = pyarrow.array([image.get("path") if image else None for image in images], pyarrow.string())
    missing = pyarrow.array([image is None for image in images], pyarrow.bool_())
    image_column = pyarrow.StructArray.from_arrays([image_bytes, paths], names=["bytes", "path"], mask=missing)
    rest = pyarrow.Table.from_pylist([{k: v for k, v in row.items() if k != "image"} for row in group],
                                     schema=schema.remove(0))
    return pyarrow.Table.from_arrays([image_column, *rest.columns], schema=schema)


def _with_image(row: dict[str, Any], embed: bool) -> dict[str, Any]:
    path = row["path"]
    if not path:
        return {"image": None, **row}  # a failed item: its row, no image
    stored = stored_path(path)
    return {"image": {"bytes": stored.read_bytes() if embed else None, "path": stored.name}, **row}


def _schema(pyarrow: Any) -> Any:
    fields = [pyarrow.field("image", pyarrow.struct([("bytes", pyarrow.binary()), ("path", pyarrow.string())]))]
    fields += [pyarrow.field(name, getattr(pyarrow, kind)()) for name, kind in _TYPES.items()]
    features = {"image": {"_type": "Image"}}
    features.update({name: {"dtype": kind.rstrip("_"), "_type": "Value"} for name, kind in _TYPES.items()})
    metadata = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    return pyarrow.schema(fields, metadata=metadata)


def _size(path: Path) -> tuple[int | None, int | None]:
    from ..store.remote import open_image

    try:
        with open_image(path) as image:  # the header only (of a local file)
            return image.size
    except OSError:
        return None, None


def _require(module: str) -> Any:
    from .._extras import import_optional

    return import_optional(module, "data", "ResultList.to_pandas() and to_parquet()")


def thumbnail_column(frame: Any, *, column: str = "path", size: int = 64) -> Any:
    """A `Styler` of `frame` whose `column` of image paths shows as small inline
    thumbnails (a few KB each: a 100-row table adds well under 300 KB to the
    notebook).  The DataFrame itself is not changed."""
    import base64
    import html

    from ..images.thumbnails import jpeg_thumbnail

    def image(path: Any) -> str:
        if not isinstance(path, str) or not Path(path).exists():
            return ""
        data = base64.b64encode(jpeg_thumbnail(path, size)).decode()
        return f'<img src="data:image/jpeg;base64,{data}" title="{html.escape(path, quote=True)}"/>'

    # Every other cell is text (a prompt, a server's error message): escaped, never markup.
    others = [c for c in frame.columns if c != column]
    return frame.style.format(escape="html", subset=others).format(image, subset=[column]).format_index(escape="html")
