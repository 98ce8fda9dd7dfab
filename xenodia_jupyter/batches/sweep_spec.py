"""The panel's sweep, checked: `SweepSpec` and `check_sweep`, which the sweep
form runs as the user types.  A problem raises InvalidRequestError naming the
field ("prompt", "sweep axis", "sweep values", "aspect ratios", "sweep") and
the rule.  No I/O: the plan is `sweeps.plan_sweep`'s.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequestError
from ..wire import rules
from .sweeps import KEYWORDS, SweepPlan, plan_sweep

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
    if name in KEYWORDS:  # client.sweep would take the values for its own setting
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


def short(text: str, limit: int) -> str:
    """One line of at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
