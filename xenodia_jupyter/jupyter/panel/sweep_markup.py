"""The inline HTML of the panel's sweep: the note under the axis field, the
price line, and the grid's title, labels and cells.  Text from outside
(prompts, values, the server's words) is always escaped here; the colours
and the error box are `markup`'s.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from .. import markup
from ..markup import MUTED, NOTE, SUCCESS, note_html, short

if TYPE_CHECKING:
    from ...batches.sweep_spec import SweepSpec
    from ...errors import InvalidRequestError


def hint_html() -> str:
    return note_html(
        "Name one word to vary and its values, such as style = ink wash, origami, watercolor, "
        "and write {style} in the prompt: one row per value, one column per aspect ratio."
    )


def columns_label_html() -> str:
    return f"<span style='font-size:12px;color:{NOTE};margin-right:4px'>Columns:</span>"


def problem_html(error: InvalidRequestError) -> str:
    """What is wrong, next to the field: the field in bold, then the rule."""
    return (
        f"<div class='xenodia-sweep-problem'>{markup.message_html(error.field, error.message)}"
        f"<div style='font-size:11px;color:{MUTED}'>Nothing is sent until this is fixed.</div></div>"
    )


def plan_html(spec: SweepSpec, unit_usd: float) -> str:
    shape = f"{len(spec.values)} values of {{{spec.name}}}"
    if len(spec.aspect_ratios) > 1:
        shape += f" × {len(spec.aspect_ratios)} aspect ratios"
    text = f"{shape} = {spec.cells} cell{'s' if spec.cells != 1 else ''} at {spec.resolution} · ${spec.cells * unit_usd:.2f}"
    return f"<span class='xenodia-sweep-plan'>{note_html(text, SUCCESS)}</span>"


def price_html(spec: SweepSpec | None, unit_usd: float, spent_usd: float, limit_usd: float | None, running: int) -> str:
    """The price line in sweep mode: the whole sweep's price, and how it is made."""
    if spec is None:
        line = markup.price_html(0.0, spent_usd, limit_usd, running)
        return line + " " + note_html("· the sweep is not ready yet (see the note under the axis)")
    line = markup.price_html(spec.cells * unit_usd, spent_usd, limit_usd, running)
    return line + " " + note_html(f"· {spec.cells} cells × ${unit_usd:.2f}")


# The grid in the gallery ------------------------------------------------------------------------------


def grid_title_html(spec: SweepSpec, counts: str) -> str:
    return (
        f"<div title='{html.escape(spec.template, quote=True)}' style='font-size:12px'>"
        f"<b>Sweep</b> “{html.escape(short(spec.template, 70))}” "
        f"<span style='color:{MUTED}'>{spec.cells} cells · {html.escape(spec.resolution)} · {html.escape(counts)}</span></div>"
    )


def corner_html(name: str) -> str:
    return f"<div style='font-size:11px;color:{MUTED};text-align:right'>{{{html.escape(name)}}}</div>"


def column_html(aspect: str) -> str:
    return f"<div class='xenodia-sweep-column-label' style='font-size:12px;text-align:center'><b>{html.escape(aspect)}</b></div>"


def row_html(value: str) -> str:
    return (
        f"<div class='xenodia-sweep-row-label' title='{html.escape(value, quote=True)}' style='font-size:12px;"
        f"text-align:right;max-width:140px;overflow-wrap:break-word;hyphens:auto'><b>{html.escape(short(value, 60))}</b></div>"
    )


def pending_html(prompt: str, state: str) -> str:
    return (
        f"<div class='xenodia-sweep-pending' title='{html.escape(prompt, quote=True)}' style='font-size:11px;"
        f"color:{MUTED};padding:6px;border:1px dashed {markup.RULE}'>{html.escape(state)}<br/>"
        f"{html.escape(short(prompt, 60))}</div>"
    )


def failed_html(error: BaseException) -> str:
    """A failed cell: the error in its box, and all of it on hover (the cell is narrow)."""
    whole = f"{type(error).__name__}: {error}"
    return f"<div class='xenodia-sweep-failed' title='{html.escape(whole, quote=True)}'>{markup.error_html(error)}</div>"
