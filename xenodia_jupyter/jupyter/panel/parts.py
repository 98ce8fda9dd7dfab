"""The pieces of the panel: reference chips, job rows, result cards, and the
helpers they share (the namespace scan, closing a widget tree).  Their HTML
and colours are in `markup`.

Widget state only ever holds small JPEG thumbnails and text: never the
full-size images, never the API key.
"""

from __future__ import annotations

import concurrent.futures
import io
import keyword
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import ipywidgets as widgets

from .. import markup
from ..markup import CARD_PX, CHIP_PX, error_html, note_html, short

if TYPE_CHECKING:
    from ...core.results import GenerationResult
    from ...wire.protocol import Task


class Background(Protocol):
    """What the panel's `spawn` returns for a coroutine it started (a
    `loop_thread.Job` on the kernel's engine)."""

    future: concurrent.futures.Future[Any]

    def done(self) -> bool: ...

    def cancel(self) -> None: ...

    def add_done_callback(self, callback: Callable[[Any], Any]) -> None: ...

# Small helpers -----------------------------------------------------------------------


def close_tree(widget: Any) -> None:
    """Close a widget, everything inside it, and its layout and style models, so
    nothing is left behind in the kernel or the notebook's widget state."""
    for child in getattr(widget, "children", ()) or ():
        close_tree(child)
    for part in ("layout", "style"):
        sub = getattr(widget, part, None)
        if isinstance(sub, widgets.Widget):
            sub.close()
    widget.close()


def show(widget: Any, visible: bool) -> None:
    widget.layout.display = None if visible else "none"


