"""What a gallery shows: its order, the search box's matching, and the small
record each card's state holds (its input becomes results in core/given_results.py).

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...core.results import GenerationResult
from ..markup import short

if TYPE_CHECKING:
    from ...store.journal import Journal

CARD_PROMPT_CHARS = 80  # a card shows two lines of the prompt; the lightbox shows all of it
PARENT_PROMPT_CHARS = 32  # "remix of …" fits one line of a card


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
