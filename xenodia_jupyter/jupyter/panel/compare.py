"""The panel's compare strip: 2 to 4 results side by side at the same size,
with the parameters in which they differ.

    strip.toggle(card, picked) -> bool   # False: refused (a fifth pick)
    strip.picked                         # the cards, in the order they were picked
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ...images.thumbnails import jpeg_thumbnail
from .. import markup
from ..markup import COMPARE_PX, message_html
from .background import Spawn
from .card import ResultCard
from .widget_tools import button, close_tree, show, tagged

MAX_COMPARED = 4


class CompareStrip(widgets.VBox):
    """Hidden until two results are picked.  `say(html)` shows a message in the
    panel; `start(coro)` runs a coroutine in the background (the pictures at
    COMPARE_PX are made there; the cards' thumbnails stand in until then)."""

    def __init__(self, say: Callable[[str], None], start: Spawn) -> None:
        super().__init__(layout=widgets.Layout(display="none", border=f"1px solid {markup.RULE}", padding="6px"))
        self.add_class("xenodia-compare")
        self._say = say
        self._start = start
        self._pictures: dict[int, bytes] = {}  # id(card) -> its JPEG at COMPARE_PX
        self.picked: list[ResultCard] = []
        self.clear_button = button("", "xenodia-compare-clear", icon="times", width="36px", tooltip="Stop comparing")
        self.clear_button.on_click(lambda _b: self.clear())
        self.row = tagged(widgets.GridBox(layout=widgets.Layout(grid_gap="6px")), "xenodia-compare-row")
        self.diff = tagged(widgets.HTML(), "xenodia-compare-table")
        self.children = [
            widgets.HBox(
                [widgets.HTML(markup.title_html("Compare")), self.clear_button],
                layout=widgets.Layout(justify_content="space-between"),
            ),
            self.row,
            self.diff,
        ]

    def toggle(self, card: ResultCard, picked: bool) -> bool:
        if not picked:
            if card in self.picked:
                self.picked.remove(card)
                self._draw()
            return True
        if card in self.picked:
            return True
        if len(self.picked) >= MAX_COMPARED:
            self._say(
                message_html("Not picked for comparing:", f"at most {MAX_COMPARED} results can be compared at once")
            )
            return False
        self.picked.append(card)
        self._draw()
        return True

    def clear(self) -> None:
        self._pictures.clear()
        for card in list(self.picked):
            self.picked.remove(card)
            if card.compare_toggle.comm is not None:
                card.compare_toggle.value = False
        self._draw()

    def _draw(self) -> None:
        for child in self.row.children:
            close_tree(child)
        count = len(self.picked)
        if count < 2:
            self.row.children = []
            self.diff.value = ""
            show(self, False)
            return
        self.row.layout.grid_template_columns = f"repeat({count}, minmax(0, {COMPARE_PX}px))"
        columns = [_column(i, card, self._pictures.get(id(card), card.thumbnail)) for i, card in enumerate(self.picked)]
        self.row.children = columns
        for i, (card, column) in enumerate(zip(self.picked, columns, strict=True)):
            if id(card) not in self._pictures:
                self._start(self._sharpen(i, card, column))
        self.diff.value = markup.compare_html(differences([card.result for card in self.picked]), count)
        show(self, True)

    async def _sharpen(self, position: int, card: ResultCard, column: Any) -> None:
        """Swap the stand-in thumbnail for a picture made at COMPARE_PX."""
        try:
            data = await asyncio.to_thread(jpeg_thumbnail, card.result.paths[0], COMPARE_PX)
        except Exception:
            return  # the thumbnail stays
        self._pictures[id(card)] = data
        if column.comm is not None:
            column.value = markup.compare_item_html(data, card.result.prompt, position + 1)


def _column(position: int, card: ResultCard, picture: bytes) -> Any:
    image = widgets.HTML(markup.compare_item_html(picture, card.result.prompt, position + 1))
    image.add_class("xenodia-compare-item")
    return image


_COMPARED = (
    ("prompt", lambda r: r.prompt),
    ("aspect ratio", lambda r: r.aspect_ratio or "—"),
    ("resolution", lambda r: r.resolution or "—"),
    ("cost", lambda r: f"${r.cost_usd:.2f}" if r.cost_usd is not None else "—"),
    ("images", lambda r: str(len(r.paths))),
)


def differences(results: list[Any]) -> list[tuple[str, list[str]]]:
    """(parameter, one value per result) for each parameter that is not the same in all."""
    rows = []
    for name, value in _COMPARED:
        values = [value(r) for r in results]
        if len(set(values)) > 1:
            rows.append((name, values))
    return rows
