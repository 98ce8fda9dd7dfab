"""The pieces of the panel: reference chips, job rows, result cards, and the
helpers they share (small JPEG thumbnails, the namespace scan, error wording,
closing a widget tree).

Widget state only ever holds small JPEG thumbnails and text: never the
full-size images, never the API key.
"""

from __future__ import annotations

import base64
import html
import io
import keyword
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

if TYPE_CHECKING:
    from PIL import Image

    from ..loop_thread import Job
    from ..protocol import Task
    from ..results import GenerationResult

CHIP_THUMB = 64  # pixels: the reference strip
CARD_THUMB = 128  # pixels: the gallery


# Small helpers -----------------------------------------------------------------------


def jpeg_thumbnail(source: bytes | Image.Image, size: int) -> bytes:
    """A small JPEG (a few KB) of encoded image bytes or a PIL image."""
    from PIL import Image

    if isinstance(source, (bytes, bytearray, memoryview)):
        im = Image.open(io.BytesIO(bytes(source)))
        im.draft("RGB", (size, size))
        factor = max(1, min(im.size) // (size * 2))
        small = im.reduce(factor) if factor > 1 else im.copy()
    else:
        small = source.copy()
    small.thumbnail((size, size), Image.Resampling.BILINEAR)
    if small.mode in ("RGBA", "LA", "P", "PA"):
        rgba = small.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        small = flat
    elif small.mode not in ("RGB", "L"):
        small = small.convert("RGB")
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=80)
    return buf.getvalue()


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


