"""What a gallery shows: its input turned into results, the search box's
matching, and the small record each card's state holds.

    journal = journal_for(items, output_dir)  # the journal the items were written to
    results = as_results(items, journal)   # a ResultList, a list, a DataFrame, or journal ids
    ordered(results, "newest", journal)    # the gallery's order, as indices into `results`
    Query('"ink wash" fox').matches(text)  # every word, and each quoted phrase, case-insensitive
    card_record(index, result, parent_prompt="", parent_index=-1)

A card record is text only (no picture: thumbnails travel by message on
request), about 200 bytes, so a page of cards costs little in a saved notebook.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.results import GenerationResult, ResultList
from ...store.journal import JOURNAL_NAME
from ...store.outputs import OutputStore
from ..markup import short

if TYPE_CHECKING:
    from ...store.journal import Journal

CARD_PROMPT_CHARS = 80  # a card shows two lines of the prompt; the lightbox shows all of it
PARENT_PROMPT_CHARS = 32  # "remix of …" fits one line of a card


def as_results(items: Any, journal: Journal) -> ResultList[GenerationResult]:
    """The results to show, in the order given: from a `ResultList` or any iterable
    of results (failed items, which are errors, are left out), from a DataFrame
    with a `journal_id` column (`to_pandas()`: one row per image, so each result
    once), or from journal ids.  Rows and ids the journal does not know are left out."""
    if _is_frame(items):
        if "journal_id" not in items.columns:
            raise ValueError("a DataFrame for the gallery needs the journal_id column that to_pandas() writes")
        return _from_ids([value for value in items["journal_id"].tolist() if _present(value)], journal)
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise TypeError(f"the gallery takes results, a ResultList or a DataFrame, not {type(items).__name__}")
    listed = list(items)
    if listed and all(isinstance(item, str) for item in listed):
        return _from_ids(listed, journal)
    bad = [item for item in listed if not isinstance(item, (GenerationResult, BaseException))]
    if bad:
        raise TypeError(f"the gallery takes results, not {type(bad[0]).__name__}")
    return ResultList(item for item in listed if isinstance(item, GenerationResult))


def _is_frame(items: Any) -> bool:
    return hasattr(items, "columns") and hasattr(items, "iterrows")


def _present(value: Any) -> bool:
    return isinstance(value, str) and bool(value)  # a failed item's row has None (or NaN) there


def _from_ids(ids: Sequence[str], journal: Journal) -> ResultList[GenerationResult]:
    unique = list(dict.fromkeys(ids))
    entries = journal.entries_by_id(unique)
    return ResultList(GenerationResult.from_entry(entries[i]) for i in unique if i in entries and entries[i].paths)


def journal_for(items: Any, output_dir: str | Path | None) -> Journal:
    """The journal that stars and rejections go to: `output_dir`'s if given, else the
    one beside the items' files (results made with `Client(output_dir=...)` keep
    theirs there), else the default output folder's."""
    if output_dir is not None:
        return OutputStore(output_dir).journal
    for path in _some_paths(items):
        for folder in list(Path(path).parents)[:3]:
            if (folder / JOURNAL_NAME).is_file():
                return OutputStore(folder).journal
    return OutputStore(None).journal


def _some_paths(items: Any) -> list[Any]:
    if _is_frame(items):
        return [p for p in items["path"].tolist()[:20] if isinstance(p, str)] if "path" in items.columns else []
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        return []
    return [item.paths[0] for item in list(items)[:20] if isinstance(item, GenerationResult) and item.paths]


ORDERS = ("given", "newest", "score")


def ordered(results: Sequence[GenerationResult], order: str, journal: Journal) -> list[int]:
    """The gallery's order as indices into `results`: as given, newest first, or by
    score (the preference judge's, best first; needs `core.scores`)."""
    given = list(range(len(results)))
    if order == "given":
        return given
    if order == "newest":
        return sorted(given, key=lambda i: -(results[i].created_at or 0.0))
    if order == "score":
        scores = scores_module().scores_by_id(journal, [r.journal_id for r in results if r.journal_id])
        return sorted(given, key=lambda i: -scores.get(results[i].journal_id or "", 0.0))  # never compared: 0
    raise ValueError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")


def scores_module() -> Any:
    """`core.scores`, imported by name: it is built alongside this module and may be absent."""
    return importlib.import_module("...core.scores", __package__)


def available_orders() -> list[str]:
    try:
        scores_module()
    except ImportError:
        return ["given", "newest"]
    return list(ORDERS)


# The search box ---------------------------------------------------------------------------------

_TOKENS = re.compile(r'"([^"]*)"?|(\S+)')  # a quote not closed yet (while typing) runs to the end


@dataclass(frozen=True)
class Query:
    """What the search box holds: words and "quoted phrases", each of which must
    appear (case-insensitive, anywhere: "ligh" finds "lighthouse" while typing)."""

    text: str

    @property
    def terms(self) -> list[str]:
        found = [" ".join((phrase or word).lower().split()) for phrase, word in _TOKENS.findall(self.text)]
        return [term for term in found if term.strip('"')]

    def matches(self, haystack: str) -> bool:
        """`haystack` is a `search_text`: lower case, single spaces."""
        return all(term in haystack for term in self.terms)


def search_text(result: GenerationResult) -> str:
    """What the search box looks through: the prompt, aspect ratio and resolution."""
    parts = [result.prompt, result.aspect_ratio or "", result.resolution or ""]
    return " ".join(" ".join(parts).lower().split())


# Card records -----------------------------------------------------------------------------------


def caption(result: GenerationResult) -> str:
    facts = [fact for fact in (result.aspect_ratio, result.resolution) if fact]
    if result.cost_usd is not None:
        facts.append(f"${result.cost_usd:.2f}")
    if result.created_at:
        facts.append(time.strftime("%b %d %H:%M", time.localtime(result.created_at)))
    return " · ".join(facts)


def card_record(index: int, result: GenerationResult, *, parent_prompt: str = "", parent_index: int = -1) -> dict[str, Any]:
    """One card's state: `i` is the result's index in the gallery; `parent` the
    journal id it was remixed from ("" if none), `parent_index` its index in the
    gallery (-1: not in it)."""
    return {
        "i": index,
        "prompt": short(result.prompt, CARD_PROMPT_CHARS),
        "caption": caption(result),
        "rating": result.rating,
        "parent": result.parent or "",
        "parent_prompt": short(parent_prompt, PARENT_PROMPT_CHARS) if result.parent else "",
        "parent_index": parent_index,
    }
