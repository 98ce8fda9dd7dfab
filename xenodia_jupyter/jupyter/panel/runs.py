"""The panel's runs: each click on Generate is one run (an image, or a whole
sweep) with its row, newest first, while it runs or after it failed.

    runs.generate(prompt, references, aspect, resolution)   # a row, a task on the engine
    runs.sweep(spec, references)                            # a row and the sweep's grid
    runs.rows                                               # the rows (`RunRow`), oldest first

A finished run's row goes and its result joins the gallery; a failed or
cancelled one stays, with the reason, until dismissed.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from .background import Spawn
from .card import card_thumbnail
from .run_row import RunRow
from .sweep_grid import GridProgress, SweepGrid
from .widget_list import WidgetList
from .widget_tools import tagged

if TYPE_CHECKING:
    from ...batches.sweep_spec import SweepSpec
    from ...batches.sweeps import Sweep
    from ...client.async_client import AsyncClient
    from ...core.results import GenerationResult
    from ...wire.protocol import Task
    from .gallery import Gallery


class Runs:
    """`start(coro)` runs a coroutine in the background; `timeout()` is how long
    to wait for a task; `closed()` says whether the panel was closed (nothing is
    shown after that); `on_change()` runs when the running count or a row's
    state changes (the panel redraws its price line)."""

    def __init__(
        self,
        *,
        client: AsyncClient,
        gallery: Gallery,
        start: Spawn,
        timeout: Callable[[], float],
        closed: Callable[[], bool],
        on_change: Callable[[], None],
        lock: threading.RLock,
    ) -> None:
        self._client = client
        self._gallery = gallery
        self._start = start
        self._timeout = timeout
        self._closed = closed
        self._on_change = on_change
        self._lock = lock
        self.rows: WidgetList[RunRow] = WidgetList(tagged(widgets.VBox(), "xenodia-jobs"), lock, newest_first=True)

    @property
    def running(self) -> int:
        return sum(row.running for row in self.rows)

    def generate(
        self, prompt: str, references: list[Any], aspect: str, resolution: str, parent: str | None = None
    ) -> RunRow:
        """Start one generation (the request is checked already); `parent`: the
        journal id it remixes."""
        row = RunRow(prompt, f"{aspect} · {resolution}", self.dismiss)
        with self._lock:  # the run cannot end (and be dismissed) before it is listed
            self.rows.append(row)
            row.task = self._start(self._run(row, prompt, references, aspect, resolution, parent))
        return row

    def sweep(self, spec: SweepSpec, references: list[Any]) -> RunRow:
        """Show the sweep's grid of placeholders and start it."""
        row = RunRow(spec.template, f"sweep · {spec.cells} cells · {spec.resolution}", self.dismiss)
        with self._lock:  # the run cannot end (and be dismissed) before it is listed
            grid = self._gallery.add_sweep(spec)
            self.rows.append(row)
            row.task = self._start(self._run_sweep(row, grid, references))
        return row

    def dismiss(self, row: RunRow) -> None:
        self.rows.discard(row)
        self._on_change()

    def clear_finished(self) -> None:
        for row in [r for r in self.rows if not r.running]:
            self.rows.discard(row)

    async def wait(self, timeout: float | None = None) -> None:
        """Wait until every running run has ended."""
        pending = [row.task.future for row in self.rows if row.task is not None and not row.task.done()]
        if pending:
            await asyncio.wait([asyncio.wrap_future(f) for f in pending], timeout=timeout)

    # One image ------------------------------------------------------------------------------------

    async def _run(
        self, row: RunRow, prompt: str, references: list[Any], aspect: str, resolution: str, parent: str | None
    ) -> None:
        client = self._client
        try:
            request = await client.prepare(prompt, references or None, aspect_ratio=aspect, resolution=resolution)
            request.parent = parent
            row.note("sending…")

            def report(task: Task) -> None:
                row.report(task)
                self._on_change()

            deadline = time.monotonic() + self._timeout()
            result = await client.submit(request, deadline=deadline, on_progress=report)
            row.note("saving preview…")
            thumbnail = await asyncio.to_thread(card_thumbnail, result)
        except asyncio.CancelledError:
            self._unless_closed(row.cancelled)
            raise
        except Exception as exc:
            self._unless_closed(functools.partial(row.failed, exc))
            return
        self._show_result(row, result, thumbnail)

    def _show_result(self, row: RunRow, result: GenerationResult, thumbnail: bytes) -> None:
        with self._lock:
            if self._closed():
                return
            self.rows.discard(row)
            self._gallery.add(result, thumbnail)  # `results` last: code that waits on it finds the rest done
        self._on_change()

    def _unless_closed(self, show: Callable[[], None]) -> None:
        if not self._closed():
            show()
            self._on_change()

    # A sweep --------------------------------------------------------------------------------------

    async def _run_sweep(self, row: RunRow, grid: SweepGrid, references: list[Any]) -> None:
        """`client.sweep` on the engine, as one batch: every cell checked (rules,
        budget) before anything is sent; cells fill in as they finish."""
        progress = GridProgress(grid, row, on_change=self._on_change)
        spec = grid.spec
        try:
            sweep = await self._client.sweep(
                spec.template, references=references or None, timeout=self._timeout(), progress=progress, **spec.options()
            )
            await progress.settle()
            await grid.complete(sweep)
        except asyncio.CancelledError:
            self._end_sweep(grid, None, functools.partial(_sweep_cancelled, row, grid))
            raise
        except Exception as exc:
            self._end_sweep(grid, None, functools.partial(self._sweep_failed, row, grid, exc, progress.started_any))
            return
        self._end_sweep(grid, sweep, lambda: self.rows.discard(row))

    def _sweep_failed(self, row: RunRow, grid: SweepGrid, error: BaseException, sent: bool) -> None:
        row.failed(error)
        if sent:
            grid.stop("not done")
        else:  # refused before sending (a rule, the budget): the placeholders go
            self._gallery.sweep_grids.discard(grid)

    def _end_sweep(self, grid: SweepGrid, sweep: Sweep | None, show: Callable[[], Any]) -> None:
        with self._lock:
            if self._closed():
                return
            show()
            self._gallery.sweep_ended(grid, sweep)  # `sweeps` last: code that waits on it finds the rest done
        self._on_change()


def _sweep_cancelled(row: RunRow, grid: SweepGrid) -> None:
    row.cancelled()
    grid.stop("cancelled")
