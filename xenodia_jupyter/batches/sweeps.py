"""Sweeps: a prompt template over axes of values, shown as a labelled grid.

    grid = xj.sweep("A {animal} in {style}", animal=["fox", "owl"], style=["ink wash", "origami"])
    grid                          # rows: animal, columns: style; a thumbnail per cell
    grid.cell(animal="fox", style="origami")
    grid.to_pandas()              # a column per axis, then ResultList.to_pandas()'s columns

`aspect_ratio`, `resolution` and `references` may be lists too: then they
are axes (a list of reference sets for `references`).  Every combination is
one call; the whole plan is checked (rules, budget) before anything is sent,
and it runs as one batch (resumable with `job=`, cached with `cache=`).
"""

from __future__ import annotations

import html
import itertools
import re
import string
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from ..core.results import GenerationResult, ResultList, render_html
from ..errors import InvalidRequestError

PARAMETER_AXES = ("aspect_ratio", "resolution", "references")
# sweep()'s own parameters: a template field so named could never be given as an
# axis (the keyword takes the list), so it is refused (tests check this list
# against the signatures of AsyncClient.sweep and Client.sweep).
KEYWORDS = (
    "self", "template", "aspect_ratio", "resolution", "references", "concurrency", "job", "cache", "dry_run",
    "progress", "timeout", "on_result",
)


@dataclass
class SweepPlan:
    """Every combination of the axes, in order (the last axis varies fastest)."""

    template: str
    axes: dict[str, list[Any]]
    cells: list[dict[str, Any]] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    price_usd: float = 0.0


def plan_sweep(template: str, axes: dict[str, list[Any]]) -> SweepPlan:
    """Check the template against the axes and list the cells; no I/O."""
    if not isinstance(template, str) or not template.strip():
        raise InvalidRequestError("template", "must be a prompt with {name} fields, such as 'A {animal} in {style}'")
    fields = {name for _text, name, _spec, _conv in string.Formatter().parse(template) if name}
    taken = sorted(fields & set(KEYWORDS))
    if taken:  # sweep(job=[...]) is the job's name, never an axis: no value could ever reach {job}
        raise InvalidRequestError("template", f"the field {{{taken[0]}}} is a keyword of sweep(); rename the field")
    prompt_axes = [name for name in axes if name not in PARAMETER_AXES]
    for name, values in axes.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise InvalidRequestError(name, f"an axis needs a non-empty list of values, not {values!r}")
    missing = sorted(fields - set(prompt_axes))
    if missing:
        raise InvalidRequestError("template", f"has {{{missing[0]}}} but no axis {missing[0]}=[...] gives its values")
    unused = [name for name in prompt_axes if name not in fields]
    if unused:
        raise InvalidRequestError(unused[0], f"is not a field of the template {template!r}")
    plan = SweepPlan(template, {k: list(v) for k, v in axes.items()})
    for combination in itertools.product(*plan.axes.values()):
        cell = dict(zip(plan.axes, combination, strict=True))
        plan.cells.append(cell)
        plan.prompts.append(template.format(**{k: v for k, v in cell.items() if k in fields}))
    return plan


