"""The recorded pairwise choices as a preference data set, and the scores they give.

    prefs = preferences()                 # the output folder's choices
    prefs.to_pandas()                     # prompt, chosen, rejected, chosen_id, rejected_id, tie, decided_at
    prefs.to_parquet("prefs.parquet")     # chosen and rejected as Hugging Face `Image` features (DPO-style)
    scores(results)                       # Bradley–Terry score per result, best first

One row per decided pair: when a pair was judged more than once (another
ranker, or again from code) its last decision counts; skips are left out.  A
tie keeps the left result as `chosen`, with `tie` True.  `decided_at` is Unix
time, as `created_at` is in `ResultList.to_pandas()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError
from ..store.entries import stored_path
from ..store.journal import Journal
from ..store.outputs import OutputStore
from ..store.preferences import latest_decisions, read_choices
from .given_results import as_results, journal_for, listed
from .scores import score_table

COLUMNS = ("prompt", "chosen", "rejected", "chosen_id", "rejected_id", "tie", "decided_at")
_TYPES = {"prompt": "string", "chosen_id": "string", "rejected_id": "string", "tie": "bool_", "decided_at": "float64"}
ROW_GROUP_BYTES = 32 * 1024 * 1024  # image bytes held in memory before a row group is written


class Preferences:
    """The decided pairs of one output folder's journal."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    @property
    def folder(self) -> Path:
        """The output folder whose journal holds these choices."""
        return self.journal.path.parent

    def rows(self) -> Iterator[dict[str, Any]]:
        """One dict per decided pair, in the order of the decisions; a pair whose
        result is no longer in the journal is left out."""
        decisions = latest_decisions(read_choices(self.journal))
        entries = self.journal.entries_by_id(sorted({i for c in decisions for i in c.pair}))
        for c in decisions:
            chosen_id, rejected_id = (c.right_id, c.left_id) if c.choice == "right" else (c.left_id, c.right_id)
            chosen, rejected = entries.get(chosen_id), entries.get(rejected_id)
            if chosen is None or rejected is None or not chosen.paths or not rejected.paths:
                continue
            yield {
                "prompt": chosen.prompt, "chosen": str(chosen.paths[0]), "rejected": str(rejected.paths[0]),
                "chosen_id": chosen_id, "rejected_id": rejected_id, "tie": c.choice == "tie",
                "decided_at": c.decided_at,
            }

    def __len__(self) -> int:
        return sum(1 for _ in self.rows())

    def __repr__(self) -> str:
        return f"<Preferences: {len(self)} decided pairs in {self.journal.path}>"

    def to_pandas(self) -> Any:
        """A DataFrame, one row per decided pair (`chosen` and `rejected` are file paths).  Needs pandas."""
        pandas = _require("pandas")
        return pandas.DataFrame(list(self.rows()), columns=list(COLUMNS))

    def to_parquet(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """One Parquet file of the same rows, `chosen` and `rejected` holding the
        image bytes (Hugging Face `Image` features): `datasets.load_dataset(
        "parquet", data_files=path)` reads it as a DPO-style set.  An existing
        file is refused unless `overwrite=True`; it is replaced only once the
        new one is whole."""
        pyarrow, parquet = _require("pyarrow"), _require("pyarrow.parquet")
        target = Path(path)
        if target.is_dir():
            raise InvalidRequestError("path", f"{target} is a folder; give a file name")
        if target.exists() and not overwrite:
            raise InvalidRequestError("path", f"{target} exists; pass overwrite=True to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        schema = _schema(pyarrow)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with parquet.ParquetWriter(temporary, schema, compression={n: "NONE" if n in ("chosen", "rejected")
                                                                        else "SNAPPY" for n in COLUMNS}) as writer:
                written = 0
                for group in _groups(self.rows()):
                    writer.write_table(pyarrow.Table.from_pylist(group, schema=schema))
                    written += len(group)
                if not written:  # still a file with the schema
                    writer.write_table(pyarrow.Table.from_pylist([], schema=schema))
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        os.replace(temporary, target)
        return target


def _groups(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Rows with their images read, in groups of about ROW_GROUP_BYTES of images."""
    group: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        row = {**row, "chosen": _image(row["chosen"]), "rejected": _image(row["rejected"])}
        group.append(row)
        size += len(row["chosen"]["bytes"]) + len(row["rejected"]["bytes"])
        if size >= ROW_GROUP_BYTES:
            yield group
            group, size = [], 0
    if group:
        yield group


def _image(path: str) -> dict[str, Any]:
    stored = stored_path(path)
    return {"bytes": stored.read_bytes(), "path": stored.name}


def _schema(pyarrow: Any) -> Any:
    image = pyarrow.struct([("bytes", pyarrow.binary()), ("path", pyarrow.string())])
    fields, features = [], {}
    for name in COLUMNS:
        if name in ("chosen", "rejected"):
            fields.append(pyarrow.field(name, image))
            features[name] = {"_type": "Image"}
        else:
            fields.append(pyarrow.field(name, getattr(pyarrow, _TYPES[name])()))
            features[name] = {"dtype": _TYPES[name].rstrip("_"), "_type": "Value"}
    metadata = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    return pyarrow.schema(fields, metadata=metadata)


def _require(module: str) -> Any:
    from .._extras import import_optional

    return import_optional(module, "data", "xj.preferences() and xj.scores()")


# The functions the package root calls -------------------------------------------------------


def preferences(output_dir: str | os.PathLike[str] | None = None) -> Preferences:
    """The decided pairs recorded in `output_dir`'s journal (the default folder when None)."""
    return Preferences(OutputStore(output_dir).journal)


def scores(items: Any = None, output_dir: str | os.PathLike[str] | None = None) -> Any:
    """A DataFrame indexed by journal id, best first: score (Bradley–Terry log
    strength, 0 for a result never compared), wins, losses, ties, comparisons.
    `items` (results, journal ids, or a DataFrame with `journal_id`) limits it
    to those results and to the choices between them."""
    given = None if items is None else listed(items)
    journal = journal_for(() if given is None else given, output_dir)
    ids = None if given is None else [r.journal_id for r in as_results(given, journal, strict=True, unique=True) if r.journal_id]
    return score_table(journal, ids)