def valid_name(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def namespace_images(namespace: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, name) for every PIL image, image-shaped NumPy array and
    generation result bound to a public name, in name order.  Imports nothing:
    a module the user has not imported cannot have made any of these."""
    from ...core.results import GenerationResult

    pil = sys.modules.get("PIL.Image")
    np = sys.modules.get("numpy")
    found = []
    for name in sorted(namespace):
        if name.startswith("_"):
            continue
        value = namespace[name]
        if isinstance(value, GenerationResult):
            if value.paths:
                found.append((f"{name} · result “{short(value.prompt, 30)}”", name))
        elif pil is not None and isinstance(value, pil.Image):
            found.append((f"{name} · image {value.width}×{value.height} {value.mode}", name))
        elif np is not None and isinstance(value, np.ndarray) and _image_shaped(value):
            shape = "×".join(str(n) for n in value.shape)
            found.append((f"{name} · array {shape} {value.dtype}", name))
    return found


def _image_shaped(array: Any) -> bool:
    if array.size == 0 or array.dtype.kind not in "biuf":
        return False
    return array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4))


def card_thumbnail(result: GenerationResult) -> bytes:
    """The JPEG a gallery card shows for `result` (b"" when its file cannot be read)."""
    try:
        return result.thumbnail(0, CARD_PX)
    except Exception:
        return b""


def snapshot(value: Any) -> Any:
    """A copy of a NumPy array, so that editing it in place later does not change
    what was picked.  (PIL images are kept as they are: a copy would lose the
    file they came from, which is sent unchanged when the pixels are untouched.)"""
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray):
        return value.copy()
    return value


def tagged(widget: Any, css: str) -> Any:
    """`widget` with the CSS class `css` (the browser tests find widgets by them)."""
    widget.add_class(css)
    return widget


def button(description: str, css: str, *, tooltip: str = "", icon: str = "", width: str | None = None) -> Any:
    return tagged(
        widgets.Button(
            description=description, tooltip=tooltip or description, icon=icon, layout=widgets.Layout(width=width)
        ),
        css,
    )


# The reference strip --------------------------------------------------------------------------


class ReferenceChip:
    """One reference in the strip: a thumbnail (or the host of a URL), a name and
    a remove button.  `payload` is what goes to `client.prepare`."""

    def __init__(self, payload: Any, label: str, kind: str, on_remove: Callable[[ReferenceChip], None]) -> None:
        self.payload = payload
        self.label = label
        self.kind = kind  # "upload", "namespace", "url" or "result"
        self.count = len(payload.paths) if kind == "result" else 1
        if kind == "url":
            self.picture: Any = widgets.HTML(markup.url_tile_html())
        else:
            side = f"{CHIP_PX}px"
            self.picture = widgets.Image(format="jpeg", layout=widgets.Layout(width=side, height=side, object_fit="contain"))
        self.picture.add_class("xenodia-ref-thumb")  # no tooltip here: the Image view cannot take one
        self.name = widgets.HTML(markup.chip_label_html(label))
        self.remove_button = button("", "xenodia-ref-remove", tooltip=f"remove {label}", icon="times", width="26px")
        self.remove_button.on_click(lambda _b: on_remove(self))
        self.box = widgets.VBox(
            [self.picture, widgets.HBox([self.name, self.remove_button], layout=widgets.Layout(align_items="center"))],
            layout=widgets.Layout(width="76px", margin="0 6px 4px 0", align_items="center"),
        )
        self.box.add_class("xenodia-ref")

    def value(self) -> Any:
        """What to pass to `client.prepare`: uploads become a fresh named file
        object each time (so the multipart part keeps the file name)."""
        if self.kind == "upload":
            stream = io.BytesIO(self.payload)
            stream.name = self.label
            return stream
        return self.payload

    def set_thumbnail(self, data: bytes) -> None:
        if isinstance(self.picture, widgets.Image) and self.picture.comm is not None:
            self.picture.value = data

    def close(self) -> None:
        close_tree(self.box)


class Upload:
    """An uploaded file as a reference that can be read any number of times:
    `__xenodia_references__()` gives a new named stream on every call.  (A
    sweep prepares its references once per aspect ratio; a stream reads once.)"""

    def __init__(self, chip: ReferenceChip) -> None:
        self.chip = chip

    def __xenodia_references__(self) -> list[Any]:
        return [self.chip.value()]


def rereadable(chips: list[ReferenceChip]) -> list[Any]:
    """What the chips send, with each upload as an `Upload`."""
    return [Upload(chip) if chip.kind == "upload" else chip.value() for chip in chips]


# Jobs --------------------------------------------------------------------------------------------


class JobRow:
    """One running generation: its prompt, a progress bar fed by the task's
    state and percent, and Cancel (which stops waiting; the task id stays in
    the journal).  After a failure it keeps the error until dismissed."""

    def __init__(self, prompt: str, settings: str, on_dismiss: Callable[[JobRow], None]) -> None:
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


# The gallery ------------------------------------------------------------------------------------


class ResultCard:
    """One result in the gallery: a small thumbnail (click: the lightbox) with the
    prompt as tooltip, a caption, and a row of icon buttons with tooltips: use
    as reference, save as…, to variable, star, reject, pick for comparing.

    `rating` is 1 (starred), -1 (rejected) or 0; `on_rate(result, rating)`
    keeps it (the panel writes it to the journal).  `on_compare(card, picked)`
    returns False to refuse a pick."""

    def __init__(
        self,
        result: GenerationResult,
        thumbnail: bytes,
        *,
        name_hint: str,
        on_use: Callable[[GenerationResult], None],
        namespace: Callable[[], dict[str, Any] | None],
        rating: int = 0,
        on_rate: Callable[[GenerationResult, int], None] | None = None,
        on_open: Callable[[ResultCard], None] | None = None,
        on_compare: Callable[[ResultCard, bool], bool] | None = None,
    ) -> None:
        from .card_face import CardFace

        self.result = result
        self.thumbnail = thumbnail
        self.rating = rating
        self._namespace = namespace
        self._on_rate = on_rate
        self._on_compare = on_compare
        facts = [b for b in (result.aspect_ratio, result.resolution) if b]
        if result.cost_usd is not None:
            facts.append(f"${result.cost_usd:.2f}")
        self.image = CardFace(
            src=markup.jpeg_data_url(thumbnail),
            title=result.prompt,
            size_px=CARD_PX,
            caption=markup.card_caption_html(result.prompt, " · ".join(facts)),
        )
        if on_open is not None:
            self.image.on_action(lambda name: on_open(self) if name == "open" else None)
        add = self.image.add_button
        self.use_button = add("use", "xenodia-use-ref", "plus", "Use as reference", lambda: on_use(result))
        self.save_button = add("save", "xenodia-save", "save", "Save a copy as…", lambda: self._open_form("save"))
        self.var_button = add("var", "xenodia-to-var", "code", "Bind to a variable", lambda: self._open_form("var"))
        self.star_button = add(
            "star", "xenodia-star", "star-o", "Star (kept in the journal)", lambda: self.rate(0 if self.rating == 1 else 1)
        )
        self.reject_button = add(
            "reject", "xenodia-reject", "ban", "Reject (kept in the journal)", lambda: self.rate(0 if self.rating == -1 else -1)
        )
        self.compare_toggle = self.image.add_toggle(
            "compare", "xenodia-compare-pick", "columns", "Pick for comparing (2 to 4)", self._compare_changed
        )
        self._mode = ""
        self._default_file = result.paths[0].name if result.paths else "image.png"
        self._default_name = name_hint
        self.form: Any = None  # "save as…" and "to variable" build it when first opened
        self.note = widgets.HTML("")
        self.note.add_class("xenodia-card-note")
        self.box = widgets.VBox(
            [self.image, self.note],
            layout=widgets.Layout(
                width=f"{markup.CARD_WIDTH_PX}px", padding="4px", border=f"1px solid {markup.RULE}", align_items="center"
            ),
        )
        self.box.add_class("xenodia-card")
        self._show_rating()

    def set_thumbnail(self, data: bytes) -> None:
        """Fill in a thumbnail made later (cards loaded from the history)."""
        self.thumbnail = data
        if self.image.comm is not None:
            self.image.src = markup.jpeg_data_url(data)

    # Rating and comparing -----------------------------------------------------------------------

    def rate(self, rating: int) -> None:
        """Star (1), reject (-1) or clear (0); kept through `on_rate`, then shown."""
        try:
            if self._on_rate is not None:
                self._on_rate(self.result, rating)
        except Exception as exc:  # shown on the card, never only in the log
            self.note.value = error_html(exc)
            return
        self.rating = rating
        self._show_rating()

    def _show_rating(self) -> None:
        starred, rejected = self.rating == 1, self.rating == -1
        self.star_button.icon = "star" if starred else "star-o"
        self.star_button.button_style = "warning" if starred else ""
        self.star_button.tooltip = "Starred: click to clear" if starred else "Star (kept in the journal)"
        self.reject_button.button_style = "danger" if rejected else ""
        self.reject_button.tooltip = "Rejected: click to clear" if rejected else "Reject (kept in the journal)"
        for css, on in (("xenodia-starred", starred), ("xenodia-rejected", rejected)):
            (self.box.add_class if on else self.box.remove_class)(css)

    def _compare_changed(self, picked: bool) -> None:
        if self._on_compare is not None and not self._on_compare(self, picked):
            self.compare_toggle.value = False

    def shown_by(self, view: str) -> bool:
        """Whether the gallery filter `view` ("all", "starred", "not rejected") shows this card."""
        if view == "starred":
            return self.rating == 1
        if view == "not rejected":
            return self.rating != -1
        return True

    # Save as… and to variable ---------------------------------------------------------------------

    def _build_form(self) -> None:
        """The small form "save as…" and "to variable" open: a field and OK (made on
        first use: every widget of a card is saved with the notebook)."""
        self.field = widgets.Text(layout=widgets.Layout(width="110px"))
        self.field.add_class("xenodia-card-field")
        self.ok_button = button("OK", "xenodia-card-ok", width="46px")
        self.ok_button.on_click(lambda _b: self._confirm())
        self.form = widgets.HBox([self.field, self.ok_button], layout=widgets.Layout(display="none", width="160px"))
        self.box.children = [*self.box.children[:-1], self.form, self.note]

    def _open_form(self, mode: str) -> None:
        if self.form is None:
            self._build_form()
        if self._mode == mode:  # a second click closes the form
            self._mode = ""
            show(self.form, False)
            return
        self._mode = mode
        self.field.value = self._default_file if mode == "save" else self._default_name
        self.field.placeholder = "file name or path" if mode == "save" else "variable name"
        self.note.value = note_html("Save a copy as:" if mode == "save" else "Bind to the name:")
        show(self.form, True)

    def _confirm(self) -> None:
        try:
            if self._mode == "save":
                self.note.value = note_html(f"saved to {self.save_as(self.field.value)}", markup.SUCCESS)
            elif self._mode == "var":
                name = self.field.value.strip()
                self.to_variable(name)
                self.note.value = note_html(f"bound to {name}", markup.SUCCESS)
            else:
                return
        except Exception as exc:
            self.note.value = markup.message_html(str(exc))
            return
        self._mode = ""
        show(self.form, False)

    def save_as(self, target: str) -> Path:
        """Copy the image file to `target` (a file name, a path, or a folder)."""
        if not target.strip():
            raise ValueError("give a file name")
        destination = Path(target.strip()).expanduser()
        if destination.is_dir():
            destination = destination / self.result.paths[0].name
        if not destination.suffix:
            destination = destination.with_suffix(self.result.paths[0].suffix)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.result.paths[0], destination)
        return destination

    def to_variable(self, name: str) -> None:
        if not valid_name(name):
            raise ValueError(f"{name!r} is not a valid Python name")
        namespace = self._namespace()
        if namespace is None:
            raise RuntimeError("no IPython namespace to bind the result in")
        namespace[name] = self.result

    def close(self) -> None:
        close_tree(self.box)
