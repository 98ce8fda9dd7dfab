"""One generation's money path, in one place: journal -> POST -> wait -> save.

    entry = ledger.begin(...)        # on disk before anything is sent
    task  = transport.post_generation(body, idempotency_key=entry)
    task  = wait_for_task(...)       # polls; the task id is journaled meanwhile
    paths = store.save_result(...)   # downloaded without the key, written atomically

`Generator` is built from parts it is given (transport, ledger, store,
budget, options), so a cluster worker runs this same code with a ledger and a
pace that ask the driver.  A batch, a sweep, the magic's `-n` and a cluster
partition all send their items through `submit` (new) or `resume` (journaled
by an earlier run of a named job).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import (
    APIConnectionError,
    APIError,
    ConflictError,
    GenerationFailedError,
    InvalidRequestError,
    StorageError,
    TaskTimeoutError,
    describe_exception,
)
from ..images.references import PreparedReference
from ..store.entries import JournalState
from ..store.journal import CLAIM_LEASE_S, ItemTaken
from ..store.outputs import OutputStore
from ..wire import protocol
from ..wire.polling import ProgressCallback, wait_for_task
from ..wire.protocol import Task, public_url
from ..wire.transport import Transport
from .budget import Budget, Reservation
from .cache import cached_result
from .ledger import Ledger, is_saved
from .options import ClientOptions
from .preparer import PreparedGeneration
from .results import GenerationResult
from .saving import save_images

log = logging.getLogger("xenodia_jupyter")

FOLLOW_POLL_S = 0.25  # how often a job item made by another process is looked at


UploadReady = Callable[[list[PreparedReference]], Awaitable[list[PreparedReference]]]


class Generator:
    """Sends prepared requests and saves what they make."""

    def __init__(
        self,
        *,
        transport: Transport,
        ledger: Ledger,
        store: OutputStore,
        budget: Budget,
        options: ClientOptions,
        upload_ready: UploadReady,
    ) -> None:
        self.transport = transport
        self.ledger = ledger
        self.store = store
        self.budget = budget
        self.options = options
        self.upload_ready = upload_ready
        self._in_flight: asyncio.Semaphore | None = None  # made on the loop that uses it

    def deadline(self, timeout: float | None) -> float:
        from ..wire import rules

        return time.monotonic() + (self.options.timeout if timeout is None else rules.check_seconds(timeout))

    def require_key(self) -> None:
        if not self.transport.has_key:
            raise InvalidRequestError(
                "api_key",
                "no API key: set XENODIA_API_KEY or pass Client(api_key=...); "
                "to try things for free, run the emulator (python -m xenodia_jupyter.emulator)",
            )

    def cached(self, request_key: str) -> GenerationResult | None:
        """An earlier identical request's saved result from this API, at no cost
        (None: make it); see `cache.py`."""
        return cached_result(self.ledger.find_saved(request_key, self.options.base_url))

    # New and resumed items ---------------------------------------------------------

    async def submit(
        self,
        request: PreparedGeneration,
        *,
        deadline: float,
        on_progress: ProgressCallback | None = None,
        cache: bool | None = None,
        variant: int = 0,
        job_item: tuple[str, int] | None = None,
        resend_entry: str | None = None,
        replaces: str | None = None,
    ) -> GenerationResult:
        """Send a prepared request and wait for its images (`deadline`: a
        `time.monotonic()` value).  With the cache on, a request whose key has a
        saved result returns that (`cached=True`, cost 0.0) and sends nothing.
        A job item that another process journaled first is followed, not sent."""
        key = request.request_key(variant)
        if self.options.cache if cache is None else cache:
            hit = self.cached(key)
            if hit is not None:
                return hit
        self.require_key()
        try:
            if self.options.max_in_flight is None:
                return await self._send(request, deadline, on_progress, key, job_item, resend_entry, replaces)
            if self._in_flight is None:
                self._in_flight = asyncio.Semaphore(self.options.max_in_flight)
            await self._take_slot(self._in_flight, deadline)
            try:  # a task counts from its POST until it is saved
                return await self._send(request, deadline, on_progress, key, job_item, resend_entry, replaces)
            finally:
                self._in_flight.release()
        except ItemTaken as taken:
            return await self._follow(taken, request, deadline=deadline, on_progress=on_progress)

    async def _follow(
        self, taken: ItemTaken, request: PreparedGeneration, *, deadline: float, on_progress: ProgressCallback | None
    ) -> GenerationResult:
        """Another process journaled this job item first: wait while it works on
        its row (it holds the row's claim until the image is saved, the task
        fails or the process stops), then take the row over as a resumed job
        would.  A live row is never sent a second time."""
        started = time.monotonic()
        entry_id = taken.entry_id
        while entry_id is not None:
            if await self.ledger.claim(entry_id):
                try:
                    return await self.resume(entry_id, request, deadline=deadline, job_item=taken.job_item,
                                             on_progress=on_progress)
                finally:
                    self.ledger.release(entry_id)
            if time.monotonic() + FOLLOW_POLL_S > deadline:
                entry = self.ledger.entry(entry_id)
                until = entry.claimed_until if entry is not None else None
                free = f"; its claim ends at {time.strftime('%H:%M:%S', time.localtime(until))} unless renewed" if until else ""
                raise TaskTimeoutError(
                    entry.task_id if entry else None, f"being made by another process running the same job{free}",
                    time.monotonic() - started,
                )
            await asyncio.sleep(FOLLOW_POLL_S)
        raise StorageError(f"job item {taken.job_item} is linked to no journal row; nothing was sent")

    async def _take_slot(self, slots: asyncio.Semaphore, deadline: float) -> None:
        """A place under `max_in_flight`, by the caller's deadline or not at all."""
        started = time.monotonic()
        try:
            await asyncio.wait_for(slots.acquire(), max(0.0, deadline - started))
        except asyncio.TimeoutError:
            waiting = f"waiting for one of the max_in_flight={self.options.max_in_flight} places"
            raise TaskTimeoutError(None, waiting, time.monotonic() - started, sent=False) from None

    async def resume(
        self,
        entry_id: str,
        request: PreparedGeneration,
        *,
        deadline: float,
        job_item: tuple[str, int] | None,
        on_progress: ProgressCallback | None = None,
    ) -> GenerationResult:
        """One item of a resumed job, from what its journal entry says: saved ->
        from disk; a task id or URLs -> polled and saved, no POST; refused ->
        sent again (nothing was billed); sent with its fate unknown -> resent
        with the same Idempotency-Key only when keys are trusted."""
        entry = self.ledger.entry(entry_id)
        if entry is None:
            raise StorageError(f"job item {job_item}: its journal entry {entry_id} is missing")
        if is_saved(entry):
            return GenerationResult.from_entry(entry)
        if entry.state == JournalState.REFUSED:  # nothing was billed: send it, in place of that row
            return await self.submit(request, deadline=deadline, on_progress=on_progress, job_item=job_item,
                                     replaces=entry.id)
        if entry.state == JournalState.FAILED:
            raise GenerationFailedError(entry.task_id or "", {"message": entry.error or "failed"})
        if not await self.ledger.claim(entry.id):  # live in another process: wait for what it makes
            return await self._follow(ItemTaken(job_item or ("", -1), entry.id), request, deadline=deadline,
                                      on_progress=on_progress)
        if entry.task_id or entry.urls:
            task = Task(task_id=entry.task_id, state="success" if not entry.task_id else "unknown", urls=entry.urls)
            return await self.finish(task, entry.id, prompt=entry.prompt, params=entry.params, held=None,
                                     deadline=deadline, on_progress=on_progress, poll_first=bool(entry.task_id))
        if self.options.trust_idempotency:
            return await self.submit(request, deadline=deadline, on_progress=on_progress, resend_entry=entry.id)
        raise APIConnectionError(
            f"job item {job_item}: sent, outcome unknown, may have been billed; not sent again "
            "(Client(trust_idempotency=True) resends it with its Idempotency-Key)"
        )

    async def _send(
        self,
        request: PreparedGeneration,
        deadline: float,
        on_progress: ProgressCallback | None,
        key: str,
        job_item: tuple[str, int] | None,
        resend_entry: str | None,
        replaces: str | None,
    ) -> GenerationResult:
        refs = await self.upload_ready(request.references)
        body = protocol.build_generation_body(
            request.prompt,
            aspect_ratio=request.params["aspect_ratio"],
            resolution=request.params["resolution"],
            image_urls=[r.url for r in refs if r.kind == "url" and r.url],
            image_files=[(r.filename, r.data, r.mime) for r in refs if r.kind == "file" and r.data is not None],
        )
        if any(r.kind == "file" for r in refs):
            await asyncio.to_thread(keep_references, self.store, refs)
        held = self.budget.reserve(request.price_usd)
        try:
            if resend_entry is not None:
                if not await self.ledger.claim(resend_entry):  # a new entry here would be a second charge
                    raise InvalidRequestError("job", "this item is being sent by another client or process right now")
                entry = resend_entry  # the same entry, so the same Idempotency-Key
            else:
                entry = await self.ledger.begin(
                    base_url=self.options.base_url,
                    prompt=request.prompt,
                    params=request.params,
                    refs=[reference_row(r) for r in refs],
                    request_key=key,
                    job_item=job_item,
                    replaces=replaces,
                    parent=request.parent,
                )
        except BaseException:
            self.budget.release(held)  # nothing was sent
            raise
        try:
            task = await self.transport.post_generation(
                body, idempotency_key=entry, trust_idempotency=self.options.trust_idempotency, deadline=deadline
            )
        except APIError as exc:
            if resend_entry is not None and isinstance(exc, ConflictError):
                # Our own key, sent before: the first send arrived.  Never "refused": a
                # resume would send it under a new key and pay twice.
                message = (
                    f"the first send of this item arrived (the server says its Idempotency-Key was used: {exc}); "
                    "its answer was lost, so it may be billed; it is not sent under a new key"
                )
                self.ledger.update(entry, state=JournalState.UNKNOWN, error=message)
                raise APIConnectionError(message) from None
            self.budget.release(held)
            self.ledger.update(entry, state=JournalState.REFUSED, error=str(exc))
            raise
        except APIConnectionError as exc:
            if exc.sent is False:  # it never left: nothing billed, and a resumed job sends it
                self.budget.release(held)
                self.ledger.update(entry, state=JournalState.REFUSED, error=f"never sent: {exc}")
            else:
                self.ledger.update(entry, state=JournalState.UNKNOWN, error=self.transport.redact(describe_exception(exc)),
                                   **({"task_id": exc.task_id} if exc.task_id else {}))
            raise
        except BaseException as exc:
            # The POST may have been billed: keep whatever task id the answer carried.
            task_id = getattr(exc, "task_id", None)
            self.ledger.update(entry, state=JournalState.UNKNOWN, error=self.transport.redact(describe_exception(exc)),
                               **({"task_id": task_id} if task_id else {}))
            raise
        state = JournalState.SUCCEEDED if task.done and task.state == "success" else JournalState.ACCEPTED
        recorded = self.ledger.record_answer(
            entry, state=state, server_state=task.state, task_id=task.task_id, request_id=task.request_id, urls=task.urls
        )
        return await self.finish(task, entry, prompt=request.prompt, params=request.params, held=held,
                                 deadline=deadline, on_progress=on_progress, recorded=recorded)

    # From an answered POST to saved files ---------------------------------------------

    async def finish(
        self,
        task: Task,
        entry: str,
        *,
        prompt: str,
        params: dict[str, Any],
        held: Reservation | None,
        deadline: float,
        on_progress: ProgressCallback | None,
        poll_first: bool = False,
        recorded: asyncio.Future[None] | None = None,
    ) -> GenerationResult:
        """Wait for the task, then save its images; the entry's claim is
        released however it ends.  `held`: what the call reserved from the
        budget (None: a retrieval reserved nothing); `recorded`: the journal
        write of the POST's answer, if still under way."""
        try:
            return await self._wait_and_save(task, entry, prompt, params, held, deadline, on_progress, poll_first, recorded)
        finally:
            with contextlib.suppress(Exception):  # a journal that fails here has said so already
                self.ledger.release(entry)

    async def _wait_and_save(
        self,
        task: Task,
        entry: str,
        prompt: str,
        params: dict[str, Any],
        held: Reservation | None,
        deadline: float,
        on_progress: ProgressCallback | None,
        poll_first: bool,
        recorded: asyncio.Future[None] | None,
    ) -> GenerationResult:
        ledger = self.ledger
        renewed = time.monotonic()

        def heartbeat(seen: Task) -> None:
            nonlocal renewed
            if time.monotonic() - renewed > CLAIM_LEASE_S / 3:  # keep the claim while we wait
                renewed = time.monotonic()
                ledger.renew(entry)
            if on_progress is not None:
                on_progress(seen)

        try:
            task = await wait_for_task(
                self.transport,
                task,
                deadline=deadline,
                on_progress=heartbeat,
                on_state=lambda state: ledger.update(entry, server_state=state),
                poll_now=poll_first,
            )
        except (TaskTimeoutError, asyncio.CancelledError, KeyboardInterrupt) as exc:
            await _settled(recorded)
            ledger.update(entry, error=describe_exception(exc))
            raise
        except BaseException:
            await _settled(recorded)
            raise
        if recorded is not None:
            await recorded  # the task id is on disk (or in the fallback file) before anything later
        if task.state == "fail":
            reason = {k: self.transport.redact(v) if isinstance(v, str) else v for k, v in task.error.items()}
            ledger.update(entry, state=JournalState.FAILED, server_state=task.state, error=str(reason))
            if held is not None and (task.billing_status == "released" or task.cost_micro_usdc == 0):
                self.budget.release(held)
            raise GenerationFailedError(task.task_id or "", reason, request_id=task.request_id)
        cost = task.cost_micro_usdc / 1e6 if task.cost_micro_usdc is not None else (held.price_usd if held else None)
        if held is not None and cost is not None:
            self.budget.settle(held, cost)
        ledger.update(entry, state=JournalState.SUCCEEDED, server_state=task.state, urls=task.urls, cost_usd=cost)
        row = self.ledger.entry(entry)
        saved = await save_images(
            task, row, transport=self.transport, store=self.store, prompt=prompt, params=params,
            cost=cost, entry=entry, deadline=deadline, max_bytes=self.options.max_download_bytes,
        )
        paths = [f.path for f in saved]
        # Saved: the signed result URLs are of no more use, and the journal is shared less carefully than a key.
        ledger.update(entry, state=JournalState.SAVED, paths=paths, digests=[f.sha256 for f in saved],
                      urls=[public_url(u) for u in task.urls])
        return GenerationResult(
            prompt=prompt, urls=task.urls, paths=paths, task_id=task.task_id, cost_usd=cost, request_id=task.request_id,
            aspect_ratio=params.get("aspect_ratio"), resolution=params.get("resolution"), journal_id=entry,
            created_at=row.created_at if row is not None else time.time(), parent=row.parent if row is not None else None,
        )


def keep_references(store: OutputStore, refs: list[PreparedReference]) -> None:
    """Each file sent, kept by its digest, so that its recipe can send it again."""
    for ref in refs:
        if ref.kind == "file" and ref.data is not None:
            store.references.keep(ref.digest, ref.data, ref.mime)


def reference_row(ref: PreparedReference) -> dict[str, Any]:
    """What the journal keeps of a reference: its digest and summary, and a URL
    reference's URL without its query's secrets (a file's bytes are kept by
    digest, see store/kept_references.py)."""
    row: dict[str, Any] = {"digest": ref.digest, "source": ref.source}
    if ref.kind == "url" and ref.url:
        row["url"] = public_url(ref.url)  # a signed URL's signature is never kept (a recipe then needs a fresh one)
    return row


async def _settled(write: asyncio.Future[None] | None) -> None:
    """Wait for a journal write on the way out of a failed call; its own failure
    has kept the task id in the fallback file, and the call's error comes first."""
    if write is not None:
        with contextlib.suppress(Exception):
            await asyncio.shield(write)
