"""How cluster workers talk to the driver: two kinds of `distributed.Queue`.

Every worker partition sends its requests to the job's one request queue and
reads the answers from a reply queue of its own.  Both queues live on the
scheduler, so this works wherever Dask works: workers never need to reach the
driver's machine (on most clusters they cannot), and the driver needs only its
ordinary connection to the scheduler.

A message is a dict: `op` (what to do), `attempt` (which run of which
partition: Dask may run a partition again after its worker died), `id` and
`reply` when an answer is awaited.  Messages are sent in lists, in order: the
driver handles them in the order each partition sent them, so a task id
reported before a worker died is journaled before the partition that takes
over asks what is known.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Callable
from typing import Any

CLOSE_S = 30.0  # how long a closing partition tries to send its last reports


class LinkError(Exception):
    """The driver refused a request (its message says why)."""


class DriverLink:
    """A worker partition's end: `call` waits for the driver's answer, `tell`
    does not (both keep their order)."""

    def __init__(self, dask_client: Any, requests_name: str, partition: int, worker: str) -> None:
        from distributed import Queue

        self.partition = partition
        self.worker = worker
        self.attempt = uuid.uuid4().hex
        self.reply_name = f"{requests_name}-reply-{self.attempt}"
        self._requests = Queue(requests_name, client=dask_client)
        self._replies = Queue(self.reply_name, client=dask_client)
        self._ids = itertools.count()
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._outbox: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped: str | None = None  # why the driver stopped the job, once it has
        self._closing = False
        self.on_stop: Callable[[], Any] | None = None  # called when the driver stops the job

    async def start(self) -> None:
        await self._requests
        await self._replies
        self._tasks = [asyncio.create_task(self._send_loop()), asyncio.create_task(self._read_loop())]

    async def close(self) -> None:
        sender = self._tasks[0] if self._tasks else None
        self._closing = True
        self._wake.set()
        if sender is not None:  # the one sender drains what is left: two puts at once could overtake each other
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(sender, CLOSE_S)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        for queue in (self._replies, self._requests):
            with contextlib.suppress(Exception):
                queue.close()

    def tell(self, op: str, **args: Any) -> None:
        self._outbox.append(self._message(op, args))
        self._wake.set()

    async def call(self, op: str, *, timeout: float | None = None, **args: Any) -> Any:
        """Send and wait for the answer; `LinkError` when the driver refuses, has
        stopped the job, or does not answer within `timeout` seconds (a worker
        must never wait forever on a driver that has gone)."""
        if self._stopped is not None:
            raise LinkError(self._stopped)
        message = self._message(op, args)
        message["id"] = next(self._ids)
        message["reply"] = self.reply_name
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[message["id"]] = answer
        self._outbox.append(message)
        self._wake.set()
        try:
            return await asyncio.wait_for(answer, timeout)
        except asyncio.TimeoutError:
            self.tell("withdraw", call=message["id"])  # the driver drops it, or undoes it if it was done
            raise LinkError(f"the driver did not answer {op!r} within {timeout:.0f} s") from None
        finally:
            self._waiting.pop(message["id"], None)

    def _message(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"op": op, "partition": self.partition, "attempt": self.attempt, "worker": self.worker, "args": args}

    async def _flush(self) -> None:
        if self._outbox:
            batch, self._outbox = self._outbox, []
            await self._requests.put(batch)

    async def _send_loop(self) -> None:
        while not (self._closing and not self._outbox):
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _read_loop(self) -> None:
        while True:
            batch = await self._replies.get()  # no timeout: a timed-out get is logged as an error by the scheduler
            for reply in batch:
                if reply.get("stop"):
                    self._stopped = reply["stop"]
                    for waiting in self._waiting.values():
                        if not waiting.done():
                            waiting.set_exception(LinkError(self._stopped))
                    if self.on_stop is not None:
                        self.on_stop()
                    continue
                answer = self._waiting.get(reply["id"])
                if answer is None or answer.done():
                    continue
                if reply.get("error") is not None:
                    answer.set_exception(LinkError(reply["error"]))
                else:
                    answer.set_result(reply.get("value"))


class DriverQueues:
    """The driver's end: read the requests of all partitions, answer each on its
    partition's reply queue."""

    def __init__(self, dask_client: Any, requests_name: str) -> None:
        from distributed import Queue

        self._client = dask_client
        self._requests = Queue(requests_name, client=dask_client)
        self._replies: dict[str, Any] = {}
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._getter: asyncio.Future[Any] | None = None

    async def start(self) -> None:
        await self._requests

    async def receive(self, until: asyncio.Future[Any] | None, timeout: float | None = None) -> list[dict[str, Any]]:
        """The messages waiting now, in order; waits for the first one, until
        `until` is done, or `timeout` seconds (then returns what is there, maybe nothing)."""
        if self._getter is None:
            self._getter = asyncio.ensure_future(self._requests.get())
        waits = {self._getter} if until is None else {self._getter, until}
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not self._getter.done():
            # No batch get while a get is out: it may hold an earlier message on its way back.
            return []
        batches = [self._getter.result()]
        self._getter = None
        batches.extend(await self._requests.get(batch=True) or [])
        return [message for batch in batches for message in batch]

    def answer(self, message: dict[str, Any], value: Any = None, error: str | None = None) -> None:
        if message.get("reply") is None:
            return
        self._pending.setdefault(message["reply"], []).append({"id": message["id"], "value": value, "error": error})

    async def send_answers(self) -> None:
        pending, self._pending = self._pending, {}
        sends = []
        for name, replies in pending.items():
            queue = self._replies.get(name)
            if queue is None:
                from distributed import Queue

                queue = self._replies[name] = await Queue(name, client=self._client)
            sends.append(queue.put(replies))
        if sends:
            await asyncio.gather(*sends)

    async def stop_all(self, reason: str) -> None:
        """Tell every partition that has spoken that the job is stopped: its
        waiting calls fail at once instead of waiting out their timeouts."""
        for replies in self._pending.values():
            replies.clear()
        for name in self._replies:
            self._pending[name] = [{"stop": reason}]
        with contextlib.suppress(Exception):
            await self.send_answers()

    async def close(self) -> None:
        if self._getter is not None:
            self._getter.cancel()
            with contextlib.suppress(BaseException):
                await self._getter
        for queue in [self._requests, *self._replies.values()]:
            with contextlib.suppress(Exception):
                queue.close()
