"""The panel's sweep: a toggle that reveals a second field for one axis.

    panel.sweep_toggle.value = True
    panel.sweep_axis.value = "style = ink wash, origami, watercolor"
    panel.prompt.value = "A fox in {style}"
    panel.sweep_form.columns["16:9"].value = True     # aspect ratios as columns
    panel.generate_button.click()                      # 3 values x 2 aspect ratios: 6 cells

The prompt becomes a template: `{style}` is filled with each value, one row
per value; the aspect ratios picked under the field (the panel's own is
always in) are the columns.  Everything is checked as the user types, before
anything is sent (`sweep_spec.check_sweep`); a problem is shown under the
field, naming the field and the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ...batches.sweep_spec import EXAMPLE, SweepSpec, check_sweep
from ...errors import InvalidRequestError
from ...wire import rules
from ...wire.rules import ModelInfo
from . import sweep_markup
from .widget_tools import show, tagged


class SweepForm(widgets.VBox):
    """Hidden until `toggle` (placed by the panel next to Generate) is on: the
    axis field, a toggle per aspect ratio (extra columns), and `note`, which
    shows the plan or what is wrong.  `on_change()` runs after every change."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        W, L = widgets, widgets.Layout
        super().__init__(layout=L(display="none", width="100%"))
        self.add_class("xenodia-sweep-form")
        self._on_change = on_change
        self._busy = False  # set while the column toggles are redrawn
        self._main: str | None = None  # the panel's aspect ratio: always a column
        self.toggle = tagged(
            W.ToggleButton(
                description="Sweep",
                icon="th",
                tooltip="Sweep one word of the prompt over several values: a grid of results",
                layout=L(width="auto"),
            ),
            "xenodia-sweep-toggle",
        )
        self.axis = tagged(
            W.Text(
                description="Axis",
                placeholder=EXAMPLE,
                tooltip="name = value, value, …; write {name} in the prompt",
                layout=L(width="auto", flex="1 1 auto"),
            ),
            "xenodia-sweep-axis",
        )
        self.columns: dict[str, Any] = {}
        for aspect in rules.ASPECT_RATIOS:
            column = tagged(W.ToggleButton(description=aspect, layout=L(width="auto")), "xenodia-sweep-column")
            column.observe(self._changed, "value")
            self.columns[aspect] = column
        self.note = tagged(W.HTML(sweep_markup.hint_html()), "xenodia-sweep-note")
        self.toggle.observe(self._toggled, "value")
        self.axis.observe(self._changed, "value")
        row = L(align_items="center", flex_flow="row wrap")
        self.children = [
            W.HBox([self.axis], layout=L(width="100%")),
            W.HBox([W.HTML(sweep_markup.columns_label_html()), *self.columns.values()], layout=row),
            self.note,
        ]

    @property
    def active(self) -> bool:
        return bool(self.toggle.value)

    def aspect_ratios(self, info: ModelInfo) -> list[str]:
        """The columns: the panel's aspect ratio and every pressed toggle, in the model's order."""
        return [a for a in info.aspect_ratios if a in self.columns and (a == self._main or self.columns[a].value)]

    def refresh(self, prompt: str, aspect_ratio: str, resolution: str, info: ModelInfo, *, strict: bool = False) -> SweepSpec | None:
        """Offer the columns the resolution allows, then check the sweep and say
        what it is (or what is wrong) under the field.  `strict`: an empty axis
        is an error, not a hint (a click on Generate)."""
        self._offer_columns(aspect_ratio, resolution, info)
        if not strict and not self.axis.value.strip():
            self.note.value = sweep_markup.hint_html()
            return None
        try:
            spec = check_sweep(prompt, self.axis.value, self.aspect_ratios(info), resolution)
        except InvalidRequestError as exc:
            self.note.value = sweep_markup.problem_html(exc)
            return None
        self.note.value = sweep_markup.plan_html(spec, info.price_usd_for(resolution))
        return spec

    def _offer_columns(self, main: str, resolution: str, info: ModelInfo) -> None:
        """The panel's aspect ratio is pressed and fixed; one the resolution rules
        out is released, disabled, and its tooltip says why; one the model does
        not offer is hidden."""
        self._busy = True
        try:
            for aspect, column in self.columns.items():
                problem = rules.combination_problem(aspect, resolution)
                if aspect == main:
                    # Always in, so not a choice; but not greyed out as if unavailable: it is in.
                    column.value, column.disabled, column.tooltip = True, True, "The panel's aspect ratio: always a column"
                    column.add_class("xenodia-always")
                else:
                    column.remove_class("xenodia-always")
                    if aspect == self._main or problem:
                        column.value = False  # the old main one, or one the resolution rules out
                    column.disabled = bool(problem)
                    column.tooltip = problem or f"Also make every value in {aspect}"
                show(column, aspect in info.aspect_ratios)
            self._main = main
        finally:
            self._busy = False

    def _toggled(self, _change: Any) -> None:
        show(self, self.active)
        self._on_change()

    def _changed(self, _change: Any) -> None:
        if not self._busy:
            self._on_change()
