"""Progress of a batch without writing it yourself: counts, spend, rate, ETA.

`generate_many(..., progress=True)` (the default in a kernel) shows one
ipywidgets line that the loop thread updates while other cells run; outside
a kernel it is one text line on stderr, redrawn in place on a terminal, and
printed once at the end when stderr is not a terminal or TERM=dumb.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any


class BatchProgress:
    """Counts of one batch, told by the batch runner as items start and end
    (`item_started`, `item_finished`, `close`); `line()` says them in words.
    Renderers subclass it and draw in `show()`.  Thread-safe."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = self.failed = self.running = self.cached = 0
        self.spent_usd = 0.0
        self.note = ""  # said after the counts (a cluster job: what each worker saved)
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def item_started(self) -> None:
        with self._lock:
            self.running += 1
        self.show()

    def item_finished(self, item: Any) -> None:
        with self._lock:
            self.running = max(0, self.running - 1)
            if isinstance(item, BaseException):
                self.failed += 1
            else:
                self.done += 1
                self.cached += bool(getattr(item, "cached", False))
                self.spent_usd += getattr(item, "cost_usd", None) or 0.0
        self.show()

    def line(self) -> str:
        finished = self.done + self.failed
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = finished / elapsed
        bits = [f"{finished}/{self.total}", f"{self.failed} failed", f"{self.running} running"]
        if self.cached:
            bits.append(f"{self.cached} cached")
        bits.append(f"${self.spent_usd:.2f}")
        if finished:
            bits.append(f"{rate:.1f}/s")
            left = self.total - finished
            if left:
                bits.append(f"ETA {left / rate:.0f} s")
        if self.note:
            bits.append(self.note)
        return " · ".join(bits)

    def show(self) -> None:
        """Draw the counts (subclasses)."""

    def close(self) -> None:
        self.show()

    def discard(self) -> None:
        """Take the display away: the batch was refused before anything started."""


class TextProgress(BatchProgress):
    """One line on stderr: redrawn in place on a terminal, else printed at the end."""

    def __init__(self, total: int, stream: Any = None) -> None:
        super().__init__(total)
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"
        self._last = 0.0

    def show(self) -> None:
        now = time.monotonic()
        if self.live and now - self._last > 0.1:
            self._last = now
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()

    def close(self) -> None:
        self.stream.write(("\r" if self.live else "") + self.line() + ("\x1b[K" if self.live else "") + "\n")
        self.stream.flush()


ProgressRenderer = Callable[[int], BatchProgress]

_notebook_renderer: ProgressRenderer | None = None


def use_notebook_renderer(renderer: ProgressRenderer) -> None:
    """How a batch shows in a kernel.  The layer that knows Jupyter (the
    package's root) tells this module; this module never imports it."""
    global _notebook_renderer
    _notebook_renderer = renderer


def make_progress(progress: bool | None, total: int) -> BatchProgress | None:
    """The display `progress` asks for: True, False, or None (True in a kernel)."""
    in_kernel = _in_kernel()
    if progress is None:
        progress = in_kernel
    if not progress:
        return None
    if in_kernel and _notebook_renderer is not None:
        return _notebook_renderer(total)
    return TextProgress(total)


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython") and getattr(sys.modules["IPython"], "get_ipython", lambda: None)()
    return shell is not None and getattr(shell, "kernel", None) is not None
