"""A sweep in the panel's gallery: a labelled grid that fills in as cells finish.

    grid = gallery.add_sweep(spec)          # placeholders at once, one per cell
    progress = GridProgress(grid, row, on_change)   # client.sweep(..., progress=progress)
    await grid.complete(sweep)              # every cell: its card, or its error in place

A row per value of the axis, a column per aspect ratio (one column when the
sweep has one).  Each finished cell is a gallery card (use as reference,
save, star, compare, the lightbox); a failed one shows its error where its
picture would be.

`run_batch` tells a progress object that an item finished, not which one, so
a result is placed by its prompt and aspect ratio, which are unique within a
panel sweep (its values are distinct); the order of `Sweep.results` settles
everything once the sweep returns, failures included.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ...batches.progress import BatchProgress
from ...core.results import GenerationResult
from ..markup import CARD_WIDTH_PX, RULE
from . import sweep_markup
from .card import ResultCard, card_thumbnail
from .widget_tools import close_tree, tagged

if TYPE_CHECKING:
    from ...batches.sweep_spec import SweepSpec
    from ...batches.sweeps import Sweep
    from .run_row import RunRow

CardMaker = Callable[["SweepGrid", int, GenerationResult, bytes], ResultCard]


class SweepGrid:
    """One sweep's grid (`box`), its cells' cards and results, in cell order."""

    def __init__(self, spec: SweepSpec, make_card: CardMaker) -> None:
        W, L = widgets, widgets.Layout
        self.spec = spec
        self.plan = spec.plan()
        self.sweep: Sweep | None = None  # set when the sweep has returned
        self.running = True
        self._make_card = make_card
        count = len(self.plan.cells)
        self.results: list[GenerationResult | None] = [None] * count
        self.cards: list[ResultCard | None] = [None] * count
        self.errors: list[BaseException | None] = [None] * count
        self.slots = [
            W.VBox([W.HTML(sweep_markup.pending_html(prompt, "waiting…"))], layout=L(width=f"{CARD_WIDTH_PX}px"))
            for prompt in self.plan.prompts
        ]
        self.title = W.HTML(sweep_markup.grid_title_html(spec, "starting…"))
        columns = list(spec.aspect_ratios)
        labels = [W.HTML(sweep_markup.corner_html(spec.name)), *(W.HTML(sweep_markup.column_html(a)) for a in columns)]
        for row, value in enumerate(spec.values):
            labels.append(W.HTML(sweep_markup.row_html(value)))
            labels.extend(self.slots[row * len(columns) : (row + 1) * len(columns)])
        self.grid = tagged(
            W.GridBox(
                labels,
                layout=L(
                    grid_template_columns=f"minmax(60px, max-content) repeat({len(columns)}, {CARD_WIDTH_PX}px)",
                    grid_gap="6px",
                    align_items="flex-start",
                    overflow="auto",  # a grid wider than the panel scrolls inside it
                ),
            ),
            "xenodia-sweep-grid",
        )
        self.box = tagged(
            W.VBox(
                [self.title, self.grid],
                layout=L(border=f"1px solid {RULE}", padding="4px", margin="0 0 6px 0", width="100%"),
            ),
            "xenodia-sweep",
        )

    # Cells ----------------------------------------------------------------------------------------

    def index_of(self, result: GenerationResult) -> int | None:
        """The first unplaced cell whose prompt and aspect ratio are the result's."""
        for index, (cell, prompt) in enumerate(zip(self.plan.cells, self.plan.prompts, strict=True)):
            aspect = cell.get("aspect_ratio", self.spec.aspect_ratios[0])
            if self.results[index] is None and prompt == result.prompt and result.aspect_ratio in (None, aspect):
                return index
        return None

    def place(self, result: GenerationResult) -> int | None:
        """Claim the cell of a result that has just arrived (its card follows)."""
        index = self.index_of(result)
        if index is not None:
            self.results[index] = result
        return index

    def fill(self, index: int, result: GenerationResult, thumbnail: bytes) -> None:
        """Show `result` as a card in its cell."""
        self.results[index] = result
        if self.cards[index] is not None or self.box.comm is None:
            return
        card = self._make_card(self, index, result, thumbnail)
        self.cards[index] = card
        self._replace(index, card.box)

    def fail(self, index: int, error: BaseException) -> None:
        """Show the error in the cell, where the picture would be."""
        self.errors[index] = error
        self._replace(index, widgets.HTML(sweep_markup.failed_html(error)))

    async def fill_later(self, index: int, result: GenerationResult) -> None:
        thumbnail = await asyncio.to_thread(card_thumbnail, result)
        self.fill(index, result, thumbnail)

    async def complete(self, sweep: Sweep) -> None:
        """Fill every cell from the sweep's results, in order (its failures too)."""
        self.sweep = sweep
        for index, item in enumerate(sweep.results):
            if isinstance(item, GenerationResult):
                if self.cards[index] is None:
                    await self.fill_later(index, item)
            elif isinstance(item, BaseException):
                self.fail(index, item)
        self.show_counts()

    def stop(self, why: str) -> None:
        """The sweep ended early: the cells still waiting say why."""
        for index in range(len(self.slots)):
            if self.results[index] is None and self.errors[index] is None:
                self._replace(index, widgets.HTML(sweep_markup.pending_html(self.plan.prompts[index], why)))
        self.title.value = sweep_markup.grid_title_html(self.spec, why)

    def _replace(self, index: int, widget: Any) -> None:
        slot = self.slots[index]
        old = list(slot.children)
        slot.children = [widget]
        cards = {id(card.box) for card in self.cards if card is not None}
        for child in old:
            if child is not widget and id(child) not in cards:  # a card's box is closed with its card
                close_tree(child)

    # Reading ---------------------------------------------------------------------------------------

    def ordered_results(self) -> list[GenerationResult]:
        """The results so far, in cell order (row by row)."""
        return [r for r in self.results if r is not None]

    def filled_cards(self) -> list[ResultCard]:
        return [c for c in self.cards if c is not None]

    def name_hint(self, index: int) -> str:
        """A variable name for a cell's card ("to variable"): style_ink_wash, or style_ink_wash_16x9."""
        cell = self.plan.cells[index]
        words = [str(cell[self.spec.name])] + ([cell["aspect_ratio"]] if "aspect_ratio" in cell else [])
        slug = re.sub(r"\W+", "_", "_".join(words).replace(":", "x")).strip("_").lower()
        name = f"{self.spec.name}_{slug}"
        return name if slug and name.isidentifier() else f"{self.spec.name}_{index + 1}"

    def show_counts(self, progress: BatchProgress | None = None) -> None:
        done = sum(r is not None for r in self.results)
        failed = sum(e is not None for e in self.errors)
        if progress is not None:
            text = progress.line()
        else:
            text = f"{done} of {len(self.results)} done" + (f" · {failed} failed" if failed else "")
        self.title.value = sweep_markup.grid_title_html(self.spec, text)

    def close(self) -> None:
        for card in self.cards:
            if card is not None:
                card.close()
        close_tree(self.box)


