"""A batch's progress as one ipywidgets line (see `progress.py`): a bar and
the counts, updated from the loop thread while other cells run."""

from __future__ import annotations

import html

import ipywidgets as widgets
from IPython.display import display

from ..batches.progress import BatchProgress


class WidgetProgress(BatchProgress):
    def __init__(self, total: int) -> None:
        super().__init__(total)
        self.bar = widgets.IntProgress(value=0, min=0, max=max(total, 1), bar_style="info")
        self.label = widgets.HTML()
        self.box = widgets.HBox([self.bar, self.label])
        self.box.add_class("xenodia-batch-progress")
        self._handle = display(self._bundle(), raw=True, display_id=True)
        self.show()

    def _bundle(self) -> dict[str, object]:
        """The widget, with the counts in words beside it: what a saved notebook
        shows without a kernel (not "HBox(children=(IntProgress(...")."""
        bundle = dict(self.box._repr_mimebundle_() or {})
        words = f"xenodia batch: {self.line()}"
        bundle["text/plain"] = words
        bundle["text/html"] = f"<div class='xenodia-batch-saved' style='font-family:monospace;font-size:12px'>{html.escape(words)}</div>"
        return bundle

    def show(self) -> None:
        self.bar.value = self.done + self.failed
        self.label.value = f"<span style='font-size:12px;font-family:monospace'>{html.escape(self.line())}</span>"

    def close(self) -> None:
        self.show()
        self.bar.bar_style = "danger" if self.failed else "success"
        if self._handle is not None:  # the final counts, for the saved notebook
            self._handle.update(self._bundle(), raw=True)

    def discard(self) -> None:
        for widget in (self.bar, self.label, self.box):
            widget.close()
