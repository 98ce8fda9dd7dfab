"""How we talk to the API: `AsyncClient` holds the only HTTP logic; `Client` is a
thin blocking facade that runs it on a private event loop thread.

A generation flows one way: check the rules -> prepare references -> journal
-> POST -> poll the task -> download (without the key) -> save -> result.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from . import protocol, rules
from .errors import (
    APIConnectionError,
    APIError,
    BudgetExceededError,
    GenerationFailedError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    TaskTimeoutError,
    XenodiaError,
)
from .loop_thread import LoopThread
from .protocol import Task
from .references import PreparedReference, prepare_references, reference_from_bytes
from .results import GenerationResult, ResultList
from .rules import ModelInfo
from .store import FAILED, REFUSED, SAVED, UNKNOWN, JournalEntry, OutputStore, file_stem

log = logging.getLogger("xenodia_jupyter")

DEFAULT_BASE_URL = "https://api.xenodia.xyz"
DEFAULT_TIMEOUT_S = 600.0  # a whole generation, from the call to the saved file
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
MAX_POLL_INTERVAL_S = 10.0
MAX_RETRY_AFTER_S = 60.0

ProgressCallback = Callable[[Task], Any]
T = TypeVar("T")


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


@dataclass
class PreparedGeneration:
    """A checked request, ready to send: what `--dry-run` shows."""

    prompt: str
    params: dict[str, Any]
    references: list[PreparedReference]
    price_usd: float

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.params["model"],
            "prompt": self.prompt,
            "aspect_ratio": self.params["aspect_ratio"],
            "resolution": self.params["resolution"],
            "references": [r.source for r in self.references],
            "transport": "multipart" if any(r.kind == "file" for r in self.references) else "json",
            "price_usd": self.price_usd,
        }


class AsyncClient:
    """The asynchronous client.  One connection pool per client; use it as an
    async context manager, or call `aclose()`."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        output_dir: str | os.PathLike[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        budget_usd: float | None = None,
        max_retries: int = 4,
        request_timeout: float = 120.0,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api_key = api_key if api_key is not None else _env("XENODIA_API_KEY")
        self.base_url = (base_url or _env("XENODIA_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.store = OutputStore(output_dir)
        self.timeout = timeout
        self.budget_usd = budget_usd
        self.spent_usd = 0.0
        self.max_retries = max_retries
        self.max_download_bytes = max_download_bytes
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(request_timeout, connect=10.0),
            transport=transport,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            headers={"User-Agent": "xenodia-jupyter/0.1"},
        )
        self._model_info: ModelInfo | None = None
        self._model_lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        key = "set" if self._api_key else "not set"
        return f"<{type(self).__name__} base_url={self.base_url!r} key={key} output_dir={str(self.store.root)!r}>"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        self.store.journal.close()

    # Discovery ------------------------------------------------------------------

    async def model(self) -> ModelInfo:
        """gpt-image-2 as model discovery describes it (read once per client;
        no key needed).  Falls back to the documented rules when unreachable."""
        if self._model_info is not None:
            return self._model_info
        if self._model_lock is None:
            self._model_lock = asyncio.Lock()
        async with self._model_lock:
            if self._model_info is None:
                try:
                    body = await self._get_json(self._url(protocol.MODELS_PATH), auth=False, retries=1)
                    self._model_info = ModelInfo(**protocol.parse_models(body))
                except XenodiaError as exc:
                    log.warning("model discovery failed (%s); using the documented rules", exc)
                    self._model_info = rules.DEFAULT_MODEL_INFO
        return self._model_info

    # Generation -----------------------------------------------------------------

    async def prepare(
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
        """Check every rule and build the request, sending nothing (`--dry-run`
        shows this).  Raises `InvalidRequestError` naming the field and rule."""
        rules.check_unknown_options(options)
        rules.check_prompt(prompt)
        info = await self.model()
        rules.check_parameters(
            model=model, aspect_ratio=aspect_ratio, resolution=resolution, response_format=response_format, info=info
        )
        refs = await self._prepare(references, info)
        price = info.price_usd_for(resolution)
        self._check_budget(price)
        self._require_key()
        return PreparedGeneration(
            prompt=prompt,
            params={"model": model, "aspect_ratio": aspect_ratio, "resolution": resolution},
            references=refs,
            price_usd=price,
        )

    async def generate(
        self,
        prompt: str,
        references: object = None,
        *,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        model: str = rules.MODEL,
        response_format: str = "url",
        **options: Any,
    ) -> GenerationResult:
        """Generate one image call and return it saved on disk.

        Every rule is checked before anything is sent.  The call is journaled
        before the POST, so a paid result survives a crash (`xj.recover()`).
        `on_progress(task)` is called with each new task state.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        request = await self.prepare(
            prompt,
            references,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            model=model,
            response_format=response_format,
            **options,
        )
        return await self.submit(request, deadline=deadline, on_progress=on_progress)

    async def submit(
        self, request: PreparedGeneration, *, deadline: float, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        """Send a prepared request and wait for its images (`deadline` is a
        `time.monotonic()` value).  `generate` is `prepare` then `submit`."""
        refs = request.references
        if any(r.kind == "file" for r in refs) and any(r.kind == "url" for r in refs):
            refs = await self._fetch_url_references(refs)
        body = protocol.build_generation_body(
            request.prompt,
            aspect_ratio=request.params["aspect_ratio"],
            resolution=request.params["resolution"],
            image_urls=[r.url for r in refs if r.kind == "url" and r.url],
            image_files=[(r.filename, r.data, r.mime) for r in refs if r.kind == "file" and r.data is not None],
        )
        journal = self.store.journal
        entry = journal.begin(
            base_url=self.base_url,
            prompt=request.prompt,
            params=request.params,
            refs=[{"digest": r.digest, "source": r.source} for r in refs],
        )
        price = request.price_usd
        self._check_budget(price)
        self.spent_usd += price  # reserved now; given back if the server refuses the call
        try:
            task = await self._post_generation(body)
        except APIError as exc:
            self.spent_usd -= price
            journal.update(entry, state=REFUSED, error=str(exc))
            raise
        except BaseException as exc:
            journal.update(entry, state=UNKNOWN, error=_describe(exc))
            raise
        journal.update(entry, state=task.state, task_id=task.task_id, request_id=task.request_id, urls=task.urls)
        return await self._finish(
            task,
            entry,
            prompt=request.prompt,
            params=request.params,
            price=price,
            deadline=deadline,
            on_progress=on_progress,
        )

    async def retrieve(
        self, task_id: str, *, timeout: float | None = None, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        """Wait for (or fetch) an existing task and save its images.  No new POST."""
        if not isinstance(task_id, str) or not task_id.strip():
            raise InvalidRequestError("task_id", "must be a non-empty task id such as 'task_123'")
        self._require_key()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        known = self.store.journal.find_task(task_id)
        if known is None:
            entry = self.store.journal.begin(base_url=self.base_url, prompt="", params={}, refs=[])
            self.store.journal.update(entry, task_id=task_id, state="retrieving")
            prompt, params = "", {}
        else:
            entry, prompt, params = known.id, known.prompt, known.params
        task = Task(task_id=task_id, state="unknown")
        info = await self.model()
        return await self._finish(
            task,
            entry,
            prompt=prompt,
            params=params,
            price=info.price_usd_for(params.get("resolution")),
            deadline=deadline,
            on_progress=on_progress,
            poll_first=True,
        )

    async def generate_many(
        self,
        prompts: Iterable[str],
        concurrency: int = 8,
        *,
        on_result: Callable[[int, GenerationResult | XenodiaError], Any] | None = None,
        **common: Any,
    ) -> ResultList:
        """Generate one call per prompt, at most `concurrency` at once.

        Returns a list in input order.  A failed item does not sink the batch:
        its place holds the `XenodiaError` that ended it (check with
        `isinstance(item, xj.XenodiaError)`).  Rule violations common to all
        prompts are raised at once, before anything is sent.
        """
        prompt_list = list(prompts)
        if concurrency < 1:
            raise InvalidRequestError("concurrency", f"must be at least 1, not {concurrency}")
        rules.check_unknown_options(
            {k: v for k, v in common.items() if k not in _GENERATE_KEYWORDS},
        )
        info = await self.model()
        rules.check_parameters(
            aspect_ratio=common.get("aspect_ratio"), resolution=common.get("resolution"), info=info
        )
        for index, prompt in enumerate(prompt_list):
            try:
                rules.check_prompt(prompt)
            except InvalidRequestError as exc:
                raise InvalidRequestError(f"prompts[{index}]", exc.message) from None
        if self.budget_usd is not None:
            self._check_budget(info.price_usd_for(common.get("resolution")) * len(prompt_list))
        gate = asyncio.Semaphore(concurrency)
        results: list[GenerationResult | XenodiaError | None] = [None] * len(prompt_list)

        async def one(index: int, prompt: str) -> None:
            async with gate:
                try:
                    results[index] = await self.generate(prompt, **common)
                except XenodiaError as exc:
                    results[index] = exc
            if on_result is not None:
                on_result(index, results[index])  # type: ignore[arg-type]

        await asyncio.gather(*(one(i, p) for i, p in enumerate(prompt_list)))
        return ResultList(results)

    # The journal --------------------------------------------------------------------

    async def history(self, limit: int | None = None) -> ResultList:
        """Past generations saved in this output folder, newest first."""
        return ResultList(
            _result_from_entry(e) for e in self.store.journal.entries(limit=limit) if e.state == SAVED and e.paths
        )

    async def recover(self, *, timeout: float | None = None, concurrency: int = 8) -> ResultList:
        """Finish every journaled generation that was (or may have been) paid for
        but not saved: poll its task (no new POST), download and save.  Returns
        the recovered results and, in place of those that could not be finished,
        the error that stopped them (also journaled).  A task still running
        after `timeout` seconds is left in the journal for next time."""
        gate = asyncio.Semaphore(concurrency)
        entries = [
            e
            for e in self.store.journal.entries()
            if e.recoverable and protocol.same_origin(e.base_url, self.base_url)
        ]

        async def one(entry: JournalEntry) -> GenerationResult | XenodiaError:
            async with gate:
                try:
                    if entry.task_id:
                        return await self.retrieve(entry.task_id, timeout=timeout)
                    # An older-style 200 answer: its URLs are all there is.
                    task = Task(task_id=None, state="success", progress=100, urls=entry.urls)
                    return await self._finish(
                        task,
                        entry.id,
                        prompt=entry.prompt,
                        params=entry.params,
                        price=entry.cost_usd or 0.0,
                        deadline=time.monotonic() + (self.timeout if timeout is None else timeout),
                        on_progress=None,
                    )
                except XenodiaError as exc:
                    self.store.journal.update(entry.id, error=_describe(exc))
                    return exc

        return ResultList(await asyncio.gather(*(one(e) for e in entries)))

    # Steps of a generation ----------------------------------------------------------

    async def _prepare(self, references: object, info: ModelInfo) -> list[PreparedReference]:
        if references is None or (isinstance(references, (list, tuple)) and not references):
            return []
        if isinstance(references, str) or (
            isinstance(references, (list, tuple)) and all(isinstance(r, str) and "://" in r for r in references)
        ):
            return prepare_references(references, max_references=info.max_references)
        # Reading files and encoding images takes real time: keep it off the event loop.
        return await asyncio.to_thread(prepare_references, references, max_references=info.max_references)

    def _check_budget(self, price: float) -> None:
        if self.budget_usd is not None and self.spent_usd + price > self.budget_usd + 1e-9:
            raise BudgetExceededError(self.spent_usd, price, self.budget_usd)

    def _require_key(self) -> None:
        if not self._api_key:
            raise InvalidRequestError(
                "api_key",
                "no API key: set XENODIA_API_KEY or pass Client(api_key=...); "
                "to try things for free, run the emulator (python -m xenodia_jupyter.emulator)",
            )

    async def _fetch_url_references(self, refs: list[PreparedReference]) -> list[PreparedReference]:
        """URLs and files together: the API takes either a JSON body with URLs or a
        multipart body with files, so URL references are fetched (without the key)
        and uploaded as files too.  This also lets the type and size rules be
        checked on them before anything is billed."""

        async def fetch(ref: PreparedReference) -> PreparedReference:
            if ref.kind != "url" or not ref.url:
                return ref
            try:
                data = await self._download(ref.url, limit=rules.MAX_REFERENCE_BYTES)
            except APIError as exc:
                raise InvalidRequestError("references", f"could not fetch {ref.url}: {exc}") from None
            name = ref.url.rsplit("/", 1)[-1].split("?")[0] or "reference"
            return reference_from_bytes(data, name, f"URL {ref.url}")

        return list(await asyncio.gather(*(fetch(r) for r in refs)))

    async def _post_generation(self, body: protocol.RequestBody) -> Task:
        """POST once.  Repeated only when it provably never reached the server
        (the connection could not be made) or the server refused it with 429/503
        and Retry-After: generation is billed per call."""
        url = self._url(protocol.GENERATIONS_PATH)
        for attempt in range(self.max_retries + 1):
            try:
                response = await self._http.post(url, headers=self._auth(), **body.as_httpx_kwargs())
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt == self.max_retries:
                    raise APIConnectionError(f"could not reach {self.base_url}: {_describe(exc)}") from None
                await asyncio.sleep(_backoff(attempt))
                continue
            except httpx.TransportError as exc:
                raise APIConnectionError(
                    f"the connection failed after the generation request was sent ({_describe(exc)}); "
                    "it may have been accepted and billed, so it was not repeated. "
                    "Run xj.recover() later, or look at xj.history()"
                ) from None
            if response.status_code in (200, 202):
                content = response.content
                return protocol.parse_generation(
                    response.status_code, protocol.decode_json(content, "generation request")
                )
            error = self._error(response)
            retry_after = protocol.parse_retry_after(response.headers.get("retry-after"))
            if response.status_code in (429, 503) and retry_after is not None and attempt < self.max_retries:
                await asyncio.sleep(min(retry_after, MAX_RETRY_AFTER_S))
                continue
            raise error
        raise AssertionError("unreachable")

    async def _finish(
        self,
        task: Task,
        entry: str,
        *,
        prompt: str,
        params: dict[str, Any],
        price: float,
        deadline: float,
        on_progress: ProgressCallback | None,
        poll_first: bool = False,
    ) -> GenerationResult:
        journal = self.store.journal
        started = time.monotonic()
        try:
            task = await self._wait(task, entry, deadline, on_progress, poll_now=poll_first)
        except (TaskTimeoutError, asyncio.CancelledError, KeyboardInterrupt) as exc:
            journal.update(entry, error=_describe(exc))
            raise
        if task.state == "fail":
            journal.update(entry, state=FAILED, error=str(task.error))
            if task.billing_status == "released" or task.cost_micro_usdc == 0:
                self.spent_usd = max(0.0, self.spent_usd - price)
            raise GenerationFailedError(task.task_id or "", task.error, request_id=task.request_id)
        cost = task.cost_micro_usdc / 1e6 if task.cost_micro_usdc is not None else price
        journal.update(entry, state="success", urls=task.urls, cost_usd=cost)
        paths = await self._save(task, prompt=prompt, params=params, cost=cost, entry=entry)
        journal.update(entry, state=SAVED, paths=paths)
        log.debug("saved %d image(s) for task %s in %.2fs", len(paths), task.task_id, time.monotonic() - started)
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

    async def _wait(
        self, task: Task, entry: str, deadline: float, on_progress: ProgressCallback | None, *, poll_now: bool
    ) -> Task:
        """Poll until the task ends or the deadline passes.  An unknown state is
        never taken for success: only `success` and `fail` end the wait."""
        started = time.monotonic()
        task_id = task.task_id or ""
        url = protocol.resolve_poll_url(self.base_url, task_id, task.poll_url)
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
                await asyncio.sleep(min(_poll_delay(task, attempt), deadline - now))
                attempt += 1
            poll_now = False
            body = await self._get_json(url, auth=True, task_id=task_id, deadline=deadline)
            polled = protocol.parse_task(body)
            if polled.state != task.state and not polled.done:  # the caller journals the end
                self.store.journal.update(entry, state=polled.state)
            if polled.poll_url and polled.poll_url != task.poll_url:
                url = protocol.resolve_poll_url(self.base_url, task_id, polled.poll_url)
            task = polled

    async def _save(
        self, task: Task, *, prompt: str, params: dict[str, Any], cost: float, entry: str
    ) -> list[Path]:
        async def one(index: int, url: str) -> Path:
            try:
                data = await self._download(url, limit=self.max_download_bytes)
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
            meta = {
                "prompt": prompt,
                **params,
                "task_id": task.task_id,
                "request_id": task.request_id,
                "url": url,
                "index": index,
                "cost_usd": cost,
                "journal_id": entry,
                "saved_at": time.time(),
            }
            return await asyncio.to_thread(self._store_result, data, url, file_stem(prompt, task.task_id, index), meta)

        if not task.urls:
            raise APIConnectionError("the task succeeded but returned no image URL", task_id=task.task_id)
        return list(await asyncio.gather(*(one(i, u) for i, u in enumerate(task.urls))))

    def _store_result(self, data: bytes, url: str, stem: str, meta: dict[str, Any]) -> Path:
        """In a worker thread: check the file, then save it."""
        return self.store.save_image(data, _check_image(data, url), stem=stem, meta=meta)

    # HTTP ------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _error(self, response: httpx.Response, task_id: str | None = None) -> APIError:
        return protocol.error_from_response(
            response.status_code, response.headers, response.content, task_id=task_id, secret=self._api_key
        )

    async def _get_json(
        self,
        url: str,
        *,
        auth: bool,
        task_id: str | None = None,
        retries: int | None = None,
        deadline: float | None = None,
    ) -> Any:
        """A GET that is safe to repeat: retried on connection errors, malformed
        bodies, 5xx and 429 (honouring Retry-After), within the deadline."""
        retries = self.max_retries if retries is None else retries
        headers = self._auth() if auth and protocol.same_origin(url, self.base_url) else {}
        for attempt in range(retries + 1):
            last = attempt == retries or (deadline is not None and time.monotonic() >= deadline)
            try:
                response = await self._http.get(url, headers=headers)
            except httpx.TransportError as exc:
                if last:
                    raise APIConnectionError(f"GET {_path(url)} failed: {_describe(exc)}", task_id=task_id) from None
                await self._pause(_backoff(attempt), deadline)
                continue
            if response.status_code == 200:
                try:
                    return protocol.decode_json(response.content, f"GET {_path(url)}")
                except APIConnectionError as exc:
                    if last:
                        exc.task_id = task_id
                        raise
                    await self._pause(_backoff(attempt), deadline)
                    continue
            error = self._error(response, task_id)
            if (response.status_code == 429 or response.status_code >= 500) and not last:
                hint = error.retry_after if isinstance(error, RateLimitError) else None
                hint = hint if hint is not None else protocol.parse_retry_after(response.headers.get("retry-after"))
                await self._pause(min(hint, MAX_RETRY_AFTER_S) if hint is not None else _backoff(attempt), deadline)
                continue
            raise error
        raise AssertionError("unreachable")

    async def _download(self, url: str, *, limit: int) -> bytes:
        """A result or reference file: never with the key, streamed, size-capped."""
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                async with self._http.stream("GET", url, follow_redirects=True) as response:
                    if response.status_code != 200:
                        await response.aread()
                        error = self._error(response)
                        if (response.status_code == 429 or response.status_code >= 500) and not last:
                            await asyncio.sleep(_backoff(attempt))
                            continue
                        raise error
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > limit:
                        raise APIConnectionError(
                            f"{url} is {int(declared):,} bytes, more than the {limit:,}-byte cap"
                        )
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes(1 << 20):
                        size += len(chunk)
                        if size > limit:
                            raise APIConnectionError(f"{url} is more than the {limit:,}-byte cap")
                        chunks.append(chunk)
                    return b"".join(chunks)
            except httpx.TransportError as exc:
                if last:
                    raise APIConnectionError(f"downloading {url} failed: {_describe(exc)}") from None
                await asyncio.sleep(_backoff(attempt))
        raise AssertionError("unreachable")

    async def _pause(self, seconds: float, deadline: float | None) -> None:
        if deadline is not None:
            seconds = min(seconds, max(0.0, deadline - time.monotonic()))
        await asyncio.sleep(seconds)


_PAID_HINT = "The image is paid for and journaled: xj.recover() downloads it later"

_GENERATE_KEYWORDS = frozenset(
    {"references", "aspect_ratio", "resolution", "timeout", "on_progress", "model", "response_format"}
)


def _result_from_entry(entry: JournalEntry) -> GenerationResult:
    return GenerationResult(
        prompt=entry.prompt,
        urls=entry.urls,
        paths=entry.paths,
        task_id=entry.task_id,
        cost_usd=entry.cost_usd,
        request_id=entry.request_id,
        aspect_ratio=entry.params.get("aspect_ratio"),
        resolution=entry.params.get("resolution"),
        created_at=entry.created_at,
        journal_id=entry.id,
    )


def _check_image(data: bytes, url: str) -> str:
    """A downloaded result must be a whole image of an accepted type."""
    mime = rules.sniff_mime(data)
    if mime is None:
        raise APIConnectionError(f"{url} did not return an image ({rules.describe_bytes(data)})")
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
        if mime == "image/png" and not data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82"):
            raise OSError("no IEND chunk")
    except Exception as exc:
        raise APIConnectionError(f"{url} returned a broken or truncated image ({exc})") from None
    return mime


def _poll_delay(task: Task, attempt: int) -> float:
    """The server's recommended interval when it gives one, else a capped backoff."""
    if task.poll_interval_s is not None:
        return min(max(task.poll_interval_s, 0.01), MAX_POLL_INTERVAL_S)
    return min(0.5 * 1.5**attempt, MAX_POLL_INTERVAL_S)


def _backoff(attempt: int) -> float:
    return min(0.25 * 2**attempt, 8.0) * (0.5 + random.random() / 2)


def _path(url: str) -> str:
    return httpx.URL(url).path


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# The blocking facade -------------------------------------------------------------------


class Client:
    """The blocking client: the same methods as `AsyncClient`, without `await`.

        client = xj.Client()                 # XENODIA_API_KEY, XENODIA_BASE_URL
        result = client.generate("a red bicycle", aspect_ratio="16:9", resolution="2K")
        result.image.size
    """

    def __init__(self, api_key: str | None = None, base_url: str | None = None, **options: Any) -> None:
        self._portal = LoopThread(name="xenodia-client")
        self._async = AsyncClient(api_key, base_url, **options)

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncClient", "Client", 1)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._portal.started:
            self._portal.run(self._async.aclose())
        else:
            self._async.store.journal.close()
        self._portal.close()

    @property
    def aclient(self) -> AsyncClient:
        return self._async

    @property
    def base_url(self) -> str:
        return self._async.base_url

    @property
    def store(self) -> OutputStore:
        return self._async.store

    @property
    def spent_usd(self) -> float:
        return self._async.spent_usd

    @property
    def budget_usd(self) -> float | None:
        return self._async.budget_usd

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._portal.run(coro)

    def model(self) -> ModelInfo:
        return self._run(self._async.model())

    def generate(self, prompt: str, references: object = None, **kwargs: Any) -> GenerationResult:
        return self._run(self._async.generate(prompt, references, **kwargs))

    def prepare(self, prompt: str, references: object = None, **kwargs: Any) -> PreparedGeneration:
        return self._run(self._async.prepare(prompt, references, **kwargs))

    def retrieve(self, task_id: str, **kwargs: Any) -> GenerationResult:
        return self._run(self._async.retrieve(task_id, **kwargs))

    def generate_many(self, prompts: Iterable[str], concurrency: int = 8, **common: Any) -> ResultList:
        return self._run(self._async.generate_many(prompts, concurrency, **common))

    def history(self, limit: int | None = None) -> ResultList:
        return self._run(self._async.history(limit))

    def recover(self, **kwargs: Any) -> ResultList:
        return self._run(self._async.recover(**kwargs))


__all__: Sequence[str] = ["AsyncClient", "Client"]
