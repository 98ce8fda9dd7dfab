"""The one per-item loop: local batches, sweeps, each partition of a cluster
job and the magic's `-n` run their items through `run_items`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


async def run_items(
    indices: Iterable[int],
    one: Callable[[int], Awaitable[T]],
    concurrency: int,
    *,
    on_done: Callable[[int, T | Exception], Any] | None = None,
) -> dict[int, T | Exception]:
    """`one(index)` for every index, at most `concurrency` at once, in order of
    start.  An `Exception` is that item's result: one odd answer, or a full
    disk, sinks only its own item.  `concurrency` workers share one iterator,
    not a task per item, so memory stays flat however long the batch."""
    todo = iter(list(indices))
    results: dict[int, T | Exception] = {}

    async def worker() -> None:
        for index in todo:  # each item is taken once, in order
            try:
                item: T | Exception = await one(index)
            except Exception as exc:
                item = exc
            results[index] = item
            if on_done is not None:
                on_done(index, item)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return results
