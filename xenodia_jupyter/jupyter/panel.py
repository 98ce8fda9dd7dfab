"""The generation studio: an ipywidgets panel (`xj.panel()`, `%xenodia panel`).

    panel = xj.panel()
    panel.prompt.value = "a red bicycle"
    panel.aspect_ratio.value, panel.resolution.value = "16:9", "2K"
    panel.generate_button.click()      # runs in the background; the kernel stays free
    panel.results, panel.last          # GenerationResults, newest last

Generation runs on the kernel's engine thread (`engine.spawn`), so several
jobs run at once, the kernel stays free for other cells, and jobs go on while
another cell sleeps or computes; they only set widget traits, which
ipykernel sends from any thread.  One lock keeps the panel's lists and the
boxes that show them in step between the engine and the kernel's thread.  The dropdowns start with the documented
values and are refined from model discovery without blocking construction.
The API key lives only in the client, never in a widget trait, so it cannot
end up in saved widget state; neither do full-size images (thumbnails only).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from .. import rules
from ..errors import InvalidRequestError
from ..results import GenerationResult
from .panel_parts import (
    CARD_THUMB,
    CHIP_THUMB,
    JobRow,
    ReferenceChip,
    ResultCard,
    close_tree,
    describe_error,
    error_html,
    jpeg_thumbnail,
    namespace_images,
    note_html,
    short,
    snapshot,
)

if TYPE_CHECKING:
    from ..client import AsyncClient
    from ..loop_thread import Job
    from ..protocol import Task
    from ..rules import ModelInfo

__all__ = ["Panel"]

DEFAULT_ASPECT_RATIO = "1:1"
DEFAULT_RESOLUTION = "1K"
ACCEPT = "image/png,image/jpeg,image/webp,.png,.jpg,.jpeg,.webp"


class Panel(widgets.VBox):
    """Prompt, settings, references, Generate with its price, running jobs and a
    gallery of results.  `results` holds the `GenerationResult`s, newest last."""

    def __init__(
        self,
        output_dir: str | None = None,
        client: AsyncClient | None = None,
        *,
        timeout: float = 600.0,
        budget_usd: float | None = None,
    ) -> None:
        super().__init__()
        self.add_class("xenodia-panel")
        self.layout.padding = "6px"
        self.layout.border = "1px solid #ccc"
        self.layout.max_width = "900px"
        # Plain attributes, not traits: nothing here is synced to the browser.
        self._client_given = client
        self._output_dir = output_dir
        self._budget_usd = budget_usd
        self._client_made: AsyncClient | None = None
        self.timeout = timeout
        self.results: list[GenerationResult] = []
        self.jobs: list[JobRow] = []
        self._refs: list[ReferenceChip] = []
        self._cards: list[ResultCard] = []
        self._info: ModelInfo = rules.DEFAULT_MODEL_INFO
        self._busy = False  # set while the dropdowns are refilled
        self._closed = False
        self._background: set[Job[Any]] = set()
        self._lock = threading.RLock()
        self._build()
        self._hook_namespace()
        self._apply_info()
        self.refresh_namespace()
        self._start(self._discover())  # refine the choices in the background

    # Building ------------------------------------------------------------------------

    def _build(self) -> None:
        W, L = widgets, widgets.Layout
        self.title = W.HTML(
            "<b>Xenodia</b> · gpt-image-2 <span style='color:#888;font-size:12px'>"
            "generation runs in the background; the kernel stays free</span>"
        )
        self.prompt = W.Textarea(placeholder="Describe the image…", rows=3, layout=L(width="98%"))
        self.prompt.add_class("xenodia-prompt")
        self.aspect_ratio = W.Dropdown(description="Aspect", options=list(rules.ASPECT_RATIOS), value=DEFAULT_ASPECT_RATIO, layout=L(width="170px"))
        self.aspect_ratio.add_class("xenodia-aspect")
        self.resolution = W.Dropdown(description="Resolution", options=list(rules.RESOLUTIONS), value=DEFAULT_RESOLUTION, layout=L(width="190px"))
        self.resolution.add_class("xenodia-resolution")
        self.rule_note = W.HTML()
        self.rule_note.add_class("xenodia-rule-note")
        self.aspect_ratio.observe(self._on_aspect_ratio, "value")
        self.resolution.observe(lambda _c: self._refresh_price(), "value")

        # References: uploads, namespace images, URLs.
        self.ref_count = W.HTML()
        self.ref_count.add_class("xenodia-ref-count")
        self.upload = W.FileUpload(accept=ACCEPT, multiple=True, description="Upload", layout=L(width="110px"))
        self.upload.add_class("xenodia-upload")
        self.upload.observe(self._on_upload, "value")
        self.namespace_picker = W.Dropdown(description="Variable", options=[], layout=L(width="320px"))
        self.namespace_picker.add_class("xenodia-ns-picker")
        self.namespace_refresh = W.Button(icon="refresh", tooltip="List the images in the namespace again", layout=L(width="36px"))
        self.namespace_refresh.add_class("xenodia-ns-refresh")
        self.namespace_refresh.on_click(lambda _b: self._guard(self.refresh_namespace))
        self.namespace_add = W.Button(description="Add", tooltip="Use this variable as a reference", layout=L(width="60px"))
        self.namespace_add.add_class("xenodia-ns-add")
        self.namespace_add.on_click(lambda _b: self._guard(self._add_picked))
        self.url = W.Text(placeholder="https://… image URL", layout=L(width="320px"))
        self.url.add_class("xenodia-url")
        self.url_add = W.Button(description="Add URL", layout=L(width="80px"))
        self.url_add.add_class("xenodia-url-add")
        self.url_add.on_click(lambda _b: self._guard(self._add_url))
        self.strip = W.HBox(layout=L(flex_flow="row wrap", min_height="0px"))
        self.strip.add_class("xenodia-ref-strip")

        self.generate_button = W.Button(description="Generate", button_style="primary", icon="magic", layout=L(width="130px"))
        self.generate_button.add_class("xenodia-generate")
        self.generate_button.on_click(lambda _b: self._guard(self._generate))
        self.price = W.HTML()
        self.price.add_class("xenodia-price")
        self.message = W.HTML()
        self.message.add_class("xenodia-message")
        self.jobs_box = W.VBox()
        self.jobs_box.add_class("xenodia-jobs")
        self.gallery = W.HBox(layout=L(flex_flow="row wrap"))
        self.gallery.add_class("xenodia-gallery")
        self.clear_button = W.Button(description="Clear", icon="trash", tooltip="Empty the gallery (files stay on disk)", layout=L(width="80px"))
        self.clear_button.add_class("xenodia-clear")
        self.clear_button.on_click(lambda _b: self._guard(self.clear))
        self.gallery_title = W.HTML("<b>Results</b> <span style='color:#888;font-size:12px'>newest first</span>")

        row = {"layout": L(align_items="center", flex_flow="row wrap")}
        self.children = [
            self.title,
            self.prompt,
            W.HBox([self.aspect_ratio, self.resolution, self.rule_note], **row),
            W.HBox([W.HTML("<b>References</b>"), self.ref_count], **row),
            W.HBox([self.upload, self.namespace_picker, self.namespace_refresh, self.namespace_add], **row),
            W.HBox([self.url, self.url_add], **row),
            self.strip,
            W.HBox([self.generate_button, self.price], **row),
            self.message,
            self.jobs_box,
            W.HBox([self.gallery_title, self.clear_button], **row),
            self.gallery,
        ]

    # The client and discovery ------------------------------------------------------------

    @property
    def client(self) -> AsyncClient:
        """The AsyncClient this panel generates with (bound to the kernel's loop)."""
        if self._client_given is not None:
            return self._client_given
        if self._client_made is None:
            from .engine import kernel_client

            budget = self._budget_usd if self._budget_usd is not None else _magics_setting("budget_usd")
            output_dir = self._output_dir or _magics_setting("output_dir")
            self._client_made = kernel_client(output_dir=output_dir, budget_usd=budget)
        return self._client_made

    async def _discover(self) -> None:
        try:
            self._info = await self.client.model()
        except Exception as exc:  # the client falls back by itself; this is a last resort
            self._say_error(exc)
            return
        if not self._closed:
            self._apply_info()

    def _apply_info(self) -> None:
        info = self._info
        wanted = self.aspect_ratio.value
        if wanted not in info.aspect_ratios:
            wanted = DEFAULT_ASPECT_RATIO if DEFAULT_ASPECT_RATIO in info.aspect_ratios else info.aspect_ratios[0]
        if tuple(self.aspect_ratio.options) != tuple(info.aspect_ratios):
            self._busy = True
            try:
                self.aspect_ratio.options = list(info.aspect_ratios)
            finally:
                self._busy = False
        self.aspect_ratio.value = wanted
        self._apply_rules()
        self._refresh_count()
        self._refresh_price()

    def _on_aspect_ratio(self, _change: Any) -> None:
        if not self._busy:
            self._guard(self._apply_rules)

    def _apply_rules(self) -> None:
        """Offer only the resolutions the aspect ratio allows, and say why."""
        aspect = self.aspect_ratio.value
        allowed = rules.allowed_resolutions(aspect, self._info.resolutions)
        current = self.resolution.value
        if current not in allowed:  # the nearest allowed one, in the full order
            order = list(self._info.resolutions)
            position = order.index(current) if current in order else 0
            current = min(allowed, key=lambda r: abs(order.index(r) - position)) if allowed else None
        if tuple(self.resolution.options) != allowed:
            self._busy = True
            try:
                self.resolution.options = list(allowed)
            finally:
                self._busy = False
        self.resolution.value = current
        ruled_out = [r for r in self._info.resolutions if r not in allowed]
        if not ruled_out:
            self.rule_note.value = ""
        elif aspect == "auto":
            self.rule_note.value = note_html(f"“auto” allows only {', '.join(allowed)}, so {', '.join(ruled_out)} cannot be chosen")
        else:
            self.rule_note.value = note_html(f"{aspect} cannot be combined with {', '.join(ruled_out)}")
        self._refresh_price()

    def _refresh_price(self) -> None:
        if self._closed:
            return
        price = self._info.price_usd_for(self.resolution.value)
        client = self._client_given or self._client_made
        spent = client.spent_usd if client is not None else 0.0
        budget = client.budget_usd if client is not None else self._budget_usd
        text = f"<b>${price:.2f}</b> for the next click · spent this session: ${spent:.2f}"
        if budget is not None:
            text += f" of a ${budget:.2f} budget"
        running = sum(job.running for job in self.jobs)
        if running:
            text += f" · {running} running"
        self.price.value = f"<span style='font-size:13px'>{text}</span>"

    # References ---------------------------------------------------------------------------

    @property
    def max_references(self) -> int:
        limit = self._info.max_references or rules.MAX_REFERENCES
        return min(limit, rules.MAX_REFERENCES)

    @property
    def references(self) -> list[Any]:
        """What the next Generate sends as references (snapshots of what was picked)."""
        return [chip.value() for chip in self._refs]

    def _reference_total(self) -> int:
        return sum(chip.count for chip in self._refs)

    def _refresh_count(self) -> None:
        total, limit = self._reference_total(), self.max_references
        color = "#900" if total > limit else "#555"
        self.ref_count.value = note_html(f"{total} / {limit}", color)

    def _room_for(self, count: int, what: str) -> bool:
        if self._reference_total() + count > self.max_references:
            self._refuse([f"{what}: at most {self.max_references} references are allowed per request"])
            return False
        return True

    def _refuse(self, problems: list[str]) -> None:
        """Say which references were not added, and why."""
        if problems:
            headline = "Not added as a reference:" if len(problems) == 1 else "Not added as references:"
            self._say(error_html(headline, "; ".join(problems)))

    def _add_chip(self, chip: ReferenceChip) -> None:
        with self._lock:
            self._refs.append(chip)
            self.strip.children = [*self.strip.children, chip.box]
            self._refresh_count()

    def remove_reference(self, chip: ReferenceChip) -> None:
        with self._lock:
            if chip not in self._refs:
                return
            self._refs.remove(chip)
            self.strip.children = [c for c in self.strip.children if c is not chip.box]
            self._refresh_count()
        chip.close()

    def add_reference(self, value: Any, label: str | None = None) -> None:
        """Add a reference from Python: a URL, bytes, a PIL image, an array or a result."""
        if isinstance(value, str) and "://" in value:
            self._add_url(value)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            self._add_upload(bytes(value), label or "bytes")
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
            if problems:
                self._refuse(problems)
            else:
                self._say("")
        except Exception as exc:
            self._say_error(exc)
        finally:
            self.upload.value = ()  # the bytes are kept by the panel, not in widget state

    def _add_upload(self, data: bytes, name: str) -> str | None:
        """Check an uploaded file on arrival; returns why it was refused, if it was."""
        from ..references import reference_from_bytes

        if self._reference_total() + 1 > self.max_references:
            return f"{name}: at most {self.max_references} references are allowed per request"
        try:
            reference_from_bytes(data, name, f"upload {name}")
        except InvalidRequestError as exc:
            return f"{name}: {_without_label(exc.message)}"
        chip = ReferenceChip(data, name, "upload", self.remove_reference)
        self._add_chip(chip)
        self._start(self._fill_thumbnail(chip, lambda: jpeg_thumbnail(data, CHIP_THUMB)))
        return None

    def refresh_namespace(self) -> None:
        """List the PIL images, arrays and results that exist now in the user's namespace."""
        if self._closed:
            return
        found = namespace_images(_user_namespace() or {})
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
        namespace = _user_namespace() or {}
        if not name or name not in namespace:
            self.refresh_namespace()
            self._refuse([f"there is no variable {name!r} any more"])
            return
        self._add_object(namespace[name], name)

    def _add_object(self, value: Any, label: str) -> None:
        if isinstance(value, GenerationResult):
            self._use_result(value, label)
            return
        if not self._room_for(1, label):
            return
        chip = ReferenceChip(snapshot(value), label, "namespace", self.remove_reference)
        self._add_chip(chip)
        self._say("")

        def check_and_thumbnail() -> bytes:
            from ..references import prepare_references

            (prepared,) = prepare_references([chip.payload], max_references=rules.MAX_REFERENCES)
            assert prepared.data is not None
            return jpeg_thumbnail(prepared.data, CHIP_THUMB)

        self._start(self._fill_thumbnail(chip, check_and_thumbnail))

    def _use_result(self, result: GenerationResult, label: str | None = None) -> None:
        label = label or f"result “{short(result.prompt, 20)}”"
        if not self._room_for(len(result.paths), label):
            return
        chip = ReferenceChip(result, label, "result", self.remove_reference)
        self._add_chip(chip)
        self._say("")
        self._start(self._fill_thumbnail(chip, lambda: result.thumbnail(0, CHIP_THUMB)))

    def _add_url(self, url: str | None = None) -> None:
        url = (url if url is not None else self.url.value).strip()
        try:
            rules.check_reference_url(url)
        except InvalidRequestError as exc:
            self._say_error(exc)
            return
        if not self._room_for(1, url):
            return
        self._add_chip(ReferenceChip(url, url, "url", self.remove_reference))
        self.url.value = ""
        self._say("")

    async def _fill_thumbnail(self, chip: ReferenceChip, make: Any) -> None:
        """Make the chip's thumbnail off the loop; a reference that cannot be
        used is taken out again, with the reason."""
        try:
            data = await asyncio.to_thread(make)
        except Exception as exc:
            self.remove_reference(chip)
            why = _without_label(exc.message) if isinstance(exc, InvalidRequestError) else describe_error(exc)[1]
            self._refuse([f"{chip.label}: {why}"])
            return
        chip.set_thumbnail(data)

    # Generating ----------------------------------------------------------------------------------

    def _generate(self) -> None:
        prompt = self.prompt.value
        aspect, resolution = self.aspect_ratio.value, self.resolution.value
        try:
            rules.check_prompt(prompt)
            problem = rules.combination_problem(aspect, resolution)
            if problem:
                raise InvalidRequestError("resolution", problem)
        except InvalidRequestError as exc:
            self._say_error(exc)
            return
        self._say("")
        job = JobRow(prompt, f"{aspect} · {resolution}", self._dismiss)
        with self._lock:
            self.jobs.append(job)
            self.jobs_box.children = [job.box, *self.jobs_box.children]
            job.task = self._start(self._run(job, prompt, self.references, aspect, resolution))
        self._refresh_price()

    async def _run(self, job: JobRow, prompt: str, references: list[Any], aspect: str, resolution: str) -> None:
        client = self.client

        def report(task: Task) -> None:
            job.report(task)
            self._refresh_price()

        try:
            request = await client.prepare(prompt, references or None, aspect_ratio=aspect, resolution=resolution)
            job.note("sending…")
            deadline = time.monotonic() + self.timeout
            result = await client.submit(request, deadline=deadline, on_progress=report)
            job.note("saving preview…")
            thumbnail = await asyncio.to_thread(_safe_thumbnail, result)
        except asyncio.CancelledError:
            if not self._closed:
                job.cancelled()
                self._refresh_price()
            raise
        except Exception as exc:
            if not self._closed:
                job.failed(exc)
                self._refresh_price()
            return
        with self._lock:
            if self._closed:
                return
            card = ResultCard(
                result,
                thumbnail,
                name_hint=f"result_{len(self.results) + 1}",
                on_use=lambda r: self._guard(lambda: self._use_result(r)),
                namespace=_user_namespace,
            )
            self._cards.append(card)
            self.gallery.children = [card.box, *self.gallery.children]
            self._dismiss(job)
            self.results.append(result)  # last: code that waits on `results` finds the rest done

    @property
    def last(self) -> GenerationResult | None:
        """The newest result."""
        return self.results[-1] if self.results else None

    def _dismiss(self, job: JobRow) -> None:
        with self._lock:
            if job in self.jobs:
                self.jobs.remove(job)
                self.jobs_box.children = [b for b in self.jobs_box.children if b is not job.box]
                job.close()
        self._refresh_price()

    async def wait(self, timeout: float | None = None) -> None:
        """Wait until every running job has ended (`await panel.wait()` in a cell)."""
        with self._lock:
            pending = [job.task.future for job in self.jobs if job.task is not None and not job.task.done()]
        if pending:
            await asyncio.wait([asyncio.wrap_future(f) for f in pending], timeout=timeout)

    # Messages -------------------------------------------------------------------------------------

    def _say(self, html_text: str) -> None:
        if not self._closed:
            self.message.value = html_text

    def _say_error(self, exc: BaseException) -> None:
        headline, detail = describe_error(exc)
        self._say(error_html(headline, detail))

    def _guard(self, action: Any) -> None:
        """Run a click handler; any error is shown in the panel, never only in the log."""
        try:
            action()
        except Exception as exc:
            self._say_error(exc)

    def _start(self, coro: Coroutine[Any, Any, Any]) -> Job[Any]:
        """Run `coro` on the engine.  When it has ended (success, error, cancel),
        the price line is redrawn, so the running count is never stale."""
        from .engine import spawn

        job = spawn(coro)
        self._background.add(job)

        def ended(done: Job[Any]) -> None:
            self._background.discard(done)
            with contextlib.suppress(Exception):
                self._refresh_price()

        job.add_done_callback(ended)
        return job

    # Namespace refresh after each cell ------------------------------------------------------------

    def _hook_namespace(self) -> None:
        shell = _shell()
        if shell is not None:
            shell.events.register("post_run_cell", self._after_cell)

    def _after_cell(self, *_args: Any) -> None:
        with contextlib.suppress(Exception):  # never break the user's cells
            self.refresh_namespace()

    # Clearing and closing -----------------------------------------------------------------------

    def clear(self) -> None:
        """Empty the gallery, the finished jobs and the references, closing their
        widgets.  `results` is emptied too; the files stay on disk (`xj.history()`)."""
        with self._lock:
            for card in self._cards:
                card.close()
            self._cards.clear()
            self.gallery.children = []
            self.results.clear()
            for job in [j for j in self.jobs if not j.running]:
                self._dismiss(job)
            for chip in list(self._refs):
                self.remove_reference(chip)
        self._say("")

    def close(self) -> None:
        """Stop waiting for running jobs (their tasks stay in the journal) and close
        every widget of the panel, so their models do not pile up."""
        if self._closed:
            return
        self._closed = True
        shell = _shell()
        if shell is not None:
            with contextlib.suppress(ValueError):
                shell.events.unregister("post_run_cell", self._after_cell)
        for job in list(self._background):
            job.cancel()
        for child in self.children:
            close_tree(child)
        self.layout.close()
        super().close()

    def __repr__(self) -> str:
        return f"<xenodia Panel: {len(self.results)} result(s), {sum(j.running for j in self.jobs)} running>"


def _without_label(message: str) -> str:
    """"reference (photo.gif) is a GIF image; ..." -> "it is a GIF image; ..." """
    return re.sub(r"^references?(\[\d+\])? \([^)]*\)", "it", message)


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    return get_ipython()


def _magics_setting(name: str) -> Any:
    """A setting of the loaded `%%xenodia` magics (`%config XenodiaMagics.budget_usd = 1`),
    so the panel and the magics share one budget and output folder."""
    shell = _shell()
    if shell is None:
        return None
    magics = shell.magics_manager.registry.get("XenodiaMagics")
    return getattr(magics, name, None)


def _user_namespace() -> dict[str, Any] | None:
    shell = _shell()
    return shell.user_ns if shell is not None else None


def _safe_thumbnail(result: GenerationResult) -> bytes:
    try:
        return result.thumbnail(0, CARD_THUMB)
    except Exception:
        return b""

