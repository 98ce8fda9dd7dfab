"""A batch job on a Dask cluster: `generate_many(..., executor=dask_client)`.

The driver (the notebook's process) keeps the journal, as for a local job, on
its own disk.  It plans the job, answers what it can from the journal (saved
items, the cache), and hands the rest to the cluster in partitions.  Each
partition runs on a worker with its own generator (worker.py),
which writes the images to `output_dir` (shared storage: any fsspec URL) and
asks the driver, over `distributed.Queue`s on the scheduler
(link.py), for everything that must hold for the whole job:

- "journaled before sent": a worker's POST waits for the driver to write its
  journal row (durably) and answer; a worker that dies after that leaves a row
  the driver knows of, with the task id as soon as the worker told it;
- one in-flight cap (`max_in_flight`, counted from a row's POST until it is
  saved, failed or refused) and one pace (`max_requests_per_minute`, and any
  server `Retry-After`) for all workers: the driver books every POST's turn;
- exactly once: Dask runs a lost worker's partition again; the new run starts
  by asking the driver what the journal holds for its items, and resumes them
  as a local job resumes (poll a task id; a POST whose fate is unknown is sent
  again only with its Idempotency-Key, when keys are trusted).  A run of a
  partition that was replaced is fenced off: the driver refuses its POSTs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
import time
import uuid
import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..._extras import require
from ...core.budget import Reservation
from ...core.results import GenerationResult, ResultList
from ...errors import APIConnectionError, GenerationFailedError, InvalidRequestError, StorageError, TaskTimeoutError
from ...store.entries import JournalEntry, JournalState
from ...store.jobs_table import job_entries
from ..named import plan_job, saved_items
from .link import DriverQueues
from .worker import PartitionSpec, Secret, run_partition

if TYPE_CHECKING:
    from collections.abc import Callable

    from ...core.generator import Generator
    from ...core.preparer import PreparedGeneration
    from ..progress import BatchProgress

log = logging.getLogger("xenodia_jupyter")

FINAL_READ_S = 30.0
JOB_GRACE_S = 10.0  # beyond the items' own timeouts: a partition's start and its last reports  # how long the driver reads on for the last reports of finished partitions
PARTITION_ITEMS = 100  # at most this many items per partition: a lost worker's redo stays small
_ENDED = frozenset({JournalState.SAVED, JournalState.FAILED, JournalState.REFUSED, JournalState.UNKNOWN})


def check_executor(executor: object) -> None:
    require("cluster", "generate_many(executor=...)")
    import distributed

    if not isinstance(executor, distributed.Client):
        raise InvalidRequestError(
            "executor", f"must be a dask distributed.Client (or None for this process), not {type(executor).__name__}"
        )
    if executor.status != "running":
        raise InvalidRequestError("executor", f"the Dask client is {executor.status}, not running")


async def run_on_cluster(
    generator: Generator,
    requests: list[PreparedGeneration],
    executor: Any,
    *,
    concurrency: int,
    job: str | None,
    progress: BatchProgress | None,
    timeout: float | None,
    cache: bool | None,
    on_result: Callable[[int, GenerationResult | Exception], Any] | None,
) -> ResultList:
    check_executor(executor)
    generator.require_key()
    name = job if job is not None else f"cluster-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    journal = generator.store.journal
    keys = [r.request_key() for r in requests]
    entries = plan_job(journal, name, keys)
    generator.budget.check(sum(r.price_usd for r, e in zip(requests, entries, strict=True) if e is None))
    results: list[GenerationResult | Exception | None] = [None] * len(requests)

    def settle(index: int, item: GenerationResult | Exception) -> None:
        results[index] = item
        if on_result is not None:
            on_result(index, item)

    pending: list[int] = []
    use_cache = generator.options.cache if cache is None else cache
    saved = saved_items(journal, entries)
    others = journal.entries_by_id([e for i, e in enumerate(entries) if e is not None and i not in saved])
    for index, entry_id in enumerate(entries):
        known = saved.get(index) or (others.get(entry_id) if entry_id is not None else None)
        if index in saved:
            done: GenerationResult | Exception = GenerationResult.from_entry(saved[index])
        elif known is not None and known.state == JournalState.FAILED:
            done = GenerationFailedError(known.task_id or "", {"message": known.error or "failed"})
        elif known is None and use_cache and (hit := generator.cached(keys[index])) is not None:
            done = hit
        else:
            pending.append(index)
            continue
        settle(index, done)
        if progress is not None:
            progress.item_finished(done)
    if pending:
        await _dispatch(generator, requests, pending, executor, name, concurrency, timeout, progress, settle)
    batch = ResultList(results)
    batch.job = name
    batch.prompts = [r.prompt for r in requests]
    return batch


async def _dispatch(
    generator: Generator,
    requests: list[PreparedGeneration],
    pending: list[int],
    executor: Any,
    job: str,
    concurrency: int,
    timeout: float | None,
    progress: BatchProgress | None,
    settle: Callable[[int, GenerationResult | Exception], None],
) -> None:
    import distributed

    dask = await distributed.Client(
        executor.scheduler.address, asynchronous=True, security=executor.security, set_as_default=False
    )
    run = uuid.uuid4().hex[:12]
    queues = DriverQueues(dask, f"xenodia-{run}")
    cores = await dask.ncores()
    workers = len(cores)
    store = generator.store
    if store.remote is None:
        _warn_if_not_shared(store.root, list(cores))
    size = min(PARTITION_ITEMS, max(1, -(-len(pending) // max(1, 2 * workers))))  # two per worker, or more
    parts = [pending[i : i + size] for i in range(0, len(pending), size)]
    specs = [
        PartitionSpec(
            requests_queue=f"xenodia-{run}",
            partition=number,
            job=job,
            items=[(i, requests[i]) for i in part],
            api_key=Secret(generator.transport.api_key),
            options=replace(
                generator.options,
                output_dir=store.remote or str(store.root.resolve()),
                timeout=generator.options.timeout if timeout is None else timeout,
                check_urls=False,  # checked here when the job was planned
                cache=False,  # answered here before the items were handed out
                max_in_flight=None,  # held here, for the whole job (Desk)
                max_requests_per_minute=None,  # paced here (Desk), for the whole job
            ),
            concurrency=concurrency,
        )
        for number, part in enumerate(parts)
    ]
    desk = Desk(generator, job, requests, progress)
    # The job as a whole ends by a deadline: every round of items a slot runs gets
    # its timeout, and a worker that stops answering (SIGSTOP, a hung VM; Dask
    # waits 5 minutes for it) cannot hold the job past it.
    slots = max(1, sum(cores.values()))
    item_timeout = specs[0].options.timeout
    rounds = -(-len(parts) // slots) * -(-size // max(1, concurrency))
    started = time.monotonic()
    job_deadline = started + rounds * item_timeout + JOB_GRACE_S
    try:
        await queues.start()
        futures = [
            dask.submit(run_partition, spec, key=f"xenodia-{run}-part-{spec.partition}", pure=False, retries=0)
            for spec in specs
        ]
        ended = asyncio.ensure_future(asyncio.wait([asyncio.ensure_future(_settled(f)) for f in futures]))
        try:
            due: float | None = None
            while not ended.done():
                left = job_deadline - time.monotonic()
                if left <= 0:
                    log.warning("cluster job %s: its deadline passed with partitions still running; stopping them", job)
                    break
                wait = left if due is None else min(due, left)
                due = await desk.handle(await queues.receive(ended, wait), queues)
            # Read on up to each finished partition's "bye": its last reports were sent before it.
            finished = {spec.partition for spec, f in zip(specs, futures, strict=True) if f.status == "finished"}
            give_up = min(time.monotonic() + FINAL_READ_S, max(job_deadline, time.monotonic() + 1.0))
            while not finished <= desk.finished and time.monotonic() < give_up:
                await desk.handle(await queues.receive(None, 0.5), queues)
        finally:
            ended.cancel()
            if not all(f.done() for f in futures):  # interrupted or late: no worker may wait on a driver that has gone
                await queues.stop_all("the job was stopped on the driver (interrupted, or past its deadline)")
                with contextlib.suppress(Exception):
                    await dask.cancel(futures)
                desk.release_claims()  # so that running the job again resumes those items at once
        for future, spec in zip(futures, specs, strict=True):
            if future.status != "finished" and future.status != "error":
                # Stopped at the job's deadline: each item is what the journal knows of it.
                for index, _request in spec.items:
                    settle(index, desk.at_deadline(index, time.monotonic() - started))
                continue
            try:
                answers = await future
            except Exception as exc:  # the partition itself failed (a worker lost too often): its items keep that
                answers = [(i, exc) for i, _ in spec.items]
            for index, item in answers:
                settle(index, item)
    finally:
        await queues.close()
        await dask.close()


class Desk:
    """The driver's side of a cluster job: journals what the workers report,
    and holds the job's in-flight cap and pace."""

    def __init__(
        self,
        generator: Generator,
        job: str,
        requests: list[PreparedGeneration],
        progress: BatchProgress | None,
    ) -> None:
        self.limiter = generator.transport.limiter
        self.budget = generator.budget
        self.job = job
        self.journal = generator.store.journal
        self.requests = requests
        self.progress = progress
        self.cap = generator.options.max_in_flight
        self.attempts: dict[int, str] = {}  # partition -> its current run
        self.in_flight: dict[str, int] = {}  # journal entry -> partition
        self.parked: collections.deque[dict[str, Any]] = collections.deque()
        self.finished: set[int] = set()  # partitions whose current run said "bye"
        self.turns: collections.deque[tuple[dict[str, Any], float | None]] = collections.deque()
        self.held: dict[str, Reservation] = {}
        self.begun: dict[tuple[str, int], str] = {}  # (run, call id) -> the row begun for it
        self.owners: dict[str, str] = {}  # entry -> the worker client that claimed it
        self.saved_by: collections.Counter[str] = collections.Counter()

    async def handle(self, messages: list[dict[str, Any]], queues: DriverQueues) -> float | None:
        """Handle what the workers sent; returns the seconds until the next POST
        turn is due (None: no turn is waiting)."""
        for message in messages:
            try:
                self._handle(message, queues)
            except Exception as exc:  # a full journal, the budget: that worker's call fails, the job goes on
                log.warning("cluster job: %s failed on the driver: %s", message.get("op"), exc)
                queues.answer(message, error=str(exc))
        due = self._release_turns(queues)
        await queues.send_answers()
        return due

    def _release_turns(self, queues: DriverQueues) -> float | None:
        """Give the waiting POSTs their turns, in order, as they come: one per
        interval of the job's pace, none while the server's pause lasts."""
        limiter = self.limiter
        while self.turns:
            message, deadline = self.turns[0]
            wait = limiter.next_turn_in()
            if deadline is not None and time.monotonic() + wait > deadline:
                self.turns.popleft()
                queues.answer(message, (False, wait))  # it would come after the caller's deadline
                continue
            if wait > 0:
                return wait
            limiter.take_turn(None)
            self.turns.popleft()
            queues.answer(message, (True, 0.0))
        return None

    def _handle(self, message: dict[str, Any], queues: DriverQueues) -> None:
        op, args, part = message["op"], message["args"], message["partition"]
        current = self.attempts.get(part) == message["attempt"]
        if op == "hello":
            self._hello(message, queues)
        elif op in ("begin", "claim"):
            if not current:
                queues.answer(message, error="this run of the partition was replaced (its worker was thought lost)")
            elif self.cap is not None and self.cap <= len(self.in_flight) and args.get("entry") not in self.in_flight:
                self.parked.append(message)
            else:
                self._grant(message, queues)
        elif op == "update":
            self._update(message)
        elif op == "renew":
            self.journal.claim(args["entry"], args["owner"])
        elif op == "release":
            self.journal.release(args["entry"], args["owner"])
            self._leave(args["entry"], queues)
        elif op == "turn":  # answered when it comes (release_turns), so a pause told meanwhile holds it back
            within = args["within"]
            self.turns.append((message, None if within is None else time.monotonic() + within))
        elif op == "withdraw":
            self._withdraw(message, args["call"])
        elif op == "bye" and current:
            self.finished.add(part)
        elif op == "pause":
            self.limiter.pause(args["seconds"])
        if op in ("update", "release", "hello"):
            self._unpark(queues)

    def _hello(self, message: dict[str, Any], queues: DriverQueues) -> None:
        """A partition (re)starts: it gets what the journal knows of its items,
        and an earlier run of it loses its turn and its place in flight."""
        part = message["partition"]
        self.attempts[part] = message["attempt"]
        self.parked = collections.deque(m for m in self.parked if m["partition"] != part)
        for entry, owner in list(self.in_flight.items()):
            if owner == part:
                del self.in_flight[entry]
        queues.answer(message, self._known(message["args"]["indices"]))

    def _known(self, indices: list[int]) -> dict[int, JournalEntry | None]:
        linked = job_entries(self.journal, self.job, indices)
        return {i: self.journal.entry(linked[i]) if linked.get(i) else None for i in indices}  # type: ignore[arg-type]

    def _grant(self, message: dict[str, Any], queues: DriverQueues) -> None:
        args, part = message["args"], message["partition"]
        if message["op"] == "claim":
            entry = args["entry"]
            if not self.journal.claim(entry, args["owner"]):
                queues.answer(message, False)
                return
            queues.answer(message, True)
        else:
            row = args["row"]
            held = self.budget.reserve(self.requests[row["job_item"][1]].price_usd)
            try:
                entry = self.journal.begin(**row)
            except BaseException:
                self.budget.release(held)  # not journaled, so never sent
                raise
            self.held[entry] = held
            self.begun[message["attempt"], message["id"]] = entry
            created = self.journal.entry(entry)
            queues.answer(message, (entry, created.created_at if created else time.time()))
        if entry not in self.in_flight and self.progress is not None:
            self.progress.item_started()
        self.in_flight[entry] = part
        self.owners[entry] = args.get("owner") or args["row"]["owner"]

    def release_claims(self) -> None:
        for entry in list(self.in_flight):
            owner = self.owners.get(entry)
            if owner is not None:
                with contextlib.suppress(Exception):
                    self.journal.release(entry, owner)

    def _withdraw(self, message: dict[str, Any], call: int) -> None:
        """A worker gave up waiting for a call's answer: a parked call is dropped;
        a row begun for it was never sent (the worker sends only once answered)."""
        attempt = message["attempt"]
        self.parked = collections.deque(
            m for m in self.parked if not (m["attempt"] == attempt and m["id"] == call)
        )
        entry = self.begun.pop((attempt, call), None)
        if entry is not None:
            self.journal.update(entry, state=JournalState.REFUSED, error="never sent: the worker stopped waiting for room")
            held = self.held.pop(entry, None)
            if held is not None:
                self.budget.release(held)
            self.in_flight.pop(entry, None)

    def _update(self, message: dict[str, Any]) -> None:
        entry = message["args"]["entry"]
        # Lists arrive as tuples (Dask's messages); the journal stores lists as JSON.
        values: dict[str, Any] = {k: list(v) if isinstance(v, tuple) else v for k, v in message["args"]["values"].items()}
        try:
            self.journal.update(entry, **values)
        except StorageError as exc:  # kept in the fallback file when it names a task: say so, go on
            log.warning("%s", exc)
        state = values.get("state")
        held = self.held.get(entry)
        if held is not None and state == JournalState.SUCCEEDED and values.get("cost_usd") is not None:
            self.budget.settle(held, float(values["cost_usd"]))
            del self.held[entry]
        elif held is not None and state == JournalState.REFUSED:
            self.budget.release(held)  # nothing was billed
            del self.held[entry]
        if state == JournalState.SAVED:
            self.saved_by[_short(message["worker"])] += 1
        if state in _ENDED:
            self.in_flight.pop(entry, None)
            if self.progress is not None:
                self.progress.note = "per worker: " + ", ".join(f"{w} {n}" for w, n in sorted(self.saved_by.items()))
                self.progress.item_finished(self._outcome(entry, state))

    def at_deadline(self, index: int, waited_s: float) -> GenerationResult | Exception:
        """What an item of a partition stopped at the job's deadline is: saved,
        running with a task id (`xj.recover()` collects it), or never sent."""
        linked = job_entries(self.journal, self.job, [index]).get(index)
        row = self.journal.entry(linked) if linked else None
        if row is not None and row.state == JournalState.SAVED and row.paths:
            return GenerationResult.from_entry(row)
        if row is not None and row.task_id:
            return TaskTimeoutError(row.task_id, row.server_state or str(getattr(row.state, "value", row.state)), waited_s)
        if row is not None and row.state != JournalState.REFUSED:
            return APIConnectionError(
                "sent, outcome unknown: its worker stopped answering before the job's deadline; "
                "the journal keeps it, and running the job again resumes it"
            )
        return TaskTimeoutError(None, "waiting on a worker that stopped answering", waited_s, sent=False)

    def _outcome(self, entry: str, state: JournalState) -> GenerationResult | Exception:
        """What the progress display counts for an item that ended."""
        row = self.journal.entry(entry)
        if state == JournalState.SAVED and row is not None:
            return GenerationResult.from_entry(row)
        return GenerationFailedError(row.task_id or "" if row else "", {"message": (row.error if row else None) or str(state.value)})

    def _leave(self, entry: str, queues: DriverQueues) -> None:
        self.in_flight.pop(entry, None)

    def _unpark(self, queues: DriverQueues) -> None:
        while self.parked and (self.cap is None or len(self.in_flight) < self.cap):
            message = self.parked.popleft()
            if self.attempts.get(message["partition"]) != message["attempt"]:
                queues.answer(message, error="this run of the partition was replaced (its worker was thought lost)")
                continue
            self._grant(message, queues)


def _warn_if_not_shared(root: Path, workers: list[str]) -> None:
    """A local output folder is only right when every worker can write to it
    (this machine's workers, or a shared file system mounted at the same path)."""
    here = {"127.0.0.1", "localhost", "::1", socket.gethostname(), socket.getfqdn()}
    with contextlib.suppress(OSError):
        here |= set(socket.gethostbyname_ex(socket.gethostname())[2])
    elsewhere = sorted({h for h in (urlsplit(w).hostname for w in workers) if h and h not in here})
    if elsewhere:
        warnings.warn(
            f"output_dir is the local folder {root}, but Dask workers run on other machines ({', '.join(elsewhere)}): "
            "they write the images to that path on their own disks unless it is a shared file system; "
            "use shared storage such as output_dir='s3://bucket/run'",
            stacklevel=2,
        )


async def _settled(future: Any) -> None:
    with contextlib.suppress(BaseException):
        await future


def _short(address: str) -> str:
    return address.rpartition("/")[2]
