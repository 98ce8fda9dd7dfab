"""CompareView: two results at a time, the way people use imgsli, in one
anywidget (static/compare_view.js and .css; no build step).

    view = CompareView(results, baseline=0)   # 2 to 4 (or more) GenerationResults
    view.results = other_results              # settable; a baseline still among them stays pinned
    view.mode = "swipe"                       # "side by side" | "swipe" | "flip" | "difference"
    view.step(1); view.pin(2); view.show(3)   # the right side; the baseline; either
    view.flip(); view.split = 0.3; view.zoom = 2.0

The baseline stays on the left; ← and → (or ‹ and ›) step the right side
through the others, and the pin button makes the right one the baseline.
Swipe: drag the divider.  Flip: F or the space bar toggles between the two.
Difference: the per-pixel difference as a heat map, made here with Pillow
from the two previews (see difference.py) and sent as a small JPEG, with its
numbers in `view.note`.  Zoom (the wheel once the view has been clicked, or
the buttons) and pan (drag) move both pictures together.

Pictures travel as custom-message buffers, only the pair on screen, never in
the widget state, so a saved notebook holds none of them: previews of at most
VIEW_PX, and only once the view is zoomed past a preview's own pixels, of at
most LARGE_PX (never the full-size file).  The picture work runs on one worker
thread, so the kernel stays free; `view.wait()` blocks until it has caught up.
`view.shown` holds the bytes last sent ("left", "right", "difference").

Embedding: the panel's compare strip and the library gallery hold one
CompareView each and set `.results` when their selection changes.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from .difference import LARGE_PX, VIEW_PX, legend, png
from .previews import Previews

if TYPE_CHECKING:
    from ...core.results import GenerationResult

MODES = ("side by side", "swipe", "flip", "difference")
MAX_ZOOM = 16.0
TITLE_CHARS = 300  # a prompt in the state: the tooltip and the label's source

STATIC = Path(__file__).with_name("static")
_POOL: concurrent.futures.ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="xenodia-compare")
        return _POOL


_LEGEND: bytes | None = None


def _legend_png() -> bytes:
    global _LEGEND
    if _LEGEND is None:
        _LEGEND = png(legend())
    return _LEGEND


class CompareView(anywidget.AnyWidget):
    """Compare results two at a time: side by side, swipe, flip, difference."""

    _esm = traitlets.Unicode((STATIC / "compare_view.js").read_text(encoding="utf-8")).tag(sync=True)
    _css = traitlets.Unicode((STATIC / "compare_view.css").read_text(encoding="utf-8")).tag(sync=True)
    mode = traitlets.Enum(MODES, default_value="side by side").tag(sync=True)
    baseline = traitlets.Int(0).tag(sync=True)
    current = traitlets.Int(1).tag(sync=True)
    titles = traitlets.List(traitlets.Unicode()).tag(sync=True)  # each result's prompt
    split = traitlets.Float(0.5).tag(sync=True)  # the swipe divider, 0 (left edge) to 1
    flipped = traitlets.Bool(False).tag(sync=True)  # flip mode shows the right one
    zoom = traitlets.Float(1.0).tag(sync=True)
    center_x = traitlets.Float(0.5).tag(sync=True)  # the point in the middle of the view, 0 to 1
    center_y = traitlets.Float(0.5).tag(sync=True)
    picture_px = traitlets.Int(VIEW_PX).tag(sync=True)  # the size of the pictures being sent
    large_px = traitlets.Int(LARGE_PX).tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)  # the difference's numbers, or why a picture is missing

    def __init__(self, results: Sequence[GenerationResult] = (), *, baseline: int = 0, **kwargs: Any) -> None:
        self._results: list[GenerationResult] = []
        self._previews = Previews()
        self._asked = 0  # counts requests: the worker drops any that a newer one replaced
        self._future: concurrent.futures.Future[None] | None = None
        self._sent_pair: tuple[int, int, int] | None = None
        self.shown: dict[str, bytes] = {}
        super().__init__(**kwargs)
        self.on_msg(self._receive)
        self.set_results(results, baseline=baseline)

    # The results ----------------------------------------------------------------------------

    @property
    def results(self) -> list[GenerationResult]:
        return list(self._results)

    @results.setter
    def results(self, results: Sequence[GenerationResult]) -> None:
        self.set_results(results)

    def set_results(self, results: Sequence[GenerationResult], *, baseline: int | None = None) -> None:
        """Show `results`.  Without `baseline`, the baseline and the right side stay
        the same results if they are still among them."""
        old = self._results
        kept_base = old[self.baseline] if 0 <= self.baseline < len(old) else None
        kept_other = old[self.current] if 0 <= self.current < len(old) else None
        self._results = list(results)
        count = len(self._results)
        if baseline is None:
            baseline = _index_of(self._results, kept_base, 0)
        base = min(max(baseline, 0), max(count - 1, 0))
        other = _index_of(self._results, kept_other, -1)
        if other in (-1, base):
            other = (base + 1) % count if count > 1 else 0
        self._sent_pair = None
        self.shown = {}
        with self.hold_trait_notifications():
            self.titles = [r.prompt[:TITLE_CHARS] for r in self._results]
            self.baseline, self.current = base, other
            self.note = ""
        self._refresh(pictures=True)

    # What the buttons and keys do -------------------------------------------------------------

    def step(self, by: int = 1) -> None:
        """Move the right side `by` places through the results other than the baseline."""
        others = [i for i in range(len(self._results)) if i != self.baseline]
        if not others:
            return
        at = others.index(self.current) if self.current in others else 0
        self.current = others[(at + by) % len(others)]

    def pin(self, index: int | None = None) -> None:
        """Make `index` (default: the right one) the baseline; the old baseline goes right."""
        index = self.current if index is None else index
        if not 0 <= index < len(self._results) or index == self.baseline:
            return
        with self.hold_trait_notifications():
            self.baseline, self.current = index, self.baseline

    def show(self, index: int) -> None:
        """Show `index` on the right (the baseline's own index pins nothing)."""
        if 0 <= index < len(self._results) and index != self.baseline:
            self.current = index

    def flip(self) -> None:
        if self.mode != "flip":
            self.mode, self.flipped = "flip", True
        else:
            self.flipped = not self.flipped

    def larger(self) -> None:
        """Send the pair again at LARGE_PX (the view was zoomed past the preview)."""
        self.picture_px = self.large_px

    def wait(self, timeout: float = 60) -> None:
        """Block until the pictures asked for so far have been made and sent."""
        future = self._future
        if future is not None:
            future.result(timeout=timeout)

    def close(self) -> None:
        self._asked += 1
        self._results, self.shown = [], {}
        self._previews.clear()
        super().close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget, with words for a notebook read without a kernel (the pictures are not saved)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle  # (data, metadata) or data
        if isinstance(data, dict):
            data["text/plain"] = f"CompareView of {len(self._results)} results; run the cell to compare them"
        return bundle

    # Traits ----------------------------------------------------------------------------------

    @traitlets.validate("split")
    def _valid_split(self, proposal: Any) -> float:
        return min(max(float(proposal["value"]), 0.0), 1.0)

    @traitlets.validate("zoom")
    def _valid_zoom(self, proposal: Any) -> float:
        return min(max(float(proposal["value"]), 1.0), MAX_ZOOM)

    @traitlets.validate("picture_px")
    def _valid_px(self, proposal: Any) -> int:
        return min(max(int(proposal["value"]), 64), LARGE_PX)

    @traitlets.observe("baseline", "current", "picture_px")
    def _pair_changed(self, change: Any) -> None:
        count = len(self._results)
        if count > 1 and (self.current == self.baseline or not 0 <= self.current < count):
            self.current = (self.baseline + 1) % count  # observed again, with a valid pair
            return
        if change["name"] != "picture_px" and self.zoom <= 1 and self.picture_px != VIEW_PX:
            self.picture_px = VIEW_PX  # a new pair, not zoomed: previews again (observed again)
            return
        self._refresh(pictures=True)

    @traitlets.observe("mode")
    def _mode_changed(self, change: Any) -> None:
        if change["new"] == "difference":
            self._refresh(pictures=False)

    def _receive(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        event = content.get("event")
        if event == "ready":  # a view was drawn (or drawn again): it has no pictures yet
            self._sent_pair = None
            self._refresh(pictures=True)
        elif event == "step":
            self.step(int(content.get("by", 1)))
        elif event == "pin":
            index = content.get("index")
            self.pin(int(index) if isinstance(index, (int, float)) else None)
        elif event == "show":
            self.show(int(content.get("index", -1)))
        elif event == "larger":
            self.larger()

    # The pictures, made on the worker thread ---------------------------------------------------

    def _refresh(self, *, pictures: bool) -> None:
        pair = (self.baseline, self.current, self.picture_px)
        if len(self._results) >= 2 and pictures and pair == self._sent_pair:
            return
        if self._future is not None and not self._future.done():
            pictures = True  # the job this one replaces may not have sent them yet
        self._asked += 1  # whatever the worker is making now will not be sent
        if len(self._results) < 2:
            self._sent_pair = None
            self._post({"kind": "clear"})
            return
        self._sent_pair = pair
        left, right = self._results[self.baseline], self._results[self.current]
        self._future = _pool().submit(self._make, self._asked, pair, (left, right), pictures, self.mode == "difference")

    def _make(
        self, asked: int, pair: tuple[int, int, int], results: tuple[Any, Any], pictures: bool, difference: bool
    ) -> None:
        base, other, px = pair
        left, right = results
        try:
            if pictures and asked == self._asked:
                shots = [self._previews.get(left, px), self._previews.get(right, px)]
                if asked != self._asked:
                    return
                self.shown = {"left": shots[0].jpeg, "right": shots[1].jpeg}
                sizes = [list(s.image.size) for s in shots]
                self._post(
                    {"kind": "pictures", "pair": [base, other], "px": px, "sizes": sizes}, [s.jpeg for s in shots]
                )
            if difference and asked == self._asked:
                heat, stats = self._previews.difference(left, right, px)
                if asked != self._asked:
                    return
                self.shown["difference"] = heat
                self.note = stats.describe()
                self._post({"kind": "difference", "pair": [base, other], "px": px}, [heat, _legend_png()])
        except Exception as exc:  # a missing or unreadable file: said in the view, the rest works
            if asked == self._asked:
                self.note = f"could not show this pair: {type(exc).__name__}: {exc}"
                self._post({"kind": "error", "pair": [base, other]})

    def _post(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        if self.comm is not None:
            self.send(content, buffers)


def _index_of(results: list[Any], wanted: Any, default: int) -> int:
    for i, result in enumerate(results):
        if result is wanted:
            return i
    return default
