"""The panel's references: uploads, drops (`dropzone.py`), the variable picker
and its namespace scan, URLs, the strip of chips (`reference_chip.py`) and the count.

    picker.add(image_or_array_or_result_or_url_or_bytes, label=None)
    picker.references          # what the next Generate sends

Each reference is checked as it arrives (an upload by its bytes at once; a
namespace object while its thumbnail is made in the background), and a
refused one is named with the reason.  Uploaded bytes leave the FileUpload's
state at once, so they never end up in the saved notebook.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ...core.results import GenerationResult
from ...errors import InvalidRequestError
from ...images.thumbnails import jpeg_thumbnail
from ...wire import rules
from .. import markup
from ..markup import CHIP_PX, error_html, message_html, note_html, short, title_html
from .background import Spawn
from .dropzone import DropZone
from .reference_chip import ReferenceChip
from .widget_list import WidgetList
from .widget_tools import button, tagged

ACCEPT = "image/png,image/jpeg,image/webp,.png,.jpg,.jpeg,.webp"

Namespace = Callable[[], "dict[str, Any] | None"]


class ReferencePicker(widgets.VBox):
    """The references rows of the panel.  `say(html)` shows a message in the
    panel; `start(coro)` runs a coroutine in the background; `limit()` is how
    many references the model takes."""

    def __init__(
        self,
        *,
        namespace: Namespace,
        start: Spawn,
        say: Callable[[str], None],
        limit: Callable[[], int],
        lock: threading.RLock,
    ) -> None:
        super().__init__()
        self._namespace = namespace
        self._start = start
        self._say = say
        self._limit = limit
        self._shell: Any = None
        # Set by the panel: a dropped PNG that carries its recipe (name, bytes, record).
        self.on_recipe_file: Callable[[str, bytes, dict[str, Any]], None] | None = None
        self._build()
        self.chips: WidgetList[ReferenceChip] = WidgetList(self.strip, lock)
        self.refresh_namespace()
        self.refresh_count()

    def _build(self) -> None:
        W, L = widgets, widgets.Layout
        self.ref_count = tagged(W.HTML(), "xenodia-ref-count")
        self.upload = tagged(
            W.FileUpload(accept=ACCEPT, multiple=True, description="Upload", icon="upload", layout=L(width="auto")),
            "xenodia-upload",
        )
        self.upload.observe(self._on_upload, "value")
        self.namespace_picker = tagged(
            W.Dropdown(description="Variable", options=[], layout=L(width="auto", flex="1 1 220px", max_width="380px")),
            "xenodia-ns-picker",
        )
        relist = "List the images in the namespace again"
        self.namespace_refresh = self._button(
            "", "xenodia-ns-refresh", self.refresh_namespace, icon="refresh", width="36px", tooltip=relist
        )
        self.namespace_add = self._button(
            "Add", "xenodia-ns-add", self._add_picked, icon="plus", width="auto", tooltip="Use this variable as a reference"
        )
        self.url = tagged(W.Text(placeholder="https://… image URL", layout=L(width="auto", flex="1 1 220px", max_width="380px")), "xenodia-url")
        self.url_add = self._button("Add URL", "xenodia-url-add", self.add_url, icon="link", width="auto")
        self.dropzone = DropZone(on_file=self._on_dropped, on_refused=self._on_drop_refused, on_batch_end=self._drop_ended)
        self._drop_problems: list[str] = []
        self.strip = tagged(W.HBox(layout=L(flex_flow="row wrap", min_height="0px")), "xenodia-ref-strip")
        row = {"layout": L(align_items="center", flex_flow="row wrap")}
        self.children = [
            W.HBox([W.HTML(title_html("References")), self.ref_count], **row),
            W.HBox([self.upload, self.namespace_picker, self.namespace_refresh, self.namespace_add], **row),
            W.HBox([self.url, self.url_add], **row),
            self.dropzone,
            self.strip,
        ]

    def _button(self, description: str, css: str, action: Callable[[], Any], **options: Any) -> Any:
        clickable = button(description, css, **options)
        clickable.on_click(lambda _b: self._guarded(action))
        return clickable

    def _guarded(self, action: Callable[[], Any]) -> None:
        """Run a click handler; any error is shown in the panel, never only in the log."""
        try:
            action()
        except Exception as exc:
            self._say(error_html(exc))

    # What is picked ----------------------------------------------------------------------

    @property
    def references(self) -> list[Any]:
        """What the next Generate sends (snapshots of what was picked)."""
        return [chip.value() for chip in self.chips]

    def total(self) -> int:
        return sum(chip.count for chip in self.chips)

    def refresh_count(self) -> None:
        total, limit = self.total(), self._limit()
        self.ref_count.value = note_html(f"{total} / {limit}", markup.ERROR if total > limit else markup.NOTE)

    def _no_room(self, count: int, what: str) -> str | None:
        """Why `count` more references do not fit, if they do not."""
        if self.total() + count > self._limit():
            return f"{what}: at most {self._limit()} references are allowed per request"
        return None

    def _refuse(self, problems: list[str]) -> None:
        """Say which references were not added, and why."""
        if problems:
            headline = "Not added as a reference:" if len(problems) == 1 else "Not added as references:"
            self._say(message_html(headline, "; ".join(problems)))

    def _add_chip(self, chip: ReferenceChip, make_thumbnail: Callable[[], bytes] | None = None) -> None:
        self.chips.append(chip)
        self.refresh_count()
        self._say("")
        if make_thumbnail is not None:
            self._start(self._fill_thumbnail(chip, make_thumbnail))

    def remove(self, chip: ReferenceChip) -> None:
        if self.chips.discard(chip):
            self.refresh_count()

    def clear(self) -> None:
        self.chips.clear()
        self.refresh_count()

    # Adding ----------------------------------------------------------------------------------

    def add(self, value: Any, label: str | None = None) -> None:
        """Add a reference from Python: a URL, bytes, a PIL image, an array or a result."""
        if isinstance(value, str) and "://" in value:
            self.add_url(value)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            problem = self._add_upload(bytes(value), label or "bytes")
            if problem:
                self._refuse([problem])
        elif isinstance(value, GenerationResult):
            self.add_result(value, label)
        else:
            self._add_object(value, label or type(value).__name__)

    def _on_upload(self, change: Any) -> None:
        """Files chosen in the browser: each is checked (size, type by its bytes) on arrival."""
        files = change["new"]
        if not files:
            return
        try:
            problems = []
            for item in files:
                name = item["name"] if isinstance(item, dict) else item.name
                content = item["content"] if isinstance(item, dict) else item.content
                problem = self._add_upload(bytes(content), name)
                if problem:
                    problems.append(problem)
            self._refuse(problems)
        except Exception as exc:
            self._say(error_html(exc))
        finally:
            self.upload.value = ()  # the bytes are kept by the panel, not in widget state

    def _on_dropped(self, name: str, data: bytes) -> None:
        """A dropped or pasted file: the same checks as an upload; the reasons are said per drop.
        A PNG of ours goes to `on_recipe_file` (when set), which asks what it is for."""
        if self.on_recipe_file is not None:
            from ...images.provenance import provenance_in_png

            record = provenance_in_png(data)
            if record is not None:
                self.on_recipe_file(name, data, record)
                return
        try:
            problem = self._add_upload(data, name)
        except Exception as exc:
            problem = f"{name}: {type(exc).__name__}: {exc}"
        if problem:
            self._drop_problems.append(problem)

    def _on_drop_refused(self, name: str, why: str) -> None:
        self._drop_problems.append(f"{name}: {why}")

    def _drop_ended(self) -> None:
        problems, self._drop_problems = self._drop_problems, []
        self._refuse(problems)

    def _add_upload(self, data: bytes, name: str) -> str | None:
        """Check an uploaded file on arrival; returns why it was refused, if it was."""
        from ...images.references import reference_from_bytes

        refused = self._no_room(1, name)
        if refused:
            return refused
        try:
            reference_from_bytes(data, name, f"upload {name}")
        except InvalidRequestError as exc:
            return f"{name}: {_without_label(exc.message)}"
        self._add_chip(ReferenceChip(data, name, "upload", self.remove), lambda: jpeg_thumbnail(data, CHIP_PX))
        return None

    def _already(self, kind: str, payload: Any) -> bool:
        """Whether this variable, result or URL is a reference already."""
        return any(chip.kind == kind and (chip.payload is payload or kind == "url" and chip.payload == payload) for chip in self.chips)

    def _add_object(self, value: Any, label: str) -> None:
        if any(chip.kind == "namespace" and chip.label == label for chip in self.chips):
            self._refuse([f"{label}: it is a reference already"])
            return
        refused = self._no_room(1, label)
        if refused:
            self._refuse([refused])
            return
        chip = ReferenceChip(snapshot(value), label, "namespace", self.remove)

        def check_and_thumbnail() -> bytes:
            from ...images.references import prepare_references

            (prepared,) = prepare_references([chip.payload], max_references=rules.MAX_REFERENCES)
            assert prepared.data is not None
            return jpeg_thumbnail(prepared.data, CHIP_PX)

        self._add_chip(chip, check_and_thumbnail)

    def add_result(self, result: GenerationResult, label: str | None = None) -> None:
        """A result's images as references (its files are sent unchanged)."""
        label = label or f"result “{short(result.prompt, 20)}”"
        if self._already("result", result):
            self._refuse([f"{label}: it is a reference already"])
            return
        refused = self._no_room(len(result.paths), label)
        if refused:
            self._refuse([refused])
            return
        self._add_chip(ReferenceChip(result, label, "result", self.remove), lambda: result.thumbnail(0, CHIP_PX))

    def add_url(self, url: str | None = None) -> None:
        url = (url if url is not None else self.url.value).strip()
        try:
            rules.check_reference_url(url)
        except InvalidRequestError as exc:  # said plainly: nothing was about to be sent
            self._refuse([exc.message])
            return
        if self._already("url", url):
            self._refuse([f"{url}: it is a reference already"])
            return
        refused = self._no_room(1, url)
        if refused:
            self._refuse([refused])
            return
        self._add_chip(ReferenceChip(url, url, "url", self.remove))
        self.url.value = ""

    async def _fill_thumbnail(self, chip: ReferenceChip, make: Callable[[], bytes]) -> None:
        """Make the chip's thumbnail off the loop; a reference that cannot be
        used is taken out again, with the reason."""
        try:
            data = await asyncio.to_thread(make)
        except Exception as exc:
            self.remove(chip)
            why = _without_label(exc.message) if isinstance(exc, InvalidRequestError) else f"{type(exc).__name__}: {exc}"
            self._refuse([f"{chip.label}: {why}"])
            return
        chip.set_thumbnail(data)

    # The namespace --------------------------------------------------------------------------

    def refresh_namespace(self) -> None:
        """List the PIL images, arrays and results that exist now in the user's namespace."""
        found = namespace_images(self._namespace() or {})
        current = self.namespace_picker.value
        names = [name for _label, name in found]
        self.namespace_picker.options = found
        if names:  # keep the pick when it is still there; else the first one (never nothing)
            self.namespace_picker.value = current if current in names else names[0]
        self.namespace_picker.disabled = not found
        self.namespace_add.disabled = not found
        self.namespace_picker.tooltip = None if found else "no PIL images, arrays or results in the namespace yet"

    def _add_picked(self) -> None:
        name = self.namespace_picker.value
        namespace = self._namespace() or {}
        if not name or name not in namespace:
            self.refresh_namespace()
            self._refuse([f"there is no variable {name!r} any more"])
            return
        self.add(namespace[name], name)

    def follow_cells(self, shell: Any) -> None:
        """List the namespace again after every cell `shell` runs."""
        self._shell = shell
        shell.events.register("post_run_cell", self._after_cell)

    def _after_cell(self, *_args: Any) -> None:
        with contextlib.suppress(Exception):  # never break the user's cells
            self.refresh_namespace()

    def close(self) -> None:
        if self._shell is not None:
            with contextlib.suppress(ValueError):
                self._shell.events.unregister("post_run_cell", self._after_cell)
            self._shell = None
        super().close()


def _without_label(message: str) -> str:
    """"reference (photo.gif) is a GIF image; ..." -> "it is a GIF image; ..." """
    return re.sub(r"^references?(\[\d+\])? \([^)]*\)", "it", message)


# What the namespace holds --------------------------------------------------------------------


def namespace_images(namespace: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, name) for every PIL image, image-shaped NumPy array and
    generation result bound to a public name, in name order.  Imports nothing:
    a module the user has not imported cannot have made any of these."""
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
