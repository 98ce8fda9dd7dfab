"""One partition of a cluster job, run by a Dask worker (see driver.py).

The worker runs the same generator as a local batch, through the same
per-item loop (`run_items`), built with two parts that ask the driver:

- a `WorkerLedger`: the row written before a POST is journaled by the
  driver, which answers only once the row is on its disk and the job's
  in-flight cap has room (until then nothing is sent); the journal's other
  writes (task id, states, saved paths, claims) are told to the driver in
  order, and kept here for the worker's own reads;
- a `ClusterPace`: each POST's turn comes from the driver, so the limit and a
  server's Retry-After pause hold for the whole cluster.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ...core.budget import Budget
from ...core.generator import Generator
from ...core.options import ClientOptions
from ...core.preparer import Preparer
from ...errors import InvalidRequestError, RateLimitError
from ...store.entries import JournalEntry, JournalState
from ...store.journal import claim_owner
from ...store.outputs import OutputStore
from ...wire.pace import RateLimiter
from ...wire.transport import RetryPolicy, Transport
from ..items import run_items
from .link import DriverLink, LinkError

if TYPE_CHECKING:
    from ...core.preparer import PreparedGeneration
    from ...core.results import GenerationResult


HELLO_TIMEOUT_S = 120.0  # the driver answers a partition's first call at once, unless it has gone


class Secret:
    """The API key on its way to the workers: it never shows in a repr (Dask
    prints task arguments in some errors and in its dashboard)."""

    def __init__(self, value: str | None) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<api key hidden>"


@dataclass
class PartitionSpec:
    """What one partition needs: its items, the driver's client options (as
    the worker must use them), and the key."""

    requests_queue: str
    partition: int
    job: str
    items: list[tuple[int, PreparedGeneration]]
    api_key: Secret
    options: ClientOptions
    concurrency: int


def run_partition(spec: PartitionSpec) -> list[tuple[int, GenerationResult | Exception]]:
    """The Dask task: run the partition's items on a loop of its own (a worker
    thread has none) and return (index, result or error) for each."""
    return asyncio.run(_run(spec))


async def _run(spec: PartitionSpec) -> list[tuple[int, GenerationResult | Exception]]:
    from distributed import Client, get_worker

    worker = get_worker()
    dask_client = await Client(
        worker.scheduler.address, asynchronous=True, security=worker.security, set_as_default=False
    )
    link = DriverLink(dask_client, spec.requests_queue, spec.partition, worker.address)
    try:
        await link.start()
        known: dict[int, JournalEntry | None] = await link.call(
            "hello", timeout=HELLO_TIMEOUT_S, indices=[i for i, _ in spec.items]
        )
        ledger = WorkerLedger(link, {e.id: e for e in known.values() if e is not None}, spec.options.timeout)
        generator, transport = _generator(spec, link, ledger)
        requests = dict(spec.items)
        try:
            async def one(index: int) -> GenerationResult:
                deadline = time.monotonic() + spec.options.timeout
                item = (spec.job, index)
                entry = known.get(index)
                if entry is not None:
                    return await generator.resume(entry.id, requests[index], deadline=deadline, job_item=item)
                return await generator.submit(requests[index], deadline=deadline, cache=False, job_item=item)

            items = asyncio.ensure_future(run_items(list(requests), one, spec.concurrency))
            link.on_stop = items.cancel  # the driver stopped the job: stop polling and saving for it
            answers = await items
            link.tell("bye")  # after everything this run told the driver: the driver reads up to here
            return [(index, answers[index]) for index in requests]
        finally:
            await transport.aclose()
    finally:
        await link.close()
        await dask_client.close()


def _generator(spec: PartitionSpec, link: DriverLink, ledger: WorkerLedger) -> tuple[Generator, Transport]:
    """The same generator a local client builds, with the driver's ledger and pace."""
    options = spec.options
    transport = Transport(
        options.base_url,
        spec.api_key.value,
        request_timeout=options.request_timeout,
        policy=RetryPolicy(options.max_retries),
        limiter=ClusterPace(link),
    )
    budget = Budget(None)  # the driver reserves and settles every item against the job's budget
    preparer = Preparer(transport, budget, check_urls=False)
    generator = Generator(
        transport=transport, ledger=ledger, store=OutputStore(options.output_dir), budget=budget,
        options=options, upload_ready=preparer.upload_ready,
    )
    return generator, transport


