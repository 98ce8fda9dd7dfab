"""Results as people hand them over, and the journal they belong to: what
`xj.gallery`, `xj.rank` and `xj.scores` take.

    journal = journal_for(items, output_dir)     # output_dir's, else the one beside the files
    results = as_results(items, journal)         # a ResultList, results, journal ids or a DataFrame
    as_results(items, journal, strict=True, unique=True)   # judging: each once, an unknown id refused
    items = listed(items)                        # read a generator once, before both

A DataFrame from `to_pandas()` has a row per image, so each result comes once
(by its `journal_id`); a failed item, an error in a `ResultList`, is left out.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError
from ..store.journal import JOURNAL_NAME, Journal
from ..store.outputs import OutputStore
from .results import GenerationResult, ResultList

_LOOKED_AT = 20  # items whose files are looked at to find their journal


def journal_for(items: Any, output_dir: str | os.PathLike[str] | None = None) -> Journal:
    """The journal of `output_dir` if given, else the one beside the items' files
    (a client with its own `output_dir` keeps both there), else the default
    output folder's."""
    if output_dir is not None:
        return OutputStore(output_dir).journal
    for path in _some_paths(items):
        if "://" in str(path):
            continue
        for folder in list(Path(path).parents)[:3]:
            if (folder / JOURNAL_NAME).is_file():
                return OutputStore(folder).journal
    return OutputStore(None).journal


def as_results(
    items: Any, journal: Journal, *, strict: bool = False, unique: bool = False
) -> ResultList[GenerationResult]:
    """`items` as results, in the order given.  Journal ids (and a DataFrame's
    rows, each result once) are read from `journal`; one it does not know is
    left out, or with `strict` refused naming it, as is a result without a
    journal id.  `unique`: each journal id once (what judging needs)."""
    if _is_frame(items):
        if "journal_id" not in items.columns:
            raise InvalidRequestError("items", "a DataFrame needs the journal_id column that to_pandas() writes")
        items = list(dict.fromkeys(v for v in items["journal_id"].tolist() if isinstance(v, str) and v))
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise InvalidRequestError("items", f"give results, a ResultList, journal ids or a DataFrame, not {type(items).__name__}")
    given = [item for item in items if not isinstance(item, BaseException)]
    wanted = list(dict.fromkeys(item for item in given if isinstance(item, str)))
    entries = journal.entries_by_id(wanted) if wanted else {}
    out: list[GenerationResult] = []
    seen: set[str] = set()
    for item in given:
        if isinstance(item, str):
            entry = entries.get(item)
            if entry is None or not entry.paths:
                if strict:
                    raise InvalidRequestError("items", f"{item!r} is not a saved result in {journal.path}")
                continue
            item = GenerationResult.from_entry(entry)
        if not isinstance(item, GenerationResult):
            raise InvalidRequestError("items", f"give results, journal ids or a DataFrame, not {type(item).__name__}")
        if item.journal_id is None and strict:
            raise InvalidRequestError("items", f"{item!r} is not a journaled result (it needs a journal_id)")
        if unique and item.journal_id is not None:
            if item.journal_id in seen:
                continue
            seen.add(item.journal_id)
        out.append(item)
    return ResultList(out)


def listed(items: Any) -> Any:
    """`items` once, so that it can be read twice (a generator would not): a
    DataFrame as it is, anything else as a list."""
    return items if _is_frame(items) or not isinstance(items, Iterable) or isinstance(items, (str, bytes)) else list(items)


def _is_frame(items: Any) -> bool:
    return hasattr(items, "columns") and hasattr(items, "iterrows")


def _some_paths(items: Any) -> list[Any]:
    if _is_frame(items):
        return [p for p in items["path"].tolist()[:_LOOKED_AT] if isinstance(p, str)] if "path" in items.columns else []
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        return []
    return [item.paths[0] for item in list(items)[:_LOOKED_AT] if isinstance(item, GenerationResult) and item.paths]