def short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def valid_name(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def namespace_images(namespace: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, name) for every PIL image, image-shaped NumPy array and
    generation result bound to a public name, in name order.  Imports nothing:
    a module the user has not imported cannot have made any of these."""
    from ..results import GenerationResult

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


def snapshot(value: Any) -> Any:
    """A copy of a NumPy array, so that editing it in place later does not change
    what was picked.  (PIL images are kept as they are: a copy would lose the
    file they came from, which is sent unchanged when the pixels are untouched.)"""
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray):
        return value.copy()
    return value


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(headline, detail) in words a person understands."""
    from ..errors import (
        APIConnectionError,
        APIError,
        AuthenticationError,
        BudgetExceededError,
        GenerationFailedError,
        InvalidRequestError,
        NotFoundError,
        PaymentRequiredError,
        RateLimitError,
        TaskTimeoutError,
        UpstreamError,
    )

    if isinstance(exc, BudgetExceededError):
        return "Over budget: nothing was sent.", exc.message
    if isinstance(exc, InvalidRequestError):
        if exc.field == "api_key":
            return (
                "No API key is set, so nothing was sent.",
                "Set XENODIA_API_KEY (or pass a client) and open a new panel. "
                "To try things for free, run the emulator: python -m xenodia_jupyter.emulator",
            )
        if exc.field == "prompt":
            return "Write a prompt first.", f"The prompt {exc.message}."
        if exc.field == "references":
            return "A reference cannot be used, so nothing was sent.", exc.message
        return "This request breaks a rule, so nothing was sent.", f"{exc.field}: {exc.message}"
    if isinstance(exc, APIError):
        said = f"The server said: {exc.message}" + (f" (request {exc.request_id})" if exc.request_id else "")
        if isinstance(exc, AuthenticationError):
            return "The API key was refused (401).", f"Check XENODIA_API_KEY, then open a new panel. {said}"
        if isinstance(exc, PaymentRequiredError):
            return (
                "The account is out of balance (402): nothing was generated.",
                f"Top up your Xenodia balance, then try again. {said}",
            )
        if isinstance(exc, RateLimitError):
            wait = f"Wait {exc.retry_after:.0f} s" if exc.retry_after else "Wait a moment"
            return "Too many requests right now (429).", f"{wait} and try again. {said}"
        if isinstance(exc, UpstreamError):
            return (
                f"The image service failed ({exc.status_code}); nothing was generated.",
                f"This is usually temporary: try again. {said}",
            )
        if isinstance(exc, NotFoundError):
            return "Something was not found (404).", said
        return f"The server refused the request ({exc.status_code}).", said
    if isinstance(exc, APIConnectionError):
        return "Could not talk to the image service.", exc.message
    if isinstance(exc, GenerationFailedError):
        detail = exc.error.get("message") or exc.error.get("code") or "no reason given"
        return "The generation failed on the server.", f"Task {exc.task_id}: {detail}"
    if isinstance(exc, TaskTimeoutError):
        return (
            f"Stopped waiting after {exc.waited_s:.0f} s; the image may still arrive.",
            f"Task {exc.task_id} (last seen {exc.last_state!r}) is kept in the journal: "
            "xj.recover() collects it later, without paying again.",
        )
    return "Something unexpected went wrong.", f"{type(exc).__name__}: {exc}"


def error_html(headline: str, detail: str = "") -> str:
    more = f"<div style='font-size:11px;color:#733'>{html.escape(detail)}</div>" if detail else ""
    return (
        "<div class='xenodia-error-text' style='border-left:3px solid #c00;padding:2px 8px;color:#900;"
        f"line-height:1.35'><b>{html.escape(headline)}</b>{more}</div>"
    )


def note_html(text: str, color: str = "#555") -> str:
    return f"<span style='font-size:12px;color:{color}'>{html.escape(text)}</span>"


def _button(description: str, css: str, *, tooltip: str = "", icon: str = "", width: str | None = None) -> Any:
    button = widgets.Button(
        description=description, tooltip=tooltip or description, icon=icon, layout=widgets.Layout(width=width)
    )
    button.add_class(css)
    return button


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
            self.picture: Any = widgets.HTML(
                "<div style='width:64px;height:64px;display:flex;align-items:center;justify-content:center;"
                "background:#eef;font-size:11px;text-align:center;overflow:hidden;word-break:break-all'>🔗 URL</div>"
            )
        else:
            self.picture = widgets.Image(
                format="jpeg", layout=widgets.Layout(width="64px", height="64px", object_fit="contain")
            )
        self.picture.add_class("xenodia-ref-thumb")  # no tooltip here: the Image view cannot take one
        self.name = widgets.HTML(
            f"<div title='{html.escape(label, quote=True)}' style='font-size:10px;width:72px;overflow:hidden;"
            f"white-space:nowrap;text-overflow:ellipsis;line-height:1.2'>{html.escape(short(label, 14))}</div>"
        )
        self.remove_button = _button("", "xenodia-ref-remove", tooltip=f"remove {label}", icon="times", width="72px")
        self.remove_button.on_click(lambda _b: on_remove(self))
        self.box = widgets.VBox(
            [self.picture, self.name, self.remove_button],
            layout=widgets.Layout(width="76px", margin="0 6px 0 0", align_items="center"),
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


# Jobs --------------------------------------------------------------------------------------------


class JobRow:
    """One running generation: its prompt, a progress bar fed by the task's
    state and percent, and Cancel (which stops waiting; the task id stays in
    the journal).  After a failure it keeps the error until dismissed."""

    def __init__(self, prompt: str, settings: str, on_dismiss: Callable[[JobRow], None]) -> None:
        self.prompt = prompt
        self.task: Job[Any] | None = None  # on the kernel's engine
        self.task_id: str | None = None
        self.state = "starting"
        self.error: BaseException | None = None
        self._on_dismiss = on_dismiss
        self.title = widgets.HTML(
            f"<span title='{html.escape(prompt, quote=True)}' style='font-size:12px'>"
            f"{html.escape(short(prompt, 40))} <span style='color:#888'>{html.escape(settings)}</span></span>",
            layout=widgets.Layout(width="38%"),
        )
        self.progress = widgets.IntProgress(value=0, min=0, max=100, bar_style="info", layout=widgets.Layout(width="24%"))
        self.progress.add_class("xenodia-job-progress")
        self.status = widgets.HTML(note_html("checking…"), layout=widgets.Layout(width="26%"))
        self.status.add_class("xenodia-job-state")
        self.cancel_button = _button("Cancel", "xenodia-job-cancel", tooltip="Stop waiting (the task stays in the journal)", icon="stop", width="90px")
        self.cancel_button.on_click(self._cancel_clicked)
        self.detail = widgets.HTML("", layout=widgets.Layout(display="none"))
        self.detail.add_class("xenodia-error")
        self.box = widgets.VBox(
            [widgets.HBox([self.title, self.progress, self.status, self.cancel_button], layout=widgets.Layout(align_items="center")), self.detail],
            layout=widgets.Layout(border="1px solid #ddd", padding="2px 6px", margin="2px 0"),
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
        headline, detail = describe_error(exc)
        self.progress.bar_style = "danger"
        self.status.value = note_html("failed", "#900")
        self.detail.value = error_html(headline, detail)
        show(self.detail, True)
        self._become_dismissable()

    def cancelled(self) -> None:
        self.state = "cancelled"
        self.progress.bar_style = "warning"
        self.status.value = note_html("cancelled", "#a60")
        if self.task_id:
            text = (
                f"Stopped waiting. Task {self.task_id} may still finish on the server; it stays in the "
                "journal, and xj.recover() collects it without paying again."
            )
        else:
            text = "Stopped before the server answered; if it was sent, xj.recover() and xj.history() know about it."
        self.detail.value = f"<div class='xenodia-cancelled' style='font-size:11px;color:#a60'>{html.escape(text)}</div>"
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
            self.status.value = note_html("cancelling…", "#a60")
            self.task.cancel()
        else:
            self._on_dismiss(self)

    def close(self) -> None:
        close_tree(self.box)


# The gallery ------------------------------------------------------------------------------------


class ResultCard:
    """One result in the gallery: a small thumbnail with the prompt as tooltip,
    and "use as reference", "save as…" and "to variable"."""

    def __init__(
        self,
        result: GenerationResult,
        thumbnail: bytes,
        *,
        name_hint: str,
        on_use: Callable[[GenerationResult], None],
        namespace: Callable[[], dict[str, Any] | None],
    ) -> None:
        self.result = result
        self._namespace = namespace
        # An <img> inside an HTML widget, so that it can carry the prompt as its
        # tooltip (ipywidgets' Image view fails to render when given a tooltip).
        self.thumbnail = thumbnail
        source = f"data:image/jpeg;base64,{base64.b64encode(thumbnail).decode()}" if thumbnail else ""
        self.image = widgets.HTML(
            f"<img src='{source}' title='{html.escape(result.prompt, quote=True)}' alt='{html.escape(short(result.prompt, 40), quote=True)}' "
            f"style='width:{CARD_THUMB}px;height:{CARD_THUMB}px;object-fit:contain;display:block'/>"
        )
        self.image.add_class("xenodia-thumb")
        bits = [b for b in (result.aspect_ratio, result.resolution) if b]
        if result.cost_usd is not None:
            bits.append(f"${result.cost_usd:.2f}")
        self.caption = widgets.HTML(
            f"<div title='{html.escape(result.prompt, quote=True)}' style='font-size:11px;line-height:1.25;"
            f"width:150px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis'>{html.escape(short(result.prompt, 40))}"
            f"<br/><span style='color:#888'>{html.escape(' · '.join(bits))}</span></div>"
        )
        self.use_button = _button("use as reference", "xenodia-use-ref", icon="plus", width="150px")
        self.use_button.on_click(lambda _b: on_use(result))
        self.save_button = _button("save as…", "xenodia-save", icon="save", width="150px")
        self.save_button.on_click(lambda _b: self._open_form("save"))
        self.var_button = _button("to variable", "xenodia-to-var", icon="code", width="150px")
        self.var_button.on_click(lambda _b: self._open_form("var"))
        self._mode = ""
        self._default_file = result.paths[0].name if result.paths else "image.png"
        self._default_name = name_hint
        self.field = widgets.Text(layout=widgets.Layout(width="100px"))
        self.field.add_class("xenodia-card-field")
        self.ok_button = _button("OK", "xenodia-card-ok", width="46px")
        self.ok_button.on_click(lambda _b: self._confirm())
        self.form = widgets.HBox([self.field, self.ok_button], layout=widgets.Layout(display="none", width="150px"))
        self.note = widgets.HTML("")
        self.note.add_class("xenodia-card-note")
        self.box = widgets.VBox(
            [self.image, self.caption, self.use_button, self.save_button, self.var_button, self.form, self.note],
            layout=widgets.Layout(width="160px", margin="0 8px 8px 0", padding="4px", border="1px solid #ddd", align_items="center"),
        )
        self.box.add_class("xenodia-card")

    def _open_form(self, mode: str) -> None:
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
                self.note.value = note_html(f"saved to {self.save_as(self.field.value)}", "#060")
            elif self._mode == "var":
                name = self.field.value.strip()
                self.to_variable(name)
                self.note.value = note_html(f"bound to {name}", "#060")
            else:
                return
        except Exception as exc:
            self.note.value = error_html(str(exc))
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
