"""The panel's compare strip: 2 to 4 picked results in a `CompareView` (side
by side, swipe, flip, difference; zoom and pan together; the first picked is
the baseline), with the parameters in which they differ.

    strip.toggle(card, picked) -> bool   # False: refused (a fifth pick)
    strip.picked                         # the cards, in the order they were picked
    strip.view                           # the CompareView (jupyter/compare/view.py)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from .. import markup
from ..compare import CompareView
from ..markup import message_html
from .card import ResultCard
from .widget_tools import button, show, tagged

MAX_COMPARED = 4


class CompareStrip(widgets.VBox):
    """Hidden until two results are picked.  `say(html)` shows a message in the
    panel.  The view makes its pictures on its own worker thread."""

    def __init__(self, say: Callable[[str], None]) -> None:
        super().__init__(layout=widgets.Layout(display="none", border=f"1px solid {markup.RULE}", padding="6px"))
        self.add_class("xenodia-compare")
        self._say = say
        self.picked: list[ResultCard] = []
        self.clear_button = button("", "xenodia-compare-clear", icon="times", width="36px", tooltip="Stop comparing")
        self.clear_button.on_click(lambda _b: self.clear())
        self.view = tagged(CompareView(), "xenodia-compare-view")
        self.diff = tagged(widgets.HTML(), "xenodia-compare-table")
        self.children = [
            widgets.HBox(
                [widgets.HTML(markup.title_html("Compare")), self.clear_button],
                layout=widgets.Layout(justify_content="space-between"),
            ),
            self.view,
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
        for card in list(self.picked):
            self.picked.remove(card)
            if card.compare_toggle.comm is not None:
                card.compare_toggle.value = False
        self._draw()

    def _draw(self) -> None:
        count = len(self.picked)
        if count < 2:
            self.view.results = []  # its pictures go: nothing large stays behind
            self.diff.value = ""
            show(self, False)
            return
        self.view.results = [card.result for card in self.picked]
        self.diff.value = markup.compare_html(differences([card.result for card in self.picked]), count)
        show(self, True)


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