class WorkerLedger:
    """The ledger as a worker keeps it: `begin` and `claim` wait for the
    driver's answer; the other writes go to the driver in order, not awaited;
    reads come from what this partition knows."""

    def __init__(self, link: DriverLink, entries: dict[str, JournalEntry], timeout_s: float) -> None:
        self._link = link
        self._entries = entries
        self._timeout_s = timeout_s
        self.owner = claim_owner()

    async def begin(self, **row: Any) -> str:
        row = {**row, "owner": self.owner}
        try:
            # It may wait for room under the job's in-flight cap, but never past the item's own timeout.
            entry_id, created_at = await self._link.call("begin", timeout=self._timeout_s, row=row)
        except LinkError as exc:
            raise InvalidRequestError("job", f"not sent: {exc}") from None
        self._entries[entry_id] = JournalEntry(  # created_at as journaled: saved files are named by it
            id=entry_id, created_at=created_at, updated_at=created_at, base_url=row["base_url"], prompt=row["prompt"],
            params=row["params"], refs=row["refs"], state=JournalState.SENDING, task_id=None, request_id=None,
            urls=[], paths=[], cost_usd=None, error=None, parent=row.get("parent"),
        )
        return entry_id

    async def claim(self, entry: str) -> bool:
        try:
            return bool(await self._link.call("claim", timeout=self._timeout_s, entry=entry, owner=self.owner))
        except LinkError:
            return False

    def record_answer(self, entry: str, **values: Any) -> asyncio.Future[None]:
        self.update(entry, **values)  # told to the driver, in order: nothing to wait for here
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def update(self, entry: str, **values: Any) -> None:
        self._link.tell("update", entry=entry, values=values)
        known = self._entries.get(entry)
        if known is not None:
            self._entries[entry] = replace(known, **{k: v for k, v in values.items() if hasattr(known, k)})

    def renew(self, entry: str) -> None:
        self._link.tell("renew", entry=entry, owner=self.owner)  # the heartbeat of a task being polled

    def release(self, entry: str) -> None:
        self._link.tell("release", entry=entry, owner=self.owner)

    def entry(self, entry_id: str) -> JournalEntry | None:
        return self._entries.get(entry_id)

    def find_saved(self, request_key: str, base_url: str) -> None:
        return None  # the driver answered the cache before sending the item here


class ClusterPace(RateLimiter):
    """Each POST's turn comes from the driver, which spaces the POSTs of the whole
    job; a pause the server asks of one worker is told to the driver for all."""

    def __init__(self, link: DriverLink) -> None:
        super().__init__(None)
        self._link = link

    async def turn(self, deadline: float | None) -> None:
        """The driver answers when this POST's turn has come (or None when it
        would come after the deadline)."""
        within = None if deadline is None else deadline - time.monotonic()
        try:
            given, paused = await self._link.call("turn", timeout=within, within=within)
        except LinkError as exc:
            raise RateLimitError(f"no turn to send: {exc}; nothing was sent", status_code=429) from None
        self.paused_until = max(self.paused_until, time.monotonic() + paused)
        if not given:
            raise RateLimitError(
                "the job's rate limit (or the server's Retry-After) leaves no turn before the deadline; nothing was sent",
                status_code=429,
            )

    def pause(self, seconds: float) -> None:
        super().pause(seconds)
        self._link.tell("pause", seconds=seconds)
