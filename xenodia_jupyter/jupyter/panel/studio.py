"""The generation studio: an ipywidgets panel (`xj.panel()`, `%xenodia panel`).

    panel = xj.panel()
    panel.prompt.value = "a red bicycle"
    panel.aspect_ratio.value, panel.resolution.value = "16:9", "2K"
    panel.generate_button.click()      # runs in the background; the kernel stays free
    panel.results, panel.last          # GenerationResults, newest last
    panel.dropzone                     # drop or paste images: reference chips (dropzone.py)
    panel.results_view                 # the gallery: search, filter, stars, lightbox, compare (gallery.py)
    panel.remixing.load(result)        # Remix: its recipe in the form; Generate records the parent (remixing.py)

    panel.sweep_toggle.value = True    # sweep one word of the prompt (sweep_form.py)
    panel.sweep_axis.value = "style = ink wash, origami"
    panel.prompt.value = "A fox in {style}"
    panel.generate_button.click()      # one call per cell; a labelled grid in the gallery
    panel.sweeps, panel.last_sweep     # finished sweeps (`xj.Sweep`); their results join `results`

Generation runs on the kernel's engine thread (`engine.spawn`), so several
runs go at once, the kernel stays free for other cells, and runs go on while
another cell sleeps or computes; they only set widget traits, which ipykernel
sends from any thread.  One lock keeps the panel's lists and the boxes that
show them in step between the engine and the kernel's thread.  The dropdowns
start with the documented values and are refined from model discovery
without blocking construction.  The API key lives only in the client, never
in a widget trait, so it cannot end up in saved widget state; neither do
full-size images (thumbnails only).

Outside a kernel (tests, scripts) give the panel what IPython would:
`Panel(client=..., namespace=lambda: ns, settings=XenodiaSettings())`.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ...batches.sweep_spec import SweepSpec
from ...core.results import GenerationResult
from ...errors import InvalidRequestError
from ...wire import rules
from .. import markup
from ..markup import error_html
from . import sweep_markup
from .background import BackgroundWork, Spawn, engine_spawn
from .choices import Choices
from .gallery import Gallery
from .reference_chip import rereadable
from .reference_picker import Namespace, ReferencePicker
from .remixing import Remixing
from .run_row import RunRow
from .runs import Runs
from .sweep_form import SweepForm
from .widget_list import WidgetList
from .widget_tools import button, close_tree, tagged

if TYPE_CHECKING:
    from ...batches.sweeps import Sweep
    from ...client.async_client import AsyncClient
    from ...core.recipe import Recipe
    from ..settings import XenodiaSettings

__all__ = ["Panel"]


class Panel(widgets.VBox):
    """Prompt, settings, references, Generate with its price, a row per run
    (`runs.py`) and a gallery of results.  `results` holds the `GenerationResult`s, newest last.

    `client`: the AsyncClient to use (default: the kernel's, shared with the
    magic; with `budget_usd`, a client of the panel's own with that budget).
    `namespace()` returns the user's variables (default: IPython's); `spawn`
    starts a coroutine in the background (default: the kernel's engine);
    `settings` gives the defaults (default: the kernel's `XenodiaSettings`)."""

    def __init__(
        self,
        output_dir: str | None = None,
        client: AsyncClient | None = None,
        *,
        timeout: float | None = None,
        budget_usd: float | None = None,
        namespace: Namespace | None = None,
        spawn: Spawn | None = None,
        settings: XenodiaSettings | None = None,
    ) -> None:
        # No fixed widths anywhere: rows wrap and the gallery's grid reflows (480 px to a wide screen).
        super().__init__(
            layout=widgets.Layout(padding="6px", border=f"1px solid {markup.PANEL_RULE}", width="100%", max_width="1100px")
        )
        if settings is None:
            from ..settings import kernel_settings

            settings = kernel_settings()
        self.settings = settings
        self.timeout = timeout if timeout is not None else settings.timeout
        self._namespace: Namespace = namespace or _ipython_namespace
        # Plain attributes, not traits: nothing here is synced to the browser.
        self._lock = threading.RLock()
        self._closed = False
        self._background = BackgroundWork(spawn or engine_spawn, on_ended=self._refresh_price)
        self._start = self._background.start
        self.results: list[GenerationResult] = []
        self.client, self._owns_client = _make_client(client, output_dir or settings.output_dir, budget_usd)
        self._build()
        shell = _shell()
        if namespace is None and shell is not None:
            self.picker.follow_cells(shell)
        self._refresh_price()
        self._start(self._discover())  # refine the choices in the background

    # Building ------------------------------------------------------------------------

    def _build(self) -> None:
        W, L = widgets, widgets.Layout
        self.add_class("xenodia-panel")
        self.style_sheet = W.HTML(markup.panel_style_html(), layout=L(display="none"))
        self.title = W.HTML(markup.title_html("Xenodia · gpt-image-2", "generation runs in the background; the kernel stays free"))
        self.prompt = tagged(W.Textarea(placeholder="Describe the image…", rows=3, layout=L(width="auto")), "xenodia-prompt")
        self.sweep_form = SweepForm(on_change=self._refresh_price)
        self.sweep_toggle, self.sweep_axis = self.sweep_form.toggle, self.sweep_form.axis
        self.prompt.observe(lambda _c: self._prompt_changed(), "value")
        self.choices = Choices(
            aspect_ratio=self.settings.aspect_ratio,
            resolution=self.settings.resolution,
            on_change=self._refresh_price,
            say=self._say,
        )
        self.aspect_ratio, self.resolution = self.choices.aspect_ratio, self.choices.resolution
        self.picker = ReferencePicker(
            namespace=self._namespace, start=self._start, say=self._say, limit=lambda: self.max_references, lock=self._lock
        )
        self.upload = self.picker.upload
        self.generate_button = button("Generate", "xenodia-generate", icon="magic", width="auto")
        self.generate_button.button_style = "primary"
        self.generate_button.on_click(lambda _b: self._guard(self._generate))
        self.price = tagged(W.HTML(), "xenodia-price")
        self.message = tagged(W.HTML(), "xenodia-message")
        self.results_view = Gallery(
            client=self.client,
            namespace=self._namespace,
            start=self._start,
            say=self._say,
            on_use=lambda r: self._guard(lambda: self.picker.add_result(r)),
            lock=self._lock,
            on_remix=lambda r: self._guard(lambda: self.remixing.load(r)),
        )
        self.remixing = Remixing(
            self.client.store, apply=self._fill_form, say=self._say,
            use_reference=lambda name, data: self._guard(lambda: self.picker.add(data, name)),
        )
        self.picker.on_recipe_file = self.remixing.offer
        self.results = self.results_view.results  # the same list: newest last
        self.sweeps = self.results_view.sweeps  # the same list: newest last
        self.gallery, self.cards = self.results_view.grid, self.results_view.cards
        self.clear_button = self.results_view.clear_button
        self.clear_button.on_click(lambda _b: self._guard(self.clear))
        self.dropzone = self.picker.dropzone
        self.runs = Runs(
            client=self.client,
            gallery=self.results_view,
            start=self._start,
            timeout=lambda: self.timeout,
            closed=lambda: self._closed,
            on_change=self._refresh_price,
            lock=self._lock,
        )
        self.jobs: WidgetList[RunRow] = self.runs.rows  # the old public name of the run rows
        row = {"layout": L(align_items="center", flex_flow="row wrap")}
        self.children = [
            self.style_sheet,
            self.title,
            self.prompt,
            self.sweep_form,
            W.HBox([self.choices, self.sweep_toggle, self.generate_button], **row),  # two lines under ~600 px
            self.price,
            self.remixing,
            self.picker,
            self.message,
            self.jobs.box,
            self.results_view,
            self.results_view.lightbox,  # an overlay over the whole panel (CSS), so a child of the panel itself
        ]

    # Choices and the price -----------------------------------------------------------------

    async def _discover(self) -> None:
        try:
            info = await self.client.model()
        except Exception as exc:  # the client falls back by itself; this is a last resort
            self._say(error_html(exc))
            return
        if not self._closed:
            self.choices.apply(info)
            self.picker.refresh_count()

    def _refresh_price(self) -> None:
        if self._closed:
            return
        budget = getattr(self.client, "budget", None)  # a shared `Budget`; older clients kept the numbers
        spent = budget.spent_usd if budget is not None else self.client.spent_usd
        limit = budget.limit_usd if budget is not None else self.client.budget_usd
        running = self.runs.running
        price = self.choices.info.price_usd_for(self.resolution.value)
        if not self.sweep_form.active:
            self.generate_button.description = "Generate"
            self.price.value = markup.price_html(price, spent, limit, running)
            return
        spec = self._sweep_spec()
        self.generate_button.description = f"Generate {spec.cells}" if spec is not None else "Generate"
        self.price.value = sweep_markup.price_html(spec, price, spent, limit, running)

    def _prompt_changed(self) -> None:
        if self.sweep_form.active:  # the prompt is the sweep's template: check it again
            self._refresh_price()

    def _sweep_spec(self, *, strict: bool = False) -> SweepSpec | None:
        """The sweep as the fields now say (the note under the axis says what is wrong)."""
        return self.sweep_form.refresh(
            self.prompt.value, self.aspect_ratio.value, self.resolution.value, self.choices.info, strict=strict
        )

    # References ---------------------------------------------------------------------------

    @property
    def max_references(self) -> int:
        limit = self.choices.info.max_references or rules.MAX_REFERENCES
        return min(limit, rules.MAX_REFERENCES)

    @property
    def references(self) -> list[Any]:
        """What the next Generate sends as references (snapshots of what was picked)."""
        return self.picker.references

    def add_reference(self, value: Any, label: str | None = None) -> None:
        """Add a reference from Python: a URL, bytes, a PIL image, an array or a result."""
        self.picker.add(value, label)

    # Generating ----------------------------------------------------------------------------------

    def _generate(self) -> None:
        if self.sweep_form.active:
            self._generate_sweep()
            return
        prompt = self.prompt.value
        aspect, resolution = self.aspect_ratio.value, self.resolution.value
        try:
            rules.check_prompt(prompt)
            problem = rules.combination_problem(aspect, resolution)
            if problem:
                raise InvalidRequestError("resolution", problem)
        except InvalidRequestError as exc:
            self._say(error_html(exc))
            return
        self._say("")
        self.runs.generate(prompt, self.references, aspect, resolution, parent=self.remixing.parent)
        self._refresh_price()

    def _fill_form(self, recipe: Recipe) -> None:
        """A recipe in the form: its prompt, parameters and references (Remix)."""
        self.sweep_toggle.value = False
        self.prompt.value = recipe.prompt
        if recipe.aspect_ratio in self.aspect_ratio.options:
            self.aspect_ratio.value = recipe.aspect_ratio
        if recipe.resolution in self.resolution.options:  # after the ratio: it may refill these options
            self.resolution.value = recipe.resolution
        self.picker.clear()
        for number, reference in enumerate(recipe.references, 1):
            self.picker.add(reference, f"recipe reference {number}")

    @property
    def last(self) -> GenerationResult | None:
        """The newest result."""
        return self.results[-1] if self.results else None

    # Sweeping ------------------------------------------------------------------------------------

    def _generate_sweep(self) -> None:
        """Check the sweep (a problem is shown under the axis field; nothing is
        sent), show its grid of placeholders, and run it in the background."""
        spec = self._sweep_spec(strict=True)
        if spec is None:
            return
        self._say("")
        self.runs.sweep(spec, rereadable(list(self.picker.chips)))
        self._refresh_price()

    @property
    def last_sweep(self) -> Sweep | None:
        """The newest finished sweep: `xj.Sweep` (its grid, `.cell(...)`, `.to_pandas()`)."""
        return self.sweeps[-1] if self.sweeps else None

    async def wait(self, timeout: float | None = None) -> None:
        """Wait until every run has ended (`await panel.wait()` in a cell)."""
        await self.runs.wait(timeout)

    # Messages -------------------------------------------------------------------------------------------

    def _say(self, html_text: str) -> None:
        if not self._closed:
            self.message.value = html_text

    def _guard(self, action: Callable[[], Any]) -> None:
        """Run a click handler; any error is shown in the panel, never only in the log."""
        try:
            action()
        except Exception as exc:
            self._say(error_html(exc))

    # Clearing and closing -----------------------------------------------------------------------

    def clear(self) -> None:
        """Empty the gallery, the finished runs' rows and the references, closing their
        widgets.  `results` is emptied too; the files stay on disk (`xj.history()`)."""
        with self._lock:
            self.results_view.clear()
            self.runs.clear_finished()
            self.picker.clear()
            self.remixing.forget()
        self._say("")
        self._refresh_price()

    def close(self) -> None:
        """Stop waiting for running work (its tasks stay in the journal) and close
        every widget of the panel, so their models do not pile up.  A client the
        panel made for itself is closed once that work has ended."""
        if self._closed:
            return
        self._closed = True
        running = self._background.cancel_all()
        for child in self.children:
            close_tree(child)
        self.layout.close()
        super().close()
        if self._owns_client:
            self._background.close_client_after(running, self.client)

    def __repr__(self) -> str:
        sweeps = f", {len(self.sweeps)} sweep(s)" if self.sweeps else ""
        return f"<xenodia Panel: {len(self.results)} result(s){sweeps}, {self.runs.running} running>"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """What a saved notebook shows without a kernel (GitHub, nbviewer, an HTML
        export, a front end without widgets): a sentence, not the widget's repr."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            done = f" It made {len(self.results)} image(s) in that session." if self.results else ""
            words = f"The Xenodia panel: run this cell to open it.{done}"
            bundle["text/plain"] = words
            bundle["text/html"] = f"<div class='xenodia-panel-saved'><i>{html.escape(words)}</i></div>"
        return bundle


def _make_client(client: AsyncClient | None, output_dir: str | None, budget_usd: float | None) -> tuple[AsyncClient, bool]:
    """(the client, whether the panel made it and must close it)."""
    if client is not None:
        return client, False
    if budget_usd is not None:
        from ...client.async_client import AsyncClient

        return AsyncClient(output_dir=output_dir, budget_usd=budget_usd), True
    from ..engine import kernel_client

    return kernel_client(output_dir=output_dir), False


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    return get_ipython()


def _ipython_namespace() -> dict[str, Any] | None:
    shell = _shell()
    return shell.user_ns if shell is not None else None
