"""Live display helpers: one output line that updates in place while a task runs."""

from __future__ import annotations

import html
import time
from typing import Any

from IPython.display import HTML, display

_STATE_ICONS = {"waiting": "⏳", "queuing": "⏳", "generating": "🎨", "success": "✅", "fail": "❌"}


class ProgressLine:
    """`display(..., display_id=True)` gives a handle whose `update()` redraws the
    same output, so a long wait costs one line of the notebook, not hundreds."""

    def __init__(self, label: str, price_usd: float | None = None) -> None:
        self.label = label
        self.price_usd = price_usd
        self.started = time.monotonic()
        self._last: tuple[Any, ...] | None = None
        self._handle = display(HTML(self._html("sending", None, None)), display_id=True)

    def _html(self, state: str, progress: int | None, task_id: str | None, note: str = "") -> str:
        elapsed = time.monotonic() - self.started
        bits = [f"{_STATE_ICONS.get(state, '⏳')} {html.escape(state)}"]
        if progress is not None:
            bits.append(f"{progress}%")
        bits.append(f"{elapsed:.0f} s")
        if self.price_usd is not None:
            bits.append(f"${self.price_usd:.2f}")
        if task_id:
            bits.append(html.escape(task_id))
        bar = ""
        if progress is not None:
            bar = (
                f'<progress value="{progress}" max="100" style="width:120px;height:10px;'
                f'vertical-align:middle;margin-right:6px"></progress>'
            )
        text = " · ".join(bits)
        if note:
            text += f" — {html.escape(note)}"
        return (
            f'<div class="xenodia-progress" style="font-family:monospace;font-size:12px;color:#444">'
            f"{bar}{html.escape(self.label)}: {text}</div>"
        )

    def update(self, state: str, progress: int | None = None, task_id: str | None = None, note: str = "") -> None:
        key = (state, progress, task_id, note, int(time.monotonic() - self.started))
        if key == self._last or self._handle is None:
            return
        self._last = key
        self._handle.update(HTML(self._html(state, progress, task_id, note)))

    def show(self, obj: Any) -> None:
        """Replace the line with `obj` (a result preview, an error box)."""
        if self._handle is not None:
            self._handle.update(obj)

    def clear(self) -> None:
        if self._handle is not None:
            self._handle.update(HTML(""))


def error_box(error: BaseException) -> HTML:
    return HTML(
        '<div class="xenodia-error" style="border-left:3px solid #c00;padding:4px 8px;color:#900;'
        f'font-family:monospace;font-size:12px">{html.escape(type(error).__name__)}: '
        f"{html.escape(str(error))}</div>"
    )
