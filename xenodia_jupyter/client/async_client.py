"""How we talk to the API: `AsyncClient` holds the only generation logic;
`Client` is a thin blocking facade that runs it on a private loop thread.

A generation flows one way: check the rules -> prepare references -> reserve
the price -> journal -> POST (transport.py) -> wait for the task
(polling.py) -> download without the key -> save (store.py) -> result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

import httpx

from ..batches.named import JobList
from ..batches.progress import BatchProgress, make_progress
from ..batches.runner import Batches
from ..batches.sweeps import Sweep, is_reference_axis
from ..core.budget import Budget, Reservation
from ..core.loop_thread import Job, LoopThread
from ..core.preparer import Preparation, PreparedGeneration
from ..core.recoverer import Recovery
from ..core.results import GenerationResult, ResultList
from ..errors import (
    APIConnectionError,
    APIError,
    GenerationFailedError,
    InvalidRequestError,
    NotFoundError,
    TaskTimeoutError,
    describe_exception,
)
from ..store.journal import CLAIM_LEASE_S, JournalState, OutputStore, claim_owner
from ..wire import protocol, rules
from ..wire.pace import RateLimiter
from ..wire.polling import ProgressCallback, wait_for_task
from ..wire.protocol import Task
from ..wire.rules import ModelInfo
from ..wire.transport import DEFAULT_BASE_URL, RetryPolicy, Transport

log = logging.getLogger("xenodia_jupyter")

DEFAULT_TIMEOUT_S = 600.0  # a whole generation, from the call to the saved file
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024

T = TypeVar("T")


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _checked_key(key: str | None) -> str | None:
    """Refuse a key that cannot go in a header as it is; never echo it.  White
    space is refused, not stripped: a key read with a trailing newline is
    usually a sign of the wrong file, and a silent fix would hide it."""
    if key is None or key == "":
        return key
    if not isinstance(key, str):
        raise InvalidRequestError("api_key", f"must be text (str), not {type(key).__name__}")
    if key != key.strip() or any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise InvalidRequestError(
            "api_key",
            "has white space or control characters in it (a trailing newline from open().read()?); "
            "pass it stripped, e.g. api_key=key.strip()",
        )
    if not key.isascii():
        raise InvalidRequestError("api_key", "has non-ASCII characters; an API key is plain ASCII text")
    return key


class AsyncClient(Preparation, Batches, Recovery):
    """The asynchronous client.  One connection pool per client; use it as an
    async context manager, or call `aclose()`.

    `budget_usd` limits what this client may spend; pass a shared `budget`
    instead to let several clients draw on one limit."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        output_dir: str | os.PathLike[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        budget_usd: float | None = None,
        budget: Budget | None = None,
        max_retries: int = 4,
        request_timeout: float = 120.0,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
        check_urls: bool = True,
        trust_idempotency: bool = False,
        cache: bool = False,
        max_requests_per_minute: float | None = None,
        max_in_flight: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if budget is not None and budget_usd is not None:
            raise InvalidRequestError("budget_usd", "give either budget_usd or a shared budget, not both")
        api_key = _checked_key(api_key if api_key is not None else _env("XENODIA_API_KEY"))
        self.base_url = (base_url or _env("XENODIA_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.store = OutputStore(output_dir)
        self.timeout = rules.check_seconds(timeout)
        rules.check_seconds(request_timeout, "request_timeout")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidRequestError("max_retries", f"must be a whole number >= 0, not {max_retries!r}")
        self.budget = budget if budget is not None else Budget(budget_usd)
        self.max_download_bytes = max_download_bytes
        self.check_urls = check_urls
        self.trust_idempotency = trust_idempotency
        self.cache = cache
        self._transport = Transport(
            self.base_url,
            api_key,
            request_timeout=request_timeout,
            policy=RetryPolicy(max_retries),
            limiter=RateLimiter(max_requests_per_minute),
            transport=transport,
        )
        if max_in_flight is not None and (isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 1):
            raise InvalidRequestError("max_in_flight", f"must be a whole number >= 1, or None, not {max_in_flight!r}")
        self.max_in_flight = max_in_flight
        self._in_flight: asyncio.Semaphore | None = None  # made on the loop that uses it
        self._model_info: ModelInfo | None = None
        self._model_lock: asyncio.Lock | None = None
        # Claims in the journal carry this: recover() elsewhere leaves our live tasks alone.
        self._owner = claim_owner()

    @property
    def spent_usd(self) -> float:
        """What this client's budget has counted so far this session."""
        return self.budget.spent_usd

    @property
    def budget_usd(self) -> float | None:
        return self.budget.limit_usd

    @budget_usd.setter
    def budget_usd(self, value: float | None) -> None:
        self.budget.limit_usd = value

    @property
    def max_retries(self) -> int:
        return self._transport.policy.max_retries

    def __repr__(self) -> str:
        key = "set" if self._transport.has_key else "not set"
        return f"<{type(self).__name__} base_url={self.base_url!r} key={key} output_dir={str(self.store.root)!r}>"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()
        self.store.journal.close()

    # Generation -----------------------------------------------------------------

    async def generate(
        self,
        prompt: str,
        references: object = None,
        *,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        cache: bool | None = None,
        model: str = rules.MODEL,
        response_format: str = "url",
        **options: Any,
    ) -> GenerationResult:
        """Generate one image call and return it saved on disk.

        Every rule is checked before anything is sent.  The call is journaled
        before the POST, so a paid result survives a crash (`xj.recover()`).
        `on_progress(task)` is called with each new task state.  `cache`
        (default: the client's setting) returns an earlier identical result.
        """
        deadline = self._deadline(timeout)
        request = await self.prepare(
            prompt,
            references,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            model=model,
            response_format=response_format,
            **options,
        )
        return await self.submit(request, deadline=deadline, on_progress=on_progress, cache=cache)

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
    ) -> GenerationResult:
        """Send a prepared request and wait for its images (`deadline` is a
        `time.monotonic()` value).  `generate` is `prepare` then `submit`.

        With the request cache on (`cache`, else the client's), a request whose
        key has a saved result in this output folder returns that result
        (`cached=True`, cost 0.0) and sends nothing."""
        key = request.request_key(variant)
        if self.cache if cache is None else cache:
            hit = self._cached(key)
            if hit is not None:
                return hit
        self._require_key()
        if self.max_in_flight is None:
            return await self._send(request, deadline, on_progress, key, job_item, resend_entry)
        if self._in_flight is None:
            self._in_flight = asyncio.Semaphore(self.max_in_flight)
        async with self._in_flight:  # a task counts from its POST until it is saved
            return await self._send(request, deadline, on_progress, key, job_item, resend_entry)

    async def _send(
        self,
        request: PreparedGeneration,
        deadline: float,
        on_progress: ProgressCallback | None,
        key: str,
        job_item: tuple[str, int] | None,
        resend_entry: str | None,
    ) -> GenerationResult:
        refs = await self._upload_ready(request.references)
        body = protocol.build_generation_body(
            request.prompt,
            aspect_ratio=request.params["aspect_ratio"],
            resolution=request.params["resolution"],
            image_urls=[r.url for r in refs if r.kind == "url" and r.url],
            image_files=[(r.filename, r.data, r.mime) for r in refs if r.kind == "file" and r.data is not None],
        )
        journal = self.store.journal
        held = self.budget.reserve(request.price_usd)
        try:
            if resend_entry is not None:
                if not await self._claim(resend_entry):  # a new entry here would be a second charge
                    raise InvalidRequestError("job", "this item is being sent by another client or process right now")
                entry = resend_entry  # the same entry, so the same Idempotency-Key
            else:
                entry = await self._begin(
                    base_url=self.base_url,
                    prompt=request.prompt,
                    params=request.params,
                    refs=[{"digest": r.digest, "source": r.source} for r in refs],
                    owner=self._owner,
                    request_key=key,
                    job_item=job_item,
                )
        except BaseException:
            self.budget.release(held)  # nothing was sent
            raise
        try:
            task = await self._transport.post_generation(
                body, idempotency_key=entry, trust_idempotency=self.trust_idempotency, deadline=deadline
            )
        except APIError as exc:
            self.budget.release(held)
            journal.update(entry, state=JournalState.REFUSED, error=str(exc))
            raise
        except BaseException as exc:
            # The POST may have been billed: keep whatever task id the answer carried.
            task_id = getattr(exc, "task_id", None)
            journal.update(entry, state=JournalState.UNKNOWN, error=self._transport.redact(describe_exception(exc)),
                           **({"task_id": task_id} if task_id else {}))
            raise
        state = JournalState.SUCCEEDED if task.done and task.state == "success" else JournalState.ACCEPTED
        recorded = self._record_answer(
            entry, state=state, server_state=task.state, task_id=task.task_id, request_id=task.request_id, urls=task.urls
        )
        return await self._finish(task, entry, prompt=request.prompt, params=request.params, held=held,
                                  deadline=deadline, on_progress=on_progress, recorded=recorded)

    async def retrieve(
        self, task_id: str, *, timeout: float | None = None, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        """Wait for (or fetch) an existing task and save its images.  No new POST,
        and nothing is reserved from this session's budget."""
        if not isinstance(task_id, str) or not task_id.strip():
            raise InvalidRequestError("task_id", "must be a non-empty task id such as 'task_123'")
        self._require_key()
        deadline = self._deadline(timeout)
        known = self.store.journal.find_task(task_id)
        if known is None:
            entry = self.store.journal.begin(base_url=self.base_url, prompt="", params={}, refs=[], owner=self._owner)
            self.store.journal.update(entry, task_id=task_id, state=JournalState.RETRIEVING)
            prompt, params = "", {}
        else:
            entry, prompt, params = known.id, known.prompt, known.params
            if not self.store.journal.claim(entry, self._owner):
                raise InvalidRequestError(
                    "task_id",
                    f"task {task_id} is being finished by another client or process right now; "
                    "it saves the image (see xj.history())",
                )
        task = Task(task_id=task_id, state="unknown")
        return await self._finish(task, entry, prompt=prompt, params=params, held=None, deadline=deadline,
                                  on_progress=on_progress, poll_first=True)

    # Steps of a generation ----------------------------------------------------------

    async def _begin(self, **row: Any) -> str:
        """Journal a generation before its POST (`Journal.begin`); nothing is sent
        unless this returns.  A cluster worker's client overrides it to have the
        driver journal the row (cluster_worker.py)."""
        return self.store.journal.begin(**row)

    async def _claim(self, entry: str) -> bool:
        """Take the right to finish a journaled generation (`Journal.claim`)."""
        return self.store.journal.claim(entry, self._owner)

    def _record_answer(self, entry: str, **values: Any) -> asyncio.Future[None]:
        """Journal the POST's answer (the task id: a durable commit, an fsync) on a
        thread, while the task's first poll interval passes; `_wait_and_save`
        waits for it before it writes anything that comes after."""
        return asyncio.ensure_future(asyncio.to_thread(self.store.journal.update, entry, **values))

    def _cached(self, key: str) -> GenerationResult | None:
        entry = self.store.journal.find_saved(key)
        if entry is None or not entry.paths or not all(p.exists() for p in entry.paths):
            return None  # never made, or its files were deleted: generate it again
        return replace(GenerationResult.from_entry(entry), cached=True, cost_usd=0.0)

    def _deadline(self, timeout: float | None) -> float:
        return time.monotonic() + (self.timeout if timeout is None else rules.check_seconds(timeout))

    def _require_key(self) -> None:
        if not self._transport.has_key:
            raise InvalidRequestError(
                "api_key",
                "no API key: set XENODIA_API_KEY or pass Client(api_key=...); "
                "to try things for free, run the emulator (python -m xenodia_jupyter.emulator)",
            )

    async def _finish(
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
        """Wait for the task, then save its images.  `held` is what this call
        reserved from the budget (None when it reserved nothing: a retrieval);
        `recorded`, the journal write of the POST's answer, if still under way."""
        journal = self.store.journal
        try:
            return await self._wait_and_save(
                task, entry, prompt=prompt, params=params, held=held, deadline=deadline,
                on_progress=on_progress, poll_first=poll_first, recorded=recorded,
            )
        finally:
            with contextlib.suppress(Exception):  # a journal that fails here has said so already
                journal.release(entry, self._owner)

    async def _wait_and_save(
        self,
        task: Task,
        entry: str,
        *,
        prompt: str,
        params: dict[str, Any],
        held: Reservation | None,
        deadline: float,
        on_progress: ProgressCallback | None,
        poll_first: bool,
        recorded: asyncio.Future[None] | None,
    ) -> GenerationResult:
        journal = self.store.journal
        renewed = time.monotonic()

        def heartbeat(seen: Task) -> None:
            nonlocal renewed
            if time.monotonic() - renewed > CLAIM_LEASE_S / 3:  # keep the claim while we wait
                renewed = time.monotonic()
                journal.claim(entry, self._owner)
            if on_progress is not None:
                on_progress(seen)

        try:
            task = await wait_for_task(
                self._transport,
                task,
                deadline=deadline,
                on_progress=heartbeat,
                on_state=lambda state: journal.update(entry, server_state=state),
                poll_now=poll_first,
            )
        except (TaskTimeoutError, asyncio.CancelledError, KeyboardInterrupt) as exc:
            await _settled(recorded)
            journal.update(entry, error=describe_exception(exc))
            raise
        except BaseException:
            await _settled(recorded)
            raise
        if recorded is not None:
            await recorded  # the task id is on disk (or in the fallback file) before anything later
        if task.state == "fail":
            reason = {k: self._transport.redact(v) if isinstance(v, str) else v for k, v in task.error.items()}
            journal.update(entry, state=JournalState.FAILED, server_state=task.state, error=str(reason))
            if held is not None and (task.billing_status == "released" or task.cost_micro_usdc == 0):
                self.budget.release(held)
            raise GenerationFailedError(task.task_id or "", reason, request_id=task.request_id)
        cost = task.cost_micro_usdc / 1e6 if task.cost_micro_usdc is not None else (held.price_usd if held else None)
        if held is not None and cost is not None:
            self.budget.settle(held, cost)
        journal.update(entry, state=JournalState.SUCCEEDED, server_state=task.state, urls=task.urls, cost_usd=cost)
        paths = await self._save(task, prompt=prompt, params=params, cost=cost, entry=entry, deadline=deadline)
        journal.update(entry, state=JournalState.SAVED, paths=paths)
        return GenerationResult(
            prompt=prompt,
            urls=task.urls,
            paths=paths,
            task_id=task.task_id,
            cost_usd=cost,
            request_id=task.request_id,
            aspect_ratio=params.get("aspect_ratio"),
            resolution=params.get("resolution"),
            created_at=time.time(),
            journal_id=entry,
        )

    async def _save(
        self, task: Task, *, prompt: str, params: dict[str, Any], cost: float | None, entry: str, deadline: float
    ) -> list[Path]:
        async def one(index: int, url: str) -> Path:
            try:
                data = await self._transport.download(url, limit=self.max_download_bytes, deadline=deadline)
            except NotFoundError:
                raise NotFoundError(
                    f"the result URL has expired or is gone: {url}. {_PAID_HINT} (it asks the server for fresh URLs)",
                    status_code=404,
                    task_id=task.task_id,
                ) from None
            except APIError as exc:
                raise type(exc)(
                    f"{exc.message} (downloading {url}). {_PAID_HINT}",
                    status_code=exc.status_code,
                    code=exc.code,
                    request_id=exc.request_id,
                    task_id=task.task_id,
                ) from None
            facts = {
                **params,
                "references": reference_digests,
                "task_id": task.task_id,
                "request_id": task.request_id,
                "cost_usd": cost,
                "journal_id": entry,
                "created_at": created_at,
            }
            return await asyncio.to_thread(
                self.store.save_result, data, url=url, prompt=prompt, index=index, facts=facts
            )

        if not task.urls:
            raise APIConnectionError("the task succeeded but returned no image URL", task_id=task.task_id)
        row = self.store.journal.entry(entry)
        reference_digests = [r.get("digest") for r in row.refs] if row is not None else []
        # The file name comes from the entry, not the clock: a save done again after a
        # crash (recover, a resumed job) replaces the orphan file instead of adding one.
        created_at = row.created_at if row is not None else time.time()
        return list(await asyncio.gather(*(one(i, u) for i, u in enumerate(task.urls))))


_PAID_HINT = "The image is paid for and journaled: xj.recover() downloads it later"


async def _settled(write: asyncio.Future[None] | None) -> None:
    """Wait for a journal write on the way out of a failed call; its own failure
    has kept the task id in the fallback file, and the call's error comes first."""
    if write is not None:
        with contextlib.suppress(Exception):
            await asyncio.shield(write)


def _discarding(progress: Any, start: Callable[[Any], T], coro: Coroutine[Any, Any, Any]) -> T:
    """`start(coro)`; a progress display made for it is taken away again when
    the call is refused before it starts (a bad option, the budget)."""
    try:
        return start(coro)
    except BaseException:
        if isinstance(progress, BatchProgress) and progress.done + progress.failed == 0:
            progress.discard()
        raise


def interrupted(task_ids: list[str], recover: str) -> KeyboardInterrupt:
    """A KeyboardInterrupt that says, in one line (also in IPython, which shows
    `_render_traceback_` instead of frames), which paid tasks still run and how
    to collect them."""
    if task_ids:
        what = "task " + ", ".join(task_ids) + (" is" if len(task_ids) == 1 else " are")
        text = f"Interrupted: {what} still running on the server and journaled; collect with {recover} (no second charge)."
    else:
        text = f"Interrupted before the server answered; if it was sent, {recover} and the history know."
    error = KeyboardInterrupt(text)
    error._render_traceback_ = lambda: ["\x1b[0;31mKeyboardInterrupt\x1b[0m: " + text]  # type: ignore[attr-defined]
    return error


# The blocking facade -------------------------------------------------------------------


class Client:
    """The blocking client: the same methods as `AsyncClient`, without `await`.

        client = xj.Client()                 # XENODIA_API_KEY, XENODIA_BASE_URL
        result = client.generate("a red bicycle", aspect_ratio="16:9", resolution="2K")
        result.image.size

    It runs an `AsyncClient` on a private loop thread, so it behaves the same
    in a script and inside a running kernel (whose loop it never touches).
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        output_dir: str | os.PathLike[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        budget_usd: float | None = None,
        budget: Budget | None = None,
        max_retries: int = 4,
        request_timeout: float = 120.0,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
        check_urls: bool = True,
        trust_idempotency: bool = False,
        cache: bool = False,
        max_requests_per_minute: float | None = None,
        max_in_flight: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._portal = LoopThread(name="xenodia-client")
        self._async = AsyncClient(
            api_key,
            base_url,
            output_dir=output_dir,
            timeout=timeout,
            budget_usd=budget_usd,
            budget=budget,
            max_retries=max_retries,
            request_timeout=request_timeout,
            max_download_bytes=max_download_bytes,
            check_urls=check_urls,
            trust_idempotency=trust_idempotency,
            cache=cache,
            max_requests_per_minute=max_requests_per_minute,
            max_in_flight=max_in_flight,
            transport=transport,
        )

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncClient", "Client", 1)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool and the journal, and stop the loop thread."""
        if self._portal.started:
            self._portal.run(self._async.aclose())
        else:
            self._async.store.journal.close()
        self._portal.close()

    @property
    def aclient(self) -> AsyncClient:
        """The `AsyncClient` underneath."""
        return self._async

    @property
    def base_url(self) -> str:
        return self._async.base_url

    @property
    def store(self) -> OutputStore:
        return self._async.store

    @property
    def budget(self) -> Budget:
        return self._async.budget

    @property
    def spent_usd(self) -> float:
        return self._async.spent_usd

    @property
    def budget_usd(self) -> float | None:
        return self._async.budget_usd

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        started = time.time()
        try:
            return self._portal.run(coro)
        except KeyboardInterrupt:
            # The job was cancelled and has journaled its state: say what is still paid for.
            running = [
                e.task_id
                for e in self._async.store.journal.entries(limit=200)
                if e.created_at >= started and e.task_id and e.recoverable
            ]
            raise interrupted(running, "xj.recover()") from None

    def model(self) -> ModelInfo:
        """gpt-image-2 as model discovery describes it (allowed values, price, reference limit)."""
        return self._run(self._async.model())

    def generate(
        self,
        prompt: str,
        references: object = None,
        *,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        cache: bool | None = None,
        model: str = rules.MODEL,
        response_format: str = "url",
        **options: Any,
    ) -> GenerationResult:
        """Generate one image call and return it saved on disk.

        `references`: URLs, paths, bytes, binary files, PIL images, NumPy arrays,
        matplotlib figures or earlier results (one, or a list of up to 16).
        Every rule is checked before anything is sent; the call is journaled
        before the POST, so a paid result survives a crash (`xj.recover()`).
        """
        return self._run(
            self._async.generate(
                prompt,
                references,
                aspect_ratio=aspect_ratio,
                resolution=resolution,
                timeout=timeout,
                on_progress=on_progress,
                cache=cache,
                model=model,
                response_format=response_format,
                **options,
            )
        )

    def prepare(
        self,
        prompt: str,
        references: object = None,
        *,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        model: str = rules.MODEL,
        response_format: str = "url",
        **options: Any,
    ) -> PreparedGeneration:
        """Check every rule and build the request, sending nothing."""
        return self._run(
            self._async.prepare(
                prompt,
                references,
                aspect_ratio=aspect_ratio,
                resolution=resolution,
                model=model,
                response_format=response_format,
                **options,
            )
        )

    def retrieve(
        self, task_id: str, *, timeout: float | None = None, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        """Wait for (or fetch) an existing task and save its images.  No new POST."""
        return self._run(self._async.retrieve(task_id, timeout=timeout, on_progress=on_progress))

    @overload
    def generate_many(
        self, prompts: Iterable[str], concurrency: int = ..., *, compute: Literal[True] = ..., **options: Any
    ) -> ResultList: ...

    @overload
    def generate_many(
        self, prompts: Iterable[str], concurrency: int = ..., *, compute: Literal[False], **options: Any
    ) -> Job[ResultList]: ...

    def generate_many(
        self,
        prompts: Iterable[str],
        concurrency: int = 8,
        *,
        references: object = None,
        job: str | None = None,
        on_result: Callable[[int, GenerationResult | Exception], Any] | None = None,
        on_progress: ProgressCallback | None = None,
        progress: bool | BatchProgress | None = None,
        timeout: float | None = None,
        cache: bool | None = None,
        executor: Any = None,
        compute: bool = True,
        **common: Any,
    ) -> ResultList | Job[ResultList]:
        """One call per prompt, at most `concurrency` at once, results in input
        order; a failed item holds its `XenodiaError`.  `common` (aspect_ratio,
        resolution, ...) applies to every prompt.  `executor`: a Dask
        `distributed.Client` runs the job on its cluster (see cluster.py).

        `compute=False` returns at once with a future of the `ResultList`
        (`.result()`, `.done()`, `.cancel()`, `.add_done_callback()`) while the
        job runs in the background; the cell, and the notebook, stay free."""
        if not isinstance(prompts, (str, bytes)) and not isinstance(progress, BatchProgress):
            prompts = list(prompts)  # the display is made here, in the caller's (the cell's) thread
            progress = make_progress(progress, len(prompts)) or False
        job_run = self._async.generate_many(
            prompts,
            concurrency,
            references=references,
            job=job,
            on_result=on_result,
            on_progress=on_progress,
            progress=progress,
            timeout=timeout,
            cache=cache,
            executor=executor,
            **common,
        )
        if compute:
            return _discarding(progress, self._run, job_run)
        return _discarding(progress, self._portal.submit, job_run)

    def sweep(
        self,
        template: str,
        *,
        aspect_ratio: str | list[str] | None = None,
        resolution: str | list[str] | None = None,
        references: object = None,
        concurrency: int = 8,
        job: str | None = None,
        cache: bool | None = None,
        dry_run: bool = False,
        progress: bool | BatchProgress | None = None,
        timeout: float | None = None,
        on_result: Callable[[int, GenerationResult | Exception], Any] | None = None,
        **axes: list[Any],
    ) -> Sweep:
        """A prompt template over axes of values, as one batch shown as a labelled
        grid: `client.sweep("A {animal} in {style}", animal=[...], style=[...])`.
        `on_result(index, result)`: called as each cell ends (index in plan order)."""
        shown: bool | BatchProgress | None = progress
        if not dry_run and not isinstance(progress, BatchProgress):
            count = 1
            reference_sets = references if is_reference_axis(references) else None
            for values in [*axes.values(), *(v for v in (aspect_ratio, resolution, reference_sets) if isinstance(v, (list, tuple)))]:
                count *= len(values) if isinstance(values, (list, tuple)) else 1
            shown = make_progress(progress, count) or False
        run = self._async.sweep(
            template, aspect_ratio=aspect_ratio, resolution=resolution, references=references,
            concurrency=concurrency, job=job, cache=cache, dry_run=dry_run, progress=shown, timeout=timeout,
            on_result=on_result, **axes,
        )
        return _discarding(shown, self._run, run)

    def history(self, limit: int | None = None) -> ResultList:
        """Past generations saved in this output folder, newest first."""
        return self._run(self._async.history(limit))

    def jobs(self) -> JobList:
        """This output folder's jobs, newest first, with their counts and spend."""
        return self._run(self._async.jobs())

    def recover(self, *, timeout: float | None = None, concurrency: int = 8) -> ResultList:
        """Finish every journaled generation that was paid for but not saved (no new POST)."""
        return self._run(self._async.recover(timeout=timeout, concurrency=concurrency))


__all__: Sequence[str] = ["AsyncClient", "Client", "PreparedGeneration"]
