"""The panel's results: a grid of compact cards that reflows with the width,
a filter (all / starred / not rejected), stars and rejections kept in the
journal, "load history" (the output folder's saved results, newest first,
24 at a time), the lightbox and the compare strip; above the cards, the
panel's sweeps as labelled grids (`sweep_grid.py`), newest first.

    gallery.add(result, thumbnail)      # a new result: first in the grid
    gallery.add_sweep(spec)             # a sweep's grid, filled as its cells finish
    gallery.load_history()              # the next 24 older ones, at the end
    gallery.results                     # newest last (a finished sweep's in cell order)
    gallery.sweeps                      # finished sweeps (`xj.Sweep`), newest last
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from .. import markup
from ..markup import CARD_PX, error_html
from .background import Background, Spawn
from .card import ResultCard, card_thumbnail
from .compare import CompareStrip
from .lightbox import Lightbox
from .sweep_grid import SweepGrid
from .widget_list import WidgetList
from .widget_tools import button, show, tagged

if TYPE_CHECKING:
    from ...batches.sweep_spec import SweepSpec
    from ...batches.sweeps import Sweep
    from ...client.async_client import AsyncClient
    from ...core.results import GenerationResult

HISTORY_PAGE = 24
VIEWS = ("all", "starred", "not rejected")


class Gallery(widgets.VBox):
    """`start(coro)` runs a coroutine in the background; `say(html)` shows a
    message in the panel; `on_use(result)` adds a result as a reference."""

    def __init__(
        self,
        *,
        client: AsyncClient,
        namespace: Callable[[], dict[str, Any] | None],
        start: Spawn,
        say: Callable[[str], None],
        on_use: Callable[[GenerationResult], None],
        lock: threading.RLock,
        on_remix: Callable[[GenerationResult], None] | None = None,
    ) -> None:
        super().__init__()
        W, L = widgets, widgets.Layout
        self._client = client
        self._namespace = namespace
        self._start = start
        self._say = say
        self._on_use = on_use
        self._on_remix = on_remix
        self._lock = lock
        self._history_offset = 0  # saved entries of the journal already looked at
        self.results: list[GenerationResult] = []  # newest last
        self.grid = tagged(W.GridBox(layout=L(grid_gap="8px", width="100%")), "xenodia-gallery")
        self.cards: WidgetList[ResultCard] = WidgetList(self.grid, lock, newest_first=True)
        self.sweep_box = tagged(W.VBox(layout=L(width="100%")), "xenodia-sweeps")
        self.sweep_grids: WidgetList[SweepGrid] = WidgetList(self.sweep_box, lock, newest_first=True)
        self.sweeps: list[Sweep] = []  # newest last
        self.filter = tagged(
            W.ToggleButtons(
                options=list(VIEWS),
                value="all",
                tooltips=["Every result", "Only starred", "Hide rejected"],
                style={"button_width": "auto"},
            ),
            "xenodia-filter",
        )
        self.filter.observe(lambda _c: self.apply_filter(), "value")
        self.search_box = tagged(
            W.Text(placeholder="Search the library…", continuous_update=False, layout=L(width="180px")),
            "xenodia-search",
        )
        self.search_box.observe(lambda _c: self.search(), "value")  # on Enter, or when the box loses focus
        self.history_button = button(
            "Search",
            "xenodia-load-history",
            icon="search",
            width="auto",
            tooltip=f"This output folder's saved results that match, newest first, {HISTORY_PAGE} at a time",
        )
        self.history_button.on_click(lambda _b: self.load_history())
        self.clear_button = button(
            "Clear", "xenodia-clear", icon="trash", width="auto", tooltip="Empty the gallery (files stay on disk)"
        )
        self.lightbox = Lightbox(start)
        self.lightbox.on_parent = self.open_parent
        self.lightbox.on_remix = (lambda card: on_remix(card.result)) if on_remix is not None else None
        self.compare = CompareStrip(say)
        row = {"layout": L(align_items="center", flex_flow="row wrap")}
        self.children = [
            W.HBox(
                [
                    W.HTML(markup.title_html("Results", "newest first")),
                    self.search_box,
                    self.history_button,
                    self.filter,
                    self.clear_button,
                ],
                **row,
            ),
            self.compare,
            self.sweep_box,
            self.grid,
        ]

    # Cards ------------------------------------------------------------------------------------

    def _card(self, result: GenerationResult, thumbnail: bytes, rating: int = 0) -> ResultCard:
        return ResultCard(
            result,
            thumbnail,
            name_hint=f"result_{len(self.results) + 1}",
            on_use=self._on_use,
            namespace=self._namespace,
            rating=rating,
            on_rate=self._rate,
            on_open=self.open_lightbox,
            on_compare=self.compare.toggle,
            on_remix=self._on_remix,
            on_parent=self.open_parent,
            parent_prompt=self._parent_prompt(result),
        )

    def _parent_prompt(self, result: GenerationResult) -> str | None:
        if result.parent is None:
            return None
        entry = self._client.store.journal.entry(result.parent)
        return entry.prompt if entry is not None else "an image made elsewhere"

    def open_parent(self, card: ResultCard) -> None:
        """The lightbox on the result `card` remixed: its card, or one loaded from the journal."""
        from ...core.results import GenerationResult

        parent = card.result.parent
        for other in self.cards:
            if other.result.journal_id == parent:
                self.open_lightbox(other)
                return
        entry = self._client.store.journal.entry(parent) if parent else None
        if entry is None or not entry.paths:
            self._say(error_html(RuntimeError("the result this remixes is not in this output folder's journal")))
            return
        result = GenerationResult.from_entry(entry)
        with self._lock:
            found = self._card(result, card_thumbnail(result), entry.rating)
            self.cards.insert_oldest(found)
            self.results.insert(0, found.result)
            self._apply_filter_to(found)
        self.open_lightbox(found)

    def add(self, result: GenerationResult, thumbnail: bytes) -> ResultCard:
        """A new result, shown first.  Call under the panel's lock."""
        card = self._card(result, thumbnail)
        self.cards.append(card)
        self.results.append(result)
        self._apply_filter_to(card)
        return card

    # Sweeps -----------------------------------------------------------------------------------

    def add_sweep(self, spec: SweepSpec) -> SweepGrid:
        """A sweep's grid, first above the cards, with a placeholder per cell."""
        grid = SweepGrid(spec, self._sweep_card)
        self.sweep_grids.append(grid)
        return grid

    def _sweep_card(self, grid: SweepGrid, index: int, result: GenerationResult, thumbnail: bytes) -> ResultCard:
        def open_card(card: ResultCard) -> None:  # the lightbox's arrows go through this sweep's cells
            cards = grid.filled_cards()
            self.lightbox.show_card(cards, cards.index(card) if card in cards else 0)

        return ResultCard(
            result,
            thumbnail,
            name_hint=grid.name_hint(index),
            on_use=self._on_use,
            namespace=self._namespace,
            on_rate=self._rate,
            on_open=open_card,
            on_compare=self.compare.toggle,
            on_remix=self._on_remix,
        )

    def sweep_ended(self, grid: SweepGrid, sweep: Sweep | None) -> None:
        """Call under the panel's lock when a sweep has ended: its results join
        `results` in cell order, then the sweep (None: cancelled) joins `sweeps`."""
        grid.running = False
        self.results.extend(grid.ordered_results())
        if sweep is not None:
            self.sweeps.append(sweep)

    def shown(self) -> list[ResultCard]:
        """The cards the filter shows, in the grid's order (newest first)."""
        return [card for card in reversed(self.cards) if card.shown_by(self.filter.value)]

    def open_lightbox(self, card: ResultCard) -> None:
        """The lightbox on `card`; its arrows go through the cards the filter shows."""
        shown = self.shown()
        self.lightbox.show_card(shown, shown.index(card) if card in shown else 0)

    # Rating and the filter --------------------------------------------------------------------

    def _rate(self, result: GenerationResult, rating: int) -> None:
        if result.journal_id is None:
            raise RuntimeError("this result has no journal entry to keep a rating in")
        self._client.store.journal.rate(result.journal_id, rating)
        for card in self.cards:
            if card.result is result:
                self._apply_filter_to(card, rating)

    def _apply_filter_to(self, card: ResultCard, rating: int | None = None) -> None:
        from ...store.search import prompt_matches

        if rating is not None:
            card.rating = rating
        text = self.search_box.value.strip()
        show(card.box, card.shown_by(self.filter.value) and (not text or prompt_matches(card.result.prompt, text)))

    def apply_filter(self) -> None:
        for card in self.cards:
            self._apply_filter_to(card)

    # History ----------------------------------------------------------------------------------

    def search(self) -> Background:
        """What the search box and the filter ask for: the cards shown narrow to
        it, and the library's matches are added from the newest."""
        self._history_offset = 0
        self.apply_filter()
        return self.load_history()

    def load_history(self) -> Background:
        """Add the next HISTORY_PAGE saved results of the output folder that match
        the search box and the filter, newest first, at the end of the grid;
        thumbnails follow."""
        self.history_button.disabled = True
        return self._start(self._load_history())

    async def _load_history(self) -> None:
        from ...core.library import Library

        view = self.filter.value
        query: dict[str, Any] = {"text": self.search_box.value.strip() or None, "starred": True if view == "starred" else None,
                 "rejected": False if view == "not rejected" else None}
        try:
            limit = self._history_offset + HISTORY_PAGE
            found = await asyncio.to_thread(Library(store=self._client.store).search, limit=limit, **query)
        except Exception as exc:
            self._say(error_html(exc))
            self.history_button.disabled = False
            return
        page = found[self._history_offset :]
        self._history_offset += len(page)
        cards = self._add_older(page)
        more = len(found) == limit
        self.history_button.disabled = not more  # a new search (the box, the filter) starts again
        self.history_button.description = "More" if more else "Search"
        self.history_button.tooltip = "Load older matches" if more else "No older matches in the journal"
        for card in cards:  # lazily: the cards are there at once, their pictures one by one
            try:
                thumbnail = await asyncio.to_thread(card.result.thumbnail, 0, CARD_PX)
            except Exception:
                continue
            card.set_thumbnail(thumbnail)

    def _add_older(self, found: list[GenerationResult]) -> list[ResultCard]:
        made = []
        with self._lock:
            shown = {r.journal_id for r in self.results}
            for result in found:  # newest first
                if result.journal_id in shown or not result.paths:
                    continue
                card = self._card(result, b"", result.rating)
                self.cards.insert_oldest(card)
                self.results.insert(0, result)
                self._apply_filter_to(card)
                made.append(card)
        return made

    # Clearing ---------------------------------------------------------------------------------

    def clear(self) -> None:
        """Empty the grid and the finished sweeps (the files and the journal stay);
        history starts again from the newest.  A running sweep's grid stays."""
        with self._lock:
            self.lightbox.close_view()
            self.compare.clear()
            self.cards.clear()
            for grid in [g for g in self.sweep_grids if not g.running]:
                self.sweep_grids.discard(grid)
            self.sweeps.clear()
            self.results.clear()
            self._history_offset = 0
            self.history_button.disabled = False
