"""`xj.gallery(items)`: a browsable, searchable, selectable grid of results.

    gallery = xj.gallery(library.search("lighthouse"))   # or a list of results, or a DataFrame
    gallery.query = '"ink wash" fox'     # what the search box holds: the cards filter as you type
    gallery.select([0, 2]); gallery.selected   # a ResultList, in gallery order
    gallery.observe(lambda change: ..., "selection")
    gallery.selected.to_pandas()         # a selection in the gallery becomes a DataFrame

The cards are drawn by one anywidget (`view.py`); the gallery holds the
results and answers it.  Its state holds only the records of the cards shown
(a page at a time), never a picture, so a saved notebook with a 1,000-result
gallery stays small; thumbnails and the lightbox's preview come by message
when the browser asks (`pictures.py`).  Below the cards, "Compare" shows 2 to
4 selected results side by side.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import traitlets

from ...core.given_results import as_results, journal_for, listed
from ...core.results import GenerationResult, ResultList
from ..markup import NOTE
from ..panel.lightbox import facts
from ..panel.widget_tools import button, close_tree, tagged
from .items import Query, available_orders, card_record, ordered, search_text
from .pictures import Pictures
from .view import PAGE_SIZE, GalleryView

COMPARE_MIN, COMPARE_MAX = 2, 4


def gallery(items: Any, *, output_dir: str | Path | None = None) -> Gallery:
    """A gallery of `items`: a `ResultList`, a list of results, or a DataFrame from
    `to_pandas()` (its `journal_id` column).  Stars and rejections go to the journal
    of `output_dir` (default: the one beside the results' files)."""
    return Gallery(items, output_dir=output_dir)


class Gallery(widgets.VBox):
    """`items`: the results, in gallery order (`order`: "given", "newest" or "score").
    `selection`: indices into `items`, ascending; `selected`: those results."""

    selection = traitlets.List(traitlets.Int(), help="indices into items of the selected results, ascending")
    query = traitlets.Unicode("", help='the search box: words and "phrases", all of which must match')
    order = traitlets.Unicode("given", help='"given", "newest" or "score"')

    def __init__(
        self, items: Any, *, output_dir: str | Path | None = None, order: str = "given", page_size: int = PAGE_SIZE
    ) -> None:
        items = listed(items)
        self._journal = journal_for(items, output_dir)
        self._given = as_results(items, self._journal)
        self.page_size = max(1, page_size)
        self.items: ResultList[GenerationResult] = ResultList(self._given)
        self._matches: list[int] = list(range(len(self.items)))
        self._shown = self.page_size
        self._tokens = itertools.count(1)
        self.view = GalleryView(total=len(self.items), orders=available_orders(), can_compare=_can_compare())
        self.compare_box = tagged(widgets.VBox(), "xenodia-gallery-compare")
        super().__init__([self.view, self.compare_box])
        self.add_class("xenodia-gallery-box")
        self._pictures = Pictures(lambda content, buffers: self.view.send(content, buffers))
        self._outside_prompts = self._parent_prompts()
        for name, handler in {
            "thumbs": self._thumbs, "more": lambda _c: self.more(), "select_all": lambda _c: self.select_all(),
            "clear": lambda _c: self.select([]), "open": lambda c: self.show_large(int(c["i"])), "step": self._step,
            "rate": lambda c: self.rate(int(c["i"]), int(c["rating"])), "lineage": self._lineage,
            "compare": lambda _c: self.compare(),
        }.items():
            self.view.on_event(name, handler)
        self.view.observe(lambda c: setattr(self, "selection", c["new"]), "selection")
        self.view.observe(lambda c: setattr(self, "query", c["new"]), "query")
        self.view.observe(lambda c: setattr(self, "order", c["new"]), "order")
        self.order = order
        self._refilter()

    # Selection --------------------------------------------------------------------------------------

    @traitlets.validate("selection")
    def _valid_selection(self, proposal: Any) -> list[int]:
        return sorted({i for i in proposal["value"] if 0 <= i < len(self.items)})

    @traitlets.observe("selection")
    def _selection_changed(self, change: Any) -> None:
        self.view.selection = change["new"]

    @property
    def selected(self) -> ResultList[GenerationResult]:
        """The selected results, in gallery order."""
        return ResultList(self.items[i] for i in self.selection)

    def select(self, indices: Iterable[int]) -> None:
        """Select `indices` (into `items`) and nothing else."""
        chosen = [int(i) for i in indices]
        wrong = [i for i in chosen if not 0 <= i < len(self.items)]
        if wrong:
            raise IndexError(f"the gallery has {len(self.items)} results; no index {wrong[0]}")
        self.selection = chosen

    def select_all(self) -> None:
        """Add every result the search box lets through to the selection."""
        self.selection = [*self.selection, *self._matches]

    # The search box, the order and the pages -------------------------------------------------------

    @property
    def matches(self) -> list[int]:
        """The indices the search box lets through, in gallery order."""
        return list(self._matches)

    @traitlets.observe("query")
    def _query_changed(self, change: Any) -> None:
        self.view.query = change["new"]
        self._shown = self.page_size
        self._refilter()

    @traitlets.validate("order")
    def _valid_order(self, proposal: Any) -> str:
        if proposal["value"] not in available_orders():
            raise traitlets.TraitError(f"order must be one of {', '.join(available_orders())}, not {proposal['value']!r}")
        return str(proposal["value"])

    @traitlets.observe("order")
    def _order_changed(self, change: Any) -> None:
        chosen = self.selected
        self.items = ResultList(self._given[i] for i in ordered(self._given, change["new"], self._journal))
        self.view.order = change["new"]
        place = {id(result): index for index, result in enumerate(self.items)}
        self.selection = [place[id(result)] for result in chosen]
        self._refilter()

    def more(self) -> None:
        """Draw the next page of cards."""
        self._shown += self.page_size
        self._draw()

    def _refilter(self) -> None:
        query = Query(self.query)
        self._matches = [i for i, result in enumerate(self.items) if query.matches(search_text(result))]
        self._draw()

    def _draw(self) -> None:
        index_of = {r.journal_id: i for i, r in enumerate(self.items) if r.journal_id}
        self.view.cards = [self._record(i, index_of) for i in self._matches[: self._shown]]
        self.view.matched = len(self._matches)

    def _record(self, index: int, index_of: dict[str, int]) -> dict[str, Any]:
        result = self.items[index]
        parent = result.parent or ""
        inside = index_of.get(parent, -1)
        prompt = self.items[inside].prompt if inside >= 0 else self._outside_prompts.get(parent, "")
        return card_record(index, result, parent_prompt=prompt or parent[:8], parent_index=inside)

    def _parent_prompts(self) -> dict[str, str]:
        """The prompts of parents that are not in the gallery (one journal query)."""
        own = {r.journal_id for r in self._given}
        wanted = sorted({r.parent for r in self._given if r.parent and r.parent not in own})
        return {key: entry.prompt for key, entry in self._journal.entries_by_id(wanted).items()} if wanted else {}

    # Stars ---------------------------------------------------------------------------------------

    def rate(self, index: int, rating: int) -> None:
        """Star (1), reject (-1) or clear (0) `items[index]`, in the journal."""
        result = self.items[index]
        if not result.journal_id or self._journal.entry(result.journal_id) is None:
            raise LookupError(f"this result is not in the journal {self._journal.path}; pass output_dir= to the gallery")
        self._journal.rate(result.journal_id, rating)
        result.rating = rating
        self._draw()
        self.view.send({"event": "rated", "i": index, "rating": rating})

    # Pictures and the lightbox ----------------------------------------------------------------------

    def _thumbs(self, content: dict[str, Any]) -> None:
        wanted = [int(i) for i in content.get("items", []) if 0 <= int(i) < len(self.items)]
        self._pictures.thumbnails((i, self.items[i]) for i in wanted)

    def show_large(self, index: int) -> dict[str, Any]:
        """Show `items[index]` in the lightbox; returns what was sent (its picture follows)."""
        result = self.items[index]
        where = self._matches.index(index) if index in self._matches else -1
        position = f"{where + 1} of {len(self._matches)}" if where >= 0 else "not in the filtered view"
        return self._show(result, index, position)

    def _show(self, result: GenerationResult, index: int, position: str) -> dict[str, Any]:
        token = next(self._tokens)
        parent = result.parent or ""
        index_of = {r.journal_id: i for i, r in enumerate(self.items) if r.journal_id}
        parent_prompt = self.items[index_of[parent]].prompt if parent in index_of else self._outside_prompts.get(parent, "")
        detail = {
            "event": "detail", "token": token, "i": index, "position": position, "prompt": result.prompt,
            "facts": [list(row) for row in facts(result)], "rating": result.rating,
            "parent": parent, "parent_prompt": parent_prompt or parent[:8],
        }
        self.view.send(detail)
        self._pictures.preview(token, result)
        return detail

    def _step(self, content: dict[str, Any]) -> None:
        if not self._matches:
            return
        index, by = int(content.get("i", -1)), int(content.get("by", 1))
        where = self._matches.index(index) if index in self._matches else (-1 if by > 0 else 0)
        self.show_large(self._matches[(where + by) % len(self._matches)])

    def _lineage(self, content: dict[str, Any]) -> None:
        """"remix of …" clicked: on a card, scroll to the parent if its card can be shown;
        otherwise (or in the lightbox) show the parent in the lightbox, from the journal
        when it is not in the gallery."""
        parent = str(content.get("parent", ""))
        index = next((i for i, r in enumerate(self.items) if r.journal_id == parent), -1)
        if content.get("where") == "card" and index in self._matches:
            where = self._matches.index(index)
            if where >= self._shown:
                self._shown = (where // self.page_size + 1) * self.page_size
                self._draw()
            self.view.send({"event": "reveal", "i": index})
        elif index >= 0:
            self.show_large(index)
        else:
            entry = self._journal.entry(parent)
            if entry is None or not entry.paths:
                raise LookupError(f"the result {parent} was remixed from is not in the journal {self._journal.path}")
            self._show(GenerationResult.from_entry(entry), -1, "not in this gallery")

    # Compare -----------------------------------------------------------------------------------

    def compare(self) -> Any:
        """Show the selected results (2 to 4) side by side below the cards."""
        chosen = self.selected
        if not COMPARE_MIN <= len(chosen) <= COMPARE_MAX:
            raise ValueError(f"select {COMPARE_MIN} to {COMPARE_MAX} results to compare, not {len(chosen)}")
        if not _can_compare():
            raise RuntimeError("comparing needs xenodia_jupyter.jupyter.compare, which this version does not have")
        self.close_compare()
        shown = _compare_class()(list(chosen))
        close = button("Close", "xenodia-gallery-compare-close", icon="times", width="auto", tooltip="Close the comparison")
        close.on_click(lambda _b: self.close_compare())
        self.compare_box.children = [close, shown]
        return shown

    def close_compare(self) -> None:
        for child in self.compare_box.children:
            close_tree(child)
        self.compare_box.children = []

    # Display --------------------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget, with words for a saved notebook read without a kernel."""
        bundle = super()._repr_mimebundle_(**kwargs)
        words = self.summary()
        if isinstance(bundle, dict):
            bundle["text/plain"] = words
            bundle["text/html"] = f"<p style='color:{NOTE}'>{html.escape(words)}</p>"
        return bundle

    def summary(self) -> str:
        count = len(self.items)
        starred = sum(r.rating == 1 for r in self.items)
        stars = f", {starred} starred" if starred else ""
        return f"Gallery of {count} result{'s' if count != 1 else ''}{stars}; run the cell to browse"

    def __repr__(self) -> str:
        return f"<{self.summary()}>"

    def close(self) -> None:
        """Close the gallery and every model inside it (nothing left in the notebook's state)."""
        if hasattr(self, "compare_box"):  # not when __init__ failed (ipywidgets closes on __del__)
            self.close_compare()
            for part in (self.view, self.compare_box, self.layout):
                close_tree(part)
        super().close()


COMPARE_MODULE = "xenodia_jupyter.jupyter.compare.view"


def _can_compare() -> bool:
    """Whether the compare view is there, without importing it (built alongside this module)."""
    try:
        return importlib.util.find_spec(COMPARE_MODULE) is not None
    except ImportError:
        return False


def _compare_class() -> Any:
    """`CompareView`, imported by name when first needed."""
    return importlib.import_module(COMPARE_MODULE).CompareView
