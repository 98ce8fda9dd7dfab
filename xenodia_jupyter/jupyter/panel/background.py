"""The panel's background work: coroutines it started on the kernel's engine
thread and has not seen end yet.

    work = BackgroundWork(spawn, on_ended=refresh)
    started = work.start(coro)        # a `loop_thread.Job`; `on_ended()` after it ends
    list(work)                        # the ones still running
    work.cancel_all()                 # on close: stop waiting (tasks stay in the journal)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ...client.async_client import AsyncClient


class Background(Protocol):
    """What the panel's `spawn` returns for a coroutine it started (a
    `loop_thread.Job` on the kernel's engine)."""

    future: concurrent.futures.Future[Any]

    def done(self) -> bool: ...

    def cancel(self) -> None: ...

    def add_done_callback(self, callback: Callable[[Any], Any]) -> None: ...


# Runs a coroutine in the background (the panel's parts get `BackgroundWork.start`).
Spawn = Callable[[Coroutine[Any, Any, Any]], Background]


class BackgroundWork:
    """Starts coroutines with `spawn` and keeps the ones that have not ended.
    `on_ended()` runs after each has ended (success, error, cancel), so the
    panel's running count is never stale; its errors are ignored."""

    def __init__(self, spawn: Spawn, on_ended: Callable[[], Any]) -> None:
        self._spawn = spawn
        self._on_ended = on_ended
        self._running: set[Background] = set()

    def start(self, coro: Coroutine[Any, Any, Any]) -> Background:
        started = self._spawn(coro)
        self._running.add(started)

        def ended(done: Background) -> None:
            self._running.discard(done)
            with contextlib.suppress(Exception):
                self._on_ended()

        started.add_done_callback(ended)
        return started

    def __iter__(self) -> Iterator[Background]:
        return iter(list(self._running))

    def cancel_all(self) -> list[Background]:
        """Cancel every running coroutine; returns them (they end soon after)."""
        running = list(self._running)
        for started in running:
            started.cancel()
        return running

    def close_client_after(self, work: list[Background], client: AsyncClient) -> None:
        """Close `client` in the background once `work` has ended (cancelled
        generations still journal what they knew)."""
        self._spawn(_close_after(work, client))


async def _close_after(work: list[Background], client: AsyncClient) -> None:
    await asyncio.gather(*(asyncio.wrap_future(w.future) for w in work), return_exceptions=True)
    await client.aclose()


def engine_spawn(coro: Coroutine[Any, Any, Any]) -> Background:
    """Start `coro` on the kernel's engine thread."""
    from ..engine import spawn

    return spawn(coro)
