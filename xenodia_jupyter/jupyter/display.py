"""Live display helpers for the magic: one output line that updates in place
while a task runs, and the box an error is shown in (the HTML is in `markup`)."""

from __future__ import annotations

import time
from typing import Any

from IPython.display import HTML, display

from .markup import error_html, progress_html


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
        elapsed_s = time.monotonic() - self.started
        return progress_html(
            self.label, state, progress, elapsed_s, price_usd=self.price_usd, task_id=task_id, note=note
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
    """The error in plain words (headline and advice), then its type and message."""
    return HTML(error_html(error))
