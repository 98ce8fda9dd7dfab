"""The panel's aspect ratio and resolution: only valid pairs can be chosen.

The dropdowns start from the documented values (or the settings' defaults)
and are refilled from model discovery (`apply(info)`); picking an aspect
ratio leaves only the resolutions it allows, keeps the nearest one, and a
note says why the others are gone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ...wire import rules
from ...wire.rules import ModelInfo
from ..markup import error_html, note_html
from .widget_tools import tagged

DEFAULT_ASPECT_RATIO = "1:1"
DEFAULT_RESOLUTION = "1K"


class Choices(widgets.HBox):
    """`aspect_ratio` and `resolution` dropdowns and `rule_note`.  `on_change()`
    runs after every change of the pair; `say(html)` shows an error."""

    def __init__(
        self,
        *,
        aspect_ratio: str | None,
        resolution: str | None,
        on_change: Callable[[], None],
        say: Callable[[str], None],
    ) -> None:
        super().__init__(layout=widgets.Layout(align_items="center", flex_flow="row wrap", flex="1 1 340px"))
        self.info: ModelInfo = rules.DEFAULT_MODEL_INFO
        self._on_change: Callable[[], None] = lambda: None  # quiet until built
        self._say = say
        self._busy = False  # set while the options are refilled
        aspect_ratio = aspect_ratio if aspect_ratio in rules.ASPECT_RATIOS else DEFAULT_ASPECT_RATIO
        resolution = resolution if resolution in rules.RESOLUTIONS else DEFAULT_RESOLUTION
        self.aspect_ratio = tagged(
            widgets.Dropdown(
                description="Aspect",
                options=list(rules.ASPECT_RATIOS),
                value=aspect_ratio,
                layout={"width": "auto", "flex": "1 1 170px", "max_width": "220px"},
            ),
            "xenodia-aspect",
        )
        self.resolution = tagged(
            widgets.Dropdown(
                description="Resolution",
                options=list(rules.RESOLUTIONS),
                value=resolution,
                layout={"width": "auto", "flex": "1 1 170px", "max_width": "220px"},
            ),
            "xenodia-resolution",
        )
        self.rule_note = tagged(widgets.HTML(), "xenodia-rule-note")
        self.aspect_ratio.observe(self._on_aspect_ratio, "value")
        self.resolution.observe(lambda _c: self._changed(), "value")
        self.children = [self.aspect_ratio, self.resolution, self.rule_note]
        self.apply(self.info)
        self._on_change = on_change

    def apply(self, info: ModelInfo) -> None:
        """Offer what `info` (model discovery) allows, keeping the pick where it can."""
        self.info = info
        wanted = self.aspect_ratio.value
        if wanted not in info.aspect_ratios:
            wanted = DEFAULT_ASPECT_RATIO if DEFAULT_ASPECT_RATIO in info.aspect_ratios else info.aspect_ratios[0]
        self._set_options(self.aspect_ratio, info.aspect_ratios)
        self.aspect_ratio.value = wanted
        self._apply_rules()

    def _on_aspect_ratio(self, _change: Any) -> None:
        if self._busy:
            return
        try:
            self._apply_rules()
        except Exception as exc:  # shown in the panel, never only in the log
            self._say(error_html(exc))

    def _changed(self) -> None:
        if not self._busy:
            self._on_change()

    def _set_options(self, dropdown: Any, options: tuple[str, ...]) -> None:
        if tuple(dropdown.options) != tuple(options):
            self._busy = True
            try:
                dropdown.options = list(options)
            finally:
                self._busy = False

    def _apply_rules(self) -> None:
        """Offer only the resolutions the aspect ratio allows, and say why."""
        aspect = self.aspect_ratio.value
        allowed = rules.allowed_resolutions(aspect, self.info.resolutions)
        current = wanted = self.resolution.value
        if current not in allowed:  # the nearest allowed one, in the full order
            order = list(self.info.resolutions)
            position = order.index(current) if current in order else 0
            current = min(allowed, key=lambda r: abs(order.index(r) - position)) if allowed else None
        self._set_options(self.resolution, allowed)
        self.resolution.value = current
        reason = _rule_reason(aspect, allowed, [r for r in self.info.resolutions if r not in allowed])
        # Why a choice is missing is on the dropdown (its tooltip); said aloud only when
        # the rule has just changed what the user had picked, so it never reads like an error.
        self.resolution.tooltip = reason or None
        self.rule_note.value = note_html(f"{reason}: {wanted} became {current}") if reason and wanted != current else ""
        self._changed()


def _rule_reason(aspect: str, allowed: tuple[str, ...], ruled_out: list[str]) -> str:
    if not ruled_out:
        return ""
    if aspect == "auto":
        return f"“auto” allows only {', '.join(allowed)}, so {', '.join(ruled_out)} cannot be chosen"
    return f"{aspect} cannot be combined with {', '.join(ruled_out)}"
