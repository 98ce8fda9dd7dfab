"""Waiting for a task: polls paced by the server's advice, ended by the caller's deadline.

Only `success` and `fail` end the wait; a state we do not know is never
taken for success (the API may add states), so the wait goes on until the
deadline and then names the task.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from ..errors import TaskTimeoutError, XenodiaError
from . import protocol
from .protocol import Task
from .transport import Transport

MAX_POLL_INTERVAL_S = 10.0

ProgressCallback = Callable[[Task], Any]


def poll_delay(task: Task, attempt: int) -> float:
    """The server's recommended interval when it gives one, else a capped backoff
    (0.5 s, 0.75 s, ... 10 s, close to the 1-2-4-8 s of the polling guide)."""
    if task.poll_interval_s is not None:
        return min(max(task.poll_interval_s, 0.01), MAX_POLL_INTERVAL_S)
    return min(0.5 * 1.5**attempt, MAX_POLL_INTERVAL_S)


async def wait_for_task(
    transport: Transport,
    task: Task,
    *,
    deadline: float,
    on_progress: ProgressCallback | None = None,
    on_state: Callable[[str], Any] | None = None,
    poll_now: bool = False,
) -> Task:
    """Poll `task` until it ends or `deadline` (a `time.monotonic()` value) passes.

    `on_progress(task)` sees every answer; `on_state(state)` is called when the
    server's state changes while the task runs (the caller journals it).
    `poll_now` polls before the first wait (a task known only by its id)."""
    started = time.monotonic()
    task_id = task.task_id or ""
    url = protocol.resolve_poll_url(transport.base_url, task_id, task.poll_url)
    attempt = 0
    while True:
        if not poll_now:
            if on_progress is not None:
                on_progress(task)
            if task.done:
                return task
            now = time.monotonic()
            if now >= deadline:
                raise TaskTimeoutError(task.task_id, task.state, now - started)
            await asyncio.sleep(min(poll_delay(task, attempt), deadline - now))
            attempt += 1
        poll_now = False
        try:
            body = await transport.get_json(url, task_id=task_id, deadline=deadline)
        except XenodiaError:
            if time.monotonic() < deadline:
                raise
            raise TaskTimeoutError(task.task_id, task.state, time.monotonic() - started) from None
        polled = protocol.parse_task(body)
        if polled.state != task.state and not polled.done and on_state is not None:
            on_state(polled.state)
        if polled.poll_url and polled.poll_url != task.poll_url:
            url = protocol.resolve_poll_url(transport.base_url, task_id, polled.poll_url)
        task = polled
