"""The bridge between blocking notebook code and the kernel's event loop.

Inside a kernel, cells run while the kernel's asyncio loop is running.  Jobs
started in the background (the panel, `%%xenodia --background`) are tasks on
that loop; a blocking `%%xenodia` cell must wait without starving them, so it
runs its coroutine on the same loop, re-entered with `nest_asyncio`.  The patch
is applied here only, and only when a blocking call meets a running loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ..client import AsyncClient

T = TypeVar("T")

_patched: set[int] = set()
_own_loop: asyncio.AbstractEventLoop | None = None
_clients: dict[tuple[Any, ...], AsyncClient] = {}


def current_loop() -> asyncio.AbstractEventLoop:
    """The kernel's running loop, or (outside a kernel) one loop kept for this process."""
    global _own_loop
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        if _own_loop is None or _own_loop.is_closed():
            _own_loop = asyncio.new_event_loop()
        return _own_loop


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on the current loop, letting the loop's other
    tasks go on meanwhile.  On KeyboardInterrupt the coroutine is cancelled."""
    loop = current_loop()
    if loop.is_running() and id(loop) not in _patched:
        import nest_asyncio

        nest_asyncio.apply(loop)
        _patched.add(id(loop))
    task = loop.create_task(coro)
    try:
        return loop.run_until_complete(task)
    except KeyboardInterrupt:
        task.cancel()
        raise


def spawn(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Start `coro` in the background on the kernel's loop."""
    return current_loop().create_task(coro)


_KEEP: Any = object()


def kernel_client(*, output_dir: str | None = None, budget_usd: float | None = _KEEP) -> AsyncClient:
    """One AsyncClient per loop and configuration, so its connection pool lives
    on the loop that uses it.  A new key or base URL in the environment gives a
    new client.  `budget_usd` (None: no budget) applies to the session's spend
    so far; left out, the budget stays as it is."""
    from ..client import AsyncClient

    loop = current_loop()
    key = (
        id(loop),
        os.environ.get("XENODIA_API_KEY"),
        os.environ.get("XENODIA_BASE_URL"),
        output_dir or os.environ.get("XENODIA_OUTPUT_DIR"),
    )
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = AsyncClient(output_dir=output_dir)
    if budget_usd is not _KEEP:
        client.budget_usd = budget_usd
    return client
