"""The panel's sweep: a toggle that reveals a second field for one axis.

    panel.sweep_toggle.value = True
    panel.sweep_axis.value = "style = ink wash, origami, watercolor"
    panel.prompt.value = "A fox in {style}"
    panel.sweep_form.columns["16:9"].value = True     # aspect ratios as columns
    panel.generate_button.click()                      # 3 values x 2 aspect ratios: 6 cells

The prompt becomes a template: `{style}` is filled with each value, one row
per value; the aspect ratios picked under the field (the panel's own is
always in) are the columns.  Everything is checked here, as the user types,
before anything is sent (`check_sweep`); a problem is shown under the field,
naming the field and the rule.  No I/O: the plan is `sweeps.plan_sweep`'s.
"""

from __future__ import annotations

import functools
import inspect
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from ...batches.sweeps import SweepPlan, plan_sweep
from ...errors import InvalidRequestError
from ...wire import rules
from ...wire.rules import ModelInfo
from ..markup import short
from . import sweep_markup
from .parts import show, tagged

# Every cell is a gallery card of a few widget models, all saved with the
# notebook; 48 cards stay well under the 300 KB a notebook may weigh (20 cards
# are about 100 KB).  Bigger sweeps belong in a cell: xj.sweep(...).
MAX_CELLS = 48
EXAMPLE = "style = ink wash, origami, watercolor"


@dataclass(frozen=True)
class SweepSpec:
    """One checked sweep: the template, its one axis, the aspect ratios (the
    columns when there are several) and the resolution."""

    template: str
    name: str
    values: tuple[str, ...]
    aspect_ratios: tuple[str, ...]
    resolution: str

    @property
    def cells(self) -> int:
        return len(self.values) * len(self.aspect_ratios)

    def axes(self) -> dict[str, list[Any]]:
        """The axes in the order `client.sweep` lists them: the values (rows),
        then the aspect ratios (columns) when there are several."""
        axes: dict[str, list[Any]] = {self.name: list(self.values)}
        if len(self.aspect_ratios) > 1:
            axes["aspect_ratio"] = list(self.aspect_ratios)
        return axes

    def options(self) -> dict[str, Any]:
        """`client.sweep`'s keyword arguments besides the template and references."""
        aspect: str | list[str] = list(self.aspect_ratios) if len(self.aspect_ratios) > 1 else self.aspect_ratios[0]
        return {"aspect_ratio": aspect, "resolution": self.resolution, self.name: list(self.values)}

    def plan(self) -> SweepPlan:
        """The cells in the order `client.sweep` sends them (row by row)."""
        return plan_sweep(self.template, self.axes())


# Checking ----------------------------------------------------------------------------------------


def check_sweep(template: str, axis: str, aspect_ratios: Sequence[str], resolution: str) -> SweepSpec:
    """The sweep the panel would send, or InvalidRequestError naming the field
    ("prompt", "sweep axis", "sweep values", "aspect ratios", "sweep") and the rule."""
    rules.check_prompt(template)
    name, values = parse_axis(axis)
    fields = _template_fields(template)
    if "" in fields:
        raise InvalidRequestError("prompt", f"has {{}} with no name in it: write {{{name}}}")
    if name not in fields:
        raise InvalidRequestError(
            "prompt", f"has no {{{name}}}: write {{{name}}} where each value goes, such as “A fox in {{{name}}}”"
        )
    others = [f for f in fields if f != name]
    if others:
        raise InvalidRequestError(
            "prompt",
            f"has {{{others[0]}}}, but the sweep gives values only for {{{name}}} "
            "(write {{ and }} for braces of the prompt's own)",
        )
    if not aspect_ratios:
        raise InvalidRequestError("aspect ratios", "pick at least one")
    for aspect in aspect_ratios:
        problem = rules.combination_problem(aspect, resolution)
        if problem:
            raise InvalidRequestError("aspect ratios", problem)
    spec = SweepSpec(template, name, tuple(values), tuple(aspect_ratios), resolution)
    if spec.cells > MAX_CELLS:
        shape = f"{len(values)} values × {len(aspect_ratios)} aspect ratios" if len(aspect_ratios) > 1 else f"{len(values)} values"
        raise InvalidRequestError(
            "sweep",
            f"has {spec.cells} cells ({shape}); the panel runs at most {MAX_CELLS} (for more, use xj.sweep in a cell)",
        )
    for value, prompt in zip(values, spec.plan().prompts, strict=False):
        try:
            rules.check_prompt(prompt)
        except InvalidRequestError as exc:
            raise InvalidRequestError("prompt", f"with {name} = {short(value, 40)}: {exc.message}") from None
    return spec


def parse_axis(text: str) -> tuple[str, list[str]]:
    """`"style = ink wash, origami"` -> ("style", ["ink wash", "origami"])."""
    match = re.fullmatch(r"\s*([^=]*?)\s*=(.*)", text or "", re.S)
    if not match or not match.group(1):
        shown = f"not {text.strip()!r}" if text and text.strip() else "it is empty"
        raise InvalidRequestError("sweep axis", f"write a name, =, then values separated by commas, such as “{EXAMPLE}” ({shown})")
    name = match.group(1)
    if not name.isidentifier():
        raise InvalidRequestError(
            "sweep axis", f"{name!r} cannot be a name: use letters, digits and _, not starting with a digit (such as style)"
        )
    if name in _reserved_names():
        raise InvalidRequestError("sweep axis", f"{name!r} is one of sweep()'s own settings: give the axis another name")
    values = [v.strip() for v in match.group(2).split(",") if v.strip()]
    if not values:
        raise InvalidRequestError("sweep values", f"give at least one value after “{name} =”, separated by commas")
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise InvalidRequestError("sweep values", f"“{short(value, 40)}” is given twice: give each value once (one row each)")
        seen.add(value)
    return name, values


def _template_fields(template: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidRequestError(
            "prompt", f"has a brace without its pair ({exc}); write {{{{ or }}}} for a brace of the prompt's own"
        ) from None
    return list(dict.fromkeys(name for _text, name, _spec, _conv in parsed if name is not None))


@functools.cache
def _reserved_names() -> frozenset[str]:
    """The keyword arguments of `AsyncClient.sweep` (an axis of that name would be taken for them)."""
    from ...client.async_client import AsyncClient

    parameters = inspect.signature(AsyncClient.sweep).parameters.values()
    return frozenset(p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD) - {"self"}


# The widget ----------------------------------------------------------------------------------------


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
                    column.value, column.disabled, column.tooltip = True, True, "The panel's aspect ratio: always a column"
                else:
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
