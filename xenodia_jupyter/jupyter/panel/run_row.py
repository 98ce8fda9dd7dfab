"""A row of the panel's run list: one click on Generate, while it runs, or
after it failed or was cancelled (until dismissed).  Its HTML is `markup`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from .. import markup
from ..markup import error_html, note_html
from .background import Background
from .widget_tools import button, close_tree, show

if TYPE_CHECKING:
    from ...wire.protocol import Task


class RunRow:
    """One run of Generate (an image, or a whole sweep): its prompt, a progress
    bar (the task's state and percent, or the sweep's cells), and Cancel (which
    stops waiting; the task ids stay in the journal).  After a failure it keeps
    the error until dismissed."""

    def __init__(self, prompt: str, settings: str, on_dismiss: Callable[[RunRow], None]) -> None:
        self.prompt = prompt
        self.task: Background | None = None  # on the kernel's engine
        self.task_id: str | None = None
        self.state = "starting"
        self.error: BaseException | None = None
        self._on_dismiss = on_dismiss
        self.title = widgets.HTML(markup.job_title_html(prompt, settings), layout=widgets.Layout(width="38%"))
        self.progress = widgets.IntProgress(value=0, min=0, max=100, bar_style="info", layout=widgets.Layout(width="24%"))
        self.progress.add_class("xenodia-job-progress")
        self.status = widgets.HTML(note_html("checking…"), layout=widgets.Layout(width="26%"))
        self.status.add_class("xenodia-job-state")
        self.cancel_button = button("Cancel", "xenodia-job-cancel", tooltip="Stop waiting (the task stays in the journal)", icon="stop", width="90px")
        self.cancel_button.on_click(self._cancel_clicked)
        self.detail = widgets.HTML("", layout=widgets.Layout(display="none"))
        self.detail.add_class("xenodia-error")
        self.box = widgets.VBox(
            [widgets.HBox([self.title, self.progress, self.status, self.cancel_button], layout=widgets.Layout(align_items="center")), self.detail],
            layout=widgets.Layout(border=f"1px solid {markup.RULE}", padding="2px 6px", margin="2px 0"),
        )
        self.box.add_class("xenodia-job")

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def report(self, task: Task) -> None:
        """`on_progress` of `client.submit`: show the task's state and percent."""
        if task.task_id:
            self.task_id = task.task_id
        self.state = task.state
        percent = task.progress if task.progress is not None else (100 if task.state == "success" else None)
        if percent is not None:
            self.progress.value = max(0, min(100, int(percent)))
        text = f"{task.state}" + (f" {percent}%" if percent is not None else "")
        self.status.value = note_html(text)
        self.status.tooltip = f"task {self.task_id}" if self.task_id else None

    def note(self, text: str) -> None:
        self.state = text
        self.status.value = note_html(text)

    def failed(self, exc: BaseException) -> None:
        self.error = exc
        self.state = "failed"
        self.progress.bar_style = "danger"
        self.status.value = note_html("failed", markup.ERROR)
        self.detail.value = error_html(exc)
        show(self.detail, True)
        self._become_dismissable()

    def cancelled(self) -> None:
        self.state = "cancelled"
        self.progress.bar_style = "warning"
        self.status.value = note_html("cancelled", markup.WARNING)
        self.detail.value = markup.cancelled_html(self.task_id)
        show(self.detail, True)
        self._become_dismissable()

    def _become_dismissable(self) -> None:
        self.cancel_button.description = "Dismiss"
        self.cancel_button.icon = "times"
        self.cancel_button.tooltip = "Remove this row"
        self.cancel_button.remove_class("xenodia-job-cancel")
        self.cancel_button.add_class("xenodia-job-dismiss")

    def _cancel_clicked(self, _button: Any) -> None:
        if self.running:
            assert self.task is not None
            self.cancel_button.disabled = True
            self.status.value = note_html("cancelling…", markup.WARNING)
            self.task.cancel()
        else:
            self._on_dismiss(self)

    def close(self) -> None:
        close_tree(self.box)
