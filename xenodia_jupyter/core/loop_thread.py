"""An asyncio loop of our own on a daemon thread, and the jobs that run on it.

Every blocking entry point drives the one async implementation through this:
`Client` owns a `LoopThread`, and in a kernel one `LoopThread` (the engine,
`jupyter/engine.py`) runs every generation.  The caller's thread never runs
an event loop of ours, and above all never re-enters one that is already
running: ipykernel's loop steps the shell messages of queued cells, and
stepping them inside a nested run loses their context and drops those cells.

The waiting thread waits in short slices, so it can draw progress between
them and a kernel interrupt (SIGINT, a `KeyboardInterrupt` in the main thread)
is seen at once.  On an interrupt the job is cancelled on the loop, and the
wait goes on, briefly, until the coroutine has journaled what it knew.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

log = logging.getLogger("xenodia_jupyter")

T = TypeVar("T")

WAIT_SLICE_S = 0.1  # how often a waiting thread wakes up to draw progress
SETTLE_S = 5.0  # after an interrupt or at close: how long a cancelled job may take to journal its state


class Job(Generic[T]):
    """A coroutine running on a `LoopThread`, seen from any thread.

    Unlike the future of `asyncio.run_coroutine_threadsafe`, this one is done
    only when the coroutine has really ended, its cancellation handling
    included, so "cancelled" means "cancelled and journaled"."""

    def __init__(self, coro: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop) -> None:
        self.future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._loop = loop
        self._task: asyncio.Task[T] | None = None
        self._cancelled = False
        loop.call_soon_threadsafe(self._start, coro)

    def _start(self, coro: Coroutine[Any, Any, T]) -> None:
        if self._cancelled:
            coro.close()
            self._mark_cancelled()
            return
        self._task = self._loop.create_task(coro)
        self._task.add_done_callback(self._settle)

    def _settle(self, task: asyncio.Task[T]) -> None:
        if task.cancelled():
            self._mark_cancelled()
        elif task.exception() is not None:
            self.future.set_exception(task.exception())
        else:
            self.future.set_result(task.result())

    def _mark_cancelled(self) -> None:
        self.future.cancel()
        # cancel() alone wakes result() but not concurrent.futures.wait(); this does.
        self.future.set_running_or_notify_cancel()

    def cancel(self) -> None:
        """Ask the coroutine to stop (safe from any thread); `done()` follows when it has."""
        self._cancelled = True
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self._loop.call_soon_threadsafe(self._cancel_on_loop)

    def _cancel_on_loop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def done(self) -> bool:
        return self.future.done()

    def cancelled(self) -> bool:
        return self.future.cancelled()

    def result(self, timeout: float | None = None) -> T:
        return self.future.result(timeout)

    def add_done_callback(self, callback: Callable[[Job[T]], Any]) -> None:
        """`callback(job)` once the coroutine has ended (on the loop's thread, or at once if done)."""
        self.future.add_done_callback(lambda _f: callback(self))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until done or `timeout`; True when done."""
        concurrent.futures.wait([self.future], timeout=timeout)
        return self.future.done()


class LoopThread:
    """A private asyncio loop in a daemon thread, started on first use."""

    def __init__(self, name: str = "xenodia-loop") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._jobs: set[Job[Any]] = set()

    @property
    def started(self) -> bool:
        return self._loop is not None

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> Job[T]:
        """Start `coro` on the loop and return at once."""
        job = Job(coro, self.loop())
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)
        return job

    def run(self, coro: Coroutine[Any, Any, T], *, on_tick: Callable[[], Any] | None = None) -> T:
        """Run `coro` on the loop and wait for its result, calling `on_tick()`
        from this thread between slices.  On `KeyboardInterrupt` the coroutine
        is cancelled and given a moment to journal its state; then the
        interrupt goes on up."""
        if threading.current_thread() is self._thread:
            raise RuntimeError(f"{self.name}: run() called from its own loop thread; await the coroutine instead")
        job = self.submit(coro)
        try:
            while not job.wait(WAIT_SLICE_S):
                if on_tick is not None:
                    on_tick()
        except KeyboardInterrupt:
            job.cancel()
            job.wait(SETTLE_S)
            raise
        return job.result()

    def pending(self) -> list[Job[Any]]:
        """The jobs that have not ended yet."""
        return [job for job in list(self._jobs) if not job.done()]

    def cancel_all(self, timeout: float = SETTLE_S) -> None:
        """Cancel every job still running and wait up to `timeout` for them to settle."""
        jobs = self.pending()
        for job in jobs:
            job.cancel()
        if jobs and threading.current_thread() is not self._thread:
            concurrent.futures.wait([job.future for job in jobs], timeout=timeout)

    def close(self, timeout: float = SETTLE_S) -> None:
        """Cancel what still runs, give it `timeout` seconds to settle, then stop
        the loop and join the thread.  The loop can be started again later."""
        self.cancel_all(timeout)
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not threading.current_thread():
            thread.join(timeout=timeout)
        if not thread.is_alive():
            loop.close()
        else:  # pragma: no cover - a coroutine that blocks its loop thread
            log.warning("%s: the loop thread did not stop within %.0f s", self.name, timeout)