class Sweep:
    """The results of a sweep, shown as a grid: the first axis as rows, the
    second as columns, any further axes as one small grid per value."""

    def __init__(self, plan: SweepPlan, results: ResultList | None = None) -> None:
        self.plan = plan
        self.results: ResultList = results if results is not None else ResultList()

    @property
    def axes(self) -> dict[str, list[Any]]:
        return self.plan.axes

    def cell(self, **values: Any) -> GenerationResult | BaseException | None:
        """The result of the cell with these axis values (all axes named)."""
        if set(values) != set(self.axes):
            raise InvalidRequestError("cell", f"name every axis: {', '.join(self.axes)}")
        for cell, result in zip(self.plan.cells, self.results, strict=False):
            if all(_same(cell[k], v) for k, v in values.items()):
                return result
        raise KeyError(values)

    def to_pandas(self) -> Any:
        """One column per axis, then the columns of `ResultList.to_pandas()`.
        An axis that is already one of those columns (`aspect_ratio`,
        `resolution`) stays where it is, filled from the plan where a failed
        cell has no result to give it."""
        frame = self.results.to_pandas()
        for name in reversed(list(self.axes)):
            planned = [_label(self.plan.cells[i][name]) for i in frame["index"]]
            if name in frame.columns:
                given = zip(frame[name], frame[name].isna(), planned, strict=True)
                frame[name] = [p if missing else value for value, missing, p in given]
            else:
                frame.insert(0, name, planned)
        return frame

    def __repr__(self) -> str:
        done = sum(isinstance(r, GenerationResult) for r in self.results)
        shape = " × ".join(f"{len(v)} {k}" for k, v in self.axes.items())
        state = f"{done} of {len(self.plan.cells)} done" if self.results else f"plan only, ${self.plan.price_usd:.2f}"
        return f"<Sweep {shape}: {state}>"

    def _repr_html_(self) -> str:
        names = list(self.axes)
        facets = list(itertools.product(*(self.axes[n] for n in names[2:]))) or [()]
        return "".join(self._grid(names, facet) for facet in facets)

    def _grid(self, names: list[str], facet: tuple[Any, ...]) -> str:
        rows = self.axes[names[0]]
        columns = self.axes[names[1]] if len(names) > 1 else [None]
        title = ", ".join(f"{n} = {_label(v)}" for n, v in zip(names[2:], facet, strict=True))
        head = "".join(f"<th>{html.escape(_label(c))}</th>" for c in columns) if len(names) > 1 else "<th></th>"
        body = []
        for row in rows:
            cells = []
            for column in columns:
                wanted = {names[0]: row, **({names[1]: column} if len(names) > 1 else {})}
                wanted.update(dict(zip(names[2:], facet, strict=True)))
                cells.append(f"<td style='vertical-align:top'>{self._cell_html(wanted)}</td>")
            body.append(f"<tr><th style='text-align:right'>{html.escape(_label(row))}</th>{''.join(cells)}</tr>")
        caption = f"<caption style='text-align:left'><b>{html.escape(title)}</b></caption>" if title else ""
        return f"<table class='xenodia-sweep'>{caption}<tr><th></th>{head}</tr>{''.join(body)}</table>"

    def _cell_html(self, wanted: dict[str, Any]) -> str:
        index = next(i for i, cell in enumerate(self.plan.cells) if all(_same(cell[k], v) for k, v in wanted.items()))
        if index >= len(self.results):  # a dry run: the prompt stands in for the picture
            return f"<div style='width:128px;font-size:11px;color:var(--jp-ui-font-color1, #333)'>{html.escape(self.plan.prompts[index])}</div>"
        return render_html([self.results[index]], size=128)


def _label(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return f"{len(value)} reference(s)" if value else "no references"
    return str(value)


def _same(a: Any, b: Any) -> bool:
    return a is b or (type(a) is type(b) and a == b) or _label(a) == _label(b)


def split_axis(spec: str) -> tuple[str, list[str]]:
    """`--sweep "style=ink wash,origami"` -> ("style", ["ink wash", "origami"])."""
    match = re.fullmatch(r"\s*([A-Za-z_]\w*)\s*=(.*)", spec, re.S)
    if not match or not match.group(2).strip():
        raise InvalidRequestError("sweep", f"{spec!r}: write name=value1,value2")
    return match.group(1), [v.strip() for v in match.group(2).split(",") if v.strip()]


def is_reference_axis(references: object) -> TypeGuard[list[Any] | tuple[Any, ...]]:
    """A list of reference sets (each a list) is an axis of a sweep; a plain list is one set."""
    return (
        isinstance(references, (list, tuple))
        and bool(references)
        and all(isinstance(r, (list, tuple)) for r in references)
    )
