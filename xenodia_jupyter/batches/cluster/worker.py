"""One partition of a cluster job, run by a Dask worker (see cluster.py).

The worker runs the same `AsyncClient` code as a local batch, with three
parts swapped for ones that ask the driver:

- `_begin` (the row written before a POST) is journaled by the driver, which
  answers only once the row is on its disk and the job's in-flight cap has
  room; until then nothing is sent.
- the journal's other writes (task id, states, saved paths, claims) are told
  to the driver in order, and kept here for the worker's own reads;
- the rate limiter asks the driver for each POST's turn, so the limit and a
  server's Retry-After pause hold for the whole cluster.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ...client.async_client import AsyncClient
from ...errors import InvalidRequestError, RateLimitError
from ...store.journal import JournalEntry, JournalState, OutputStore
from ...wire.pace import RateLimiter
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
    """What one partition needs: its items and how the driver's client is set up."""

    requests_queue: str
    partition: int
    job: str
    items: list[tuple[int, PreparedGeneration]]
    base_url: str
    api_key: Secret
    output_dir: str
    concurrency: int
    timeout_s: float
    request_timeout: float
    max_retries: int
    max_download_bytes: int
    trust_idempotency: bool
    options: dict[str, Any] = field(default_factory=dict)


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
        journal = WorkerJournal(link, {e.id: e for e in known.values() if e is not None})
        client = WorkerClient(spec, link, journal)
        try:
            gate = asyncio.Semaphore(spec.concurrency)

            async def one(index: int, request: PreparedGeneration) -> tuple[int, GenerationResult | Exception]:
                async with gate:
                    deadline = time.monotonic() + spec.timeout_s
                    link_item = (spec.job, index)
                    try:
                        entry = known.get(index)
                        if entry is not None:
                            return index, await client._resume(entry.id, request, deadline, link_item, None)
                        return index, await client.submit(request, deadline=deadline, cache=False, job_item=link_item)
                    except Exception as exc:  # one odd answer sinks only its own item
                        return index, exc

            items = asyncio.ensure_future(asyncio.gather(*(one(i, r) for i, r in spec.items)))
            link.on_stop = items.cancel  # the driver stopped the job: stop polling and saving for it
            answers = list(await items)
            link.tell("bye")  # after everything this run told the driver: the driver reads up to here
            return answers
        finally:
            await client.aclose()
    finally:
        await link.close()
        await dask_client.close()


class WorkerJournal:
    """The journal as a worker sees it: writes go to the driver (in order, not
    awaited), reads come from what this partition knows."""

    def __init__(self, link: DriverLink, entries: dict[str, JournalEntry]) -> None:
        self._link = link
        self._entries = entries

    def add(self, entry: JournalEntry) -> None:
        self._entries[entry.id] = entry

    def entry(self, entry_id: str) -> JournalEntry | None:
        return self._entries.get(entry_id)

    def update(self, entry_id: str, **values: Any) -> None:
        self._link.tell("update", entry=entry_id, values=values)
        known = self._entries.get(entry_id)
        if known is not None:
            self._entries[entry_id] = replace(known, **{k: v for k, v in values.items() if hasattr(known, k)})

    def claim(self, entry_id: str, owner: str, lease_s: float | None = None) -> bool:
        self._link.tell("renew", entry=entry_id, owner=owner)  # the heartbeat of a task being polled
        return True

    def release(self, entry_id: str, owner: str) -> None:
        self._link.tell("release", entry=entry_id, owner=owner)

    def find_saved(self, request_key: str) -> None:
        return None  # the driver answered the cache before sending the item here

    def close(self) -> None:
        pass


class ClusterRateLimiter(RateLimiter):
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


class WorkerClient(AsyncClient):
    def __init__(self, spec: PartitionSpec, link: DriverLink, journal: WorkerJournal) -> None:
        super().__init__(
            spec.api_key.value,
            spec.base_url,
            output_dir=spec.output_dir,
            timeout=spec.timeout_s,
            max_retries=spec.max_retries,
            request_timeout=spec.request_timeout,
            max_download_bytes=spec.max_download_bytes,
            trust_idempotency=spec.trust_idempotency,
            check_urls=False,  # checked by the driver when the job was planned
        )
        self.store = OutputStore(spec.output_dir, journal=journal)  # type: ignore[arg-type]
        self._transport.limiter = ClusterRateLimiter(link)
        self._link = link
        self._journal = journal

    async def _begin(self, **row: Any) -> str:
        try:
            # It may wait for room under the job's in-flight cap, but never past the item's own timeout.
            entry_id, created_at = await self._link.call("begin", timeout=self.timeout, row=row)
        except LinkError as exc:
            raise InvalidRequestError("job", f"not sent: {exc}") from None
        self._journal.add(JournalEntry(  # created_at as journaled: saved files are named by it
            id=entry_id, created_at=created_at, updated_at=created_at, base_url=row["base_url"], prompt=row["prompt"],
            params=row["params"], refs=row["refs"], state=JournalState.SENDING, task_id=None, request_id=None,
            urls=[], paths=[], cost_usd=None, error=None,
        ))
        return entry_id

    def _record_answer(self, entry: str, **values: Any) -> asyncio.Future[None]:
        self._journal.update(entry, **values)  # told to the driver, in order: nothing to wait for here
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def _claim(self, entry: str) -> bool:
        try:
            return bool(await self._link.call("claim", timeout=self.timeout, entry=entry, owner=self._owner))
        except LinkError:
            return False