class GridProgress(BatchProgress):
    """`client.sweep(progress=...)` for the panel: the run row's bar and words,
    the grid's title, and each result placed in its cell as it arrives.  Runs
    on the engine's loop (where `run_batch` calls it)."""

    def __init__(self, grid: SweepGrid, row: RunRow, on_change: Callable[[], None]) -> None:
        super().__init__(len(grid.plan.cells))
        self.grid = grid
        self.row = row
        self._on_change = on_change
        self.started_any = False
        self._fills: set[asyncio.Task[None]] = set()

    def item_started(self) -> None:
        self.started_any = True
        super().item_started()

    def item_finished(self, item: Any) -> None:
        if isinstance(item, GenerationResult):
            index = self.grid.place(item)
            if index is not None:
                task = asyncio.get_running_loop().create_task(self.grid.fill_later(index, item))
                self._fills.add(task)
                task.add_done_callback(self._fills.discard)
        super().item_finished(item)

    def show(self) -> None:
        finished = self.done + self.failed
        self.row.progress.value = int(100 * finished / max(self.total, 1))
        self.row.note(f"{finished}/{self.total} cells" + (f", {self.failed} failed" if self.failed else ""))
        self.grid.show_counts(self)
        self._on_change()

    async def settle(self) -> None:
        """Wait for the cards still being made."""
        if self._fills:
            await asyncio.gather(*list(self._fills), return_exceptions=True)
