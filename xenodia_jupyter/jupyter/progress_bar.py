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
        display(self.box)
        self.show()

    def show(self) -> None:
        self.bar.value = self.done + self.failed
        self.label.value = f"<span style='font-size:12px;font-family:monospace'>{html.escape(self.line())}</span>"

    def close(self) -> None:
        self.show()
        self.bar.bar_style = "danger" if self.failed else "success"

    def discard(self) -> None:
        for widget in (self.bar, self.label, self.box):
            widget.close()
