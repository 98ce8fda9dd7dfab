"""`%xenodia history`: the journal's newest entries as one table.

Every entry is listed, saved or not: a failed, refused, unknown or still
running one is marked with its state, because those are the ones a user
most needs to see.  Thumbnails are made only for the rows shown, when the
table is displayed (and kept beside the image for the next time).
"""

from __future__ import annotations

import base64
import html
import time
from typing import TYPE_CHECKING

from . import markup

if TYPE_CHECKING:
    from ..store.entries import JournalEntry

_MARKS = {
    "saved": ("saved", markup.SUCCESS),
    "fail": ("failed", markup.ERROR),
    "refused": ("refused (not billed)", markup.ERROR),
    "unknown": ("sent, outcome unknown: may be billed; %xenodia recover", markup.WARNING),
    "sending": ("sent, outcome unknown", markup.WARNING),
    "success": ("paid, not saved: %xenodia recover", markup.WARNING),
}


class HistoryTable:
    """What `%xenodia history` shows: newest first, one row per journal entry."""

    def __init__(self, entries: list[JournalEntry], preview_size: int = 96) -> None:
        self.entries = entries
        self.preview_size = preview_size

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        if not self.entries:
            return "No generations in the journal yet."
        lines = [f"{len(self.entries)} generation(s), newest first:"]
        for e in self.entries:
            star = {1: "*", -1: "x"}.get(e.rating, " ")
            lines.append(f"{star} {_when(e.created_at)}  {_state(e)[0]:<10.40}  {_cost(e):>6}  {_params(e):<10}  {e.prompt[:60]!r}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self.entries:
            return "<div>No generations in the journal yet.</div>"
        head = "".join(f"<th style='text-align:left'>{h}</th>" for h in ("", "when", "prompt", "settings", "cost", "state", "task"))
        rows = "".join(self._row(e) for e in self.entries)
        return f"<table class='xenodia-history'><tr>{head}</tr>{rows}</table>"

    def _row(self, e: JournalEntry) -> str:
        text, colour = _state(e)
        mark = {1: " ★", -1: " ✗ rejected"}.get(e.rating, "")
        cells = [
            self._thumb(e),
            html.escape(_when(e.created_at)),
            f"<span title='{html.escape(e.prompt, quote=True)}'>{html.escape(e.prompt[:80])}</span>",
            html.escape(_params(e)),
            html.escape(_cost(e)),
            f"<span style='color:{colour}'>{html.escape(text + mark)}</span>",
            html.escape(e.task_id or ""),
        ]
        return "<tr>" + "".join(f"<td style='text-align:left;vertical-align:middle'>{c}</td>" for c in cells) + "</tr>"

    def _thumb(self, e: JournalEntry) -> str:
        if e.state != "saved" or not e.paths or not e.paths[0].exists():
            return ""
        from ..images.thumbnails import make_thumbnail

        try:
            data = make_thumbnail(e.paths[0])
        except Exception:  # a damaged or missing file: the row still shows
            return ""
        source = base64.b64encode(data).decode()
        size = self.preview_size
        return f"<img src='data:image/jpeg;base64,{source}' style='max-width:{size}px;max-height:{size}px'/>"


def _state(e: JournalEntry) -> tuple[str, str]:
    state = getattr(e.state, "value", e.state)
    if state in _MARKS:
        return _MARKS[state]
    return (f"running ({e.server_state or state})" if e.task_id else str(state), markup.NOTE)


def _when(created_at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(created_at))


def _cost(e: JournalEntry) -> str:
    return f"${e.cost_usd:.2f}" if e.cost_usd is not None else ""


def _params(e: JournalEntry) -> str:
    bits = [e.params.get("aspect_ratio") or "", e.params.get("resolution") or ""]
    return " ".join(b for b in bits if b) or "defaults"
