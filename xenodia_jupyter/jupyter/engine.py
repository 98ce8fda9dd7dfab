"""The kernel's engine: one loop thread that runs every generation in this kernel.

The blocking magic, `--background`, `-n`, `%xenodia recover`, `models` and
the panel all hand their coroutines to one `LoopThread`, which also owns the
kernel's `AsyncClient`s and so their connection pools.  The kernel's own
asyncio loop is never re-entered (that dropped the cells a front end queues
behind a magic, see `loop_thread.py`), and background work does not depend on
it turning: it goes on while another cell sleeps or computes, and updates its
widgets and display handles from the engine thread, which ipykernel allows.

The engine starts on first use and is closed, with its clients, when the
extension is unloaded or the kernel exits.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ..core.budget import Budget
from ..core.loop_thread import Job, LoopThread

if TYPE_CHECKING:
    from ..client.async_client import AsyncClient

T = TypeVar("T")

_engine = LoopThread(name="xenodia-engine")
_clients: dict[tuple[str | None, ...], AsyncClient] = {}
_lock = threading.Lock()
_atexit_registered = False
_budget: Budget | None = None  # the session's spend, shared by every kernel client


def engine() -> LoopThread:
    """The kernel's loop thread (started on first use)."""
    global _atexit_registered
    with _lock:
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
    return _engine


def run_blocking(coro: Coroutine[Any, Any, T], *, on_tick: Callable[[], Any] | None = None) -> T:
    """Run `coro` on the engine and wait for it from this (the cell's) thread,
    calling `on_tick()` between short waits.  A kernel interrupt cancels the
    coroutine, lets it journal, and raises `KeyboardInterrupt` here."""
    return engine().run(coro, on_tick=on_tick)


def spawn(coro: Coroutine[Any, Any, T]) -> Job[T]:
    """Start `coro` on the engine and return at once."""
    return engine().submit(coro)


def kernel_client(*, output_dir: str | None = None) -> AsyncClient:
    """One AsyncClient per key, base URL and output folder, used only on the
    engine's loop.  A new key or base URL in the environment gives a new client.
    Every kernel client draws on one budget, whose limit is
    `XenodiaSettings.budget_usd`: the magic and the panel share one spend."""
    from ..client.async_client import AsyncClient
    from .settings import kernel_settings

    settings = kernel_settings()
    output_dir = output_dir or settings.output_dir
    key = (
        os.environ.get("XENODIA_API_KEY"),
        os.environ.get("XENODIA_BASE_URL"),
        output_dir or os.environ.get("XENODIA_OUTPUT_DIR"),
    )
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = AsyncClient(output_dir=output_dir, budget=_kernel_budget(settings))
    return client


def session_budget() -> Budget:
    """The kernel's one spend: the magic, the panel and `xj.generate` all count in it."""
    from .settings import kernel_settings

    return _kernel_budget(kernel_settings())


def _kernel_budget(settings: Any) -> Budget:
    global _budget
    if _budget is None:
        budget = _budget = Budget(settings.budget_usd)

        def follow(change: Any) -> None:
            budget.limit_usd = change["new"]

        settings.observe(follow, "budget_usd")
    return _budget


def shutdown() -> None:
    """Cancel running jobs, close every kernel client and stop the engine thread
    (at kernel exit and `%unload_ext xenodia_jupyter`).  The next use starts afresh."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    if _engine.started and threading.current_thread() is not _engine.thread:
        _engine.cancel_all()  # they journal what they knew while the clients are still open

        async def close_all() -> None:
            for client in clients:
                await client.aclose()

        try:
            _engine.run(close_all())
        finally:
            _engine.close()
    else:
        for client in clients:
            client.store.close()
