"""`AsyncClient`: the core's named parts, put together.

    transport  the only HTTP (wire/transport.py), with the pace (wire/pace.py)
    preparer   rules, references, price; nothing sent (core/preparer.py)
    ledger     the journal-side steps of a generation (core/ledger.py)
    generator  journal -> POST -> wait -> save (core/generator.py)
    runner     batches, sweeps, named jobs, the cluster (batches/runner.py)
    recoverer  history, retrieve, recover: no new POST (core/recoverer.py)

Every method below delegates to one of them in a line or three; the path of
one generation is `prepare` then `Generator.submit`.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import httpx

from ..batches.runner import BatchRunner
from ..core.budget import Budget
from ..core.generator import Generator
from ..core.ledger import LocalLedger
from ..core.options import ClientOptions
from ..core.preparer import PreparedGeneration, Preparer
from ..core.recipe import read_recipe, remix_arguments
from ..core.recoverer import Recoverer
from ..core.results import GenerationResult
from ..errors import InvalidRequestError
from ..store.journal import claim_owner
from ..store.outputs import OutputStore
from ..wire import rules
from ..wire.pace import RateLimiter
from ..wire.polling import ProgressCallback
from ..wire.protocol import public_url
from ..wire.rules import ModelInfo
from ..wire.transport import RetryPolicy, Transport

P = ParamSpec("P")
T = TypeVar("T")

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..core.options import ClientSettings


def delegate(part: str, method: Callable[Concatenate[Any, P], T]) -> Callable[Concatenate[AsyncClient, P], T]:
    """A method of `AsyncClient` that is `method` of one of its parts."""

    @functools.wraps(method)
    def call(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return method(getattr(self, part), *args, **kwargs)

    return call


class AsyncClient:
    """The asynchronous client.  One connection pool per client; use it as an
    async context manager, or call `aclose()`.

        async with xj.AsyncClient() as aclient:      # XENODIA_API_KEY, XENODIA_BASE_URL
            result = await aclient.generate("a red bicycle", aspect_ratio="16:9")

    Settings (`timeout`, `cache`, `max_in_flight`, ...: see `ClientOptions`)
    are checked when the client is made.  `budget_usd` limits what this client
    may spend; pass a shared `budget` instead to let several clients draw on
    one limit.  `transport`: an httpx transport (tests, proxies)."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        budget_usd: float | None = None,
        budget: Budget | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **settings: Unpack[ClientSettings],
    ) -> None:
        if budget is not None and budget_usd is not None:
            raise InvalidRequestError("budget_usd", "give either budget_usd or a shared budget, not both")
        self.options = options = ClientOptions.from_settings(base_url, dict(settings))
        self.budget = budget if budget is not None else Budget(budget_usd)
        self.store = OutputStore(options.output_dir)
        self._transport = Transport(
            options.base_url,
            _checked_key(api_key if api_key is not None else os.environ.get("XENODIA_API_KEY") or None),
            request_timeout=options.request_timeout,
            policy=RetryPolicy(options.max_retries),
            limiter=RateLimiter(options.max_requests_per_minute),
            transport=transport,
        )
        self._preparer = Preparer(self._transport, self.budget, check_urls=options.check_urls)
        # Claims in the journal carry this owner: recover() elsewhere leaves our live tasks alone.
        self._generator = Generator(
            transport=self._transport,
            ledger=LocalLedger(self.store.journal, claim_owner()),
            store=self.store,
            budget=self.budget,
            options=options,
            upload_ready=self._preparer.upload_ready,
        )
        self._runner = BatchRunner(self._preparer, self._generator, self.store.journal, self.budget)
        self._recoverer = Recoverer(self.store, self._generator)

    # Settings, read back ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.options.base_url

    @property
    def timeout(self) -> float:
        return self.options.timeout

    @property
    def cache(self) -> bool:
        return self.options.cache

    @property
    def check_urls(self) -> bool:
        return self._preparer.check_urls

    @check_urls.setter
    def check_urls(self, value: bool) -> None:
        """The kernel's setting follows `%config XenodiaMagics.check_urls` between cells."""
        self.options = replace(self.options, check_urls=value)
        self._preparer.check_urls = self.options.check_urls

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

    def __repr__(self) -> str:
        key = "set" if self._transport.has_key else "not set"
        shown = public_url(self.base_url)  # never a password in the base URL
        return f"<{type(self).__name__} base_url={shown!r} key={key} output_dir={str(self.store.root)!r}>"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()
        self.store.close()

    # One generation -----------------------------------------------------------------

    async def model(self) -> ModelInfo:
        """gpt-image-2 as model discovery describes it (read once per client; no
        key needed).  Falls back to the documented rules when unreachable."""
        return await self._preparer.model()

    prepare = delegate("_preparer", Preparer.prepare)

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

        `references`: URLs, paths, bytes, binary files, PIL images, NumPy arrays,
        matplotlib figures or earlier results (one, or a list of up to 16).
        Every rule is checked before anything is sent.  The call is journaled
        before the POST, so a paid result survives a crash (`xj.recover()`).
        `on_progress(task)` is called with each new task state.  `cache`
        (default: the client's setting) returns an earlier identical result.
        """
        deadline = self._generator.deadline(timeout)
        await self._preparer.model(deadline=deadline)  # discovery, too, ends by the call's deadline
        request = await self._preparer.prepare(
            prompt, references, aspect_ratio=aspect_ratio, resolution=resolution, model=model,
            response_format=response_format, **options,
        )
        return await self._generator.submit(request, deadline=deadline, on_progress=on_progress, cache=cache)

    async def submit(self, request: PreparedGeneration, *, deadline: float, **options: Any) -> GenerationResult:
        """Send a prepared request and wait for its images (`deadline`: a
        `time.monotonic()` value); see `Generator.submit` for the options."""
        return await self._generator.submit(request, deadline=deadline, **options)

    async def retrieve(
        self, task_id: str, *, timeout: float | None = None, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        """Wait for (or fetch) an existing task and save its images.  No new POST,
        and nothing is reserved from this session's budget."""
        return await self._recoverer.retrieve(task_id, timeout=timeout, on_progress=on_progress)

    async def remix(self, source: object, **changes: Any) -> GenerationResult:
        """One generation from `source`'s recipe (a result, a journal id, a task
        id, or an image file of ours) with `changes` applied (`prompt=`,
        `aspect_ratio=`, `resolution=`, `references=`; `timeout=`, `cache=`,
        `on_progress=` as for `generate`).  The new result's `.parent` is the
        source; references the recipe needs and this folder does not keep are
        refused before anything is sent unless `references=` replaces them."""
        recipe = await asyncio.to_thread(read_recipe, source, self.store)  # reads the kept references
        arguments = remix_arguments(recipe, changes)
        timeout, cache = arguments.pop("timeout", None), arguments.pop("cache", None)
        on_progress = arguments.pop("on_progress", None)
        deadline = self._generator.deadline(timeout)
        await self._preparer.model(deadline=deadline)
        request = await self._preparer.prepare(arguments.pop("prompt"), arguments.pop("references", None), **arguments)
        request.parent = recipe.parent
        return await self._generator.submit(request, deadline=deadline, on_progress=on_progress, cache=cache)

    # Many generations, and what the journal gives back: the parts' own methods,
    # with their signatures and docstrings.

    generate_many = delegate("_runner", BatchRunner.generate_many)
    run_batch = delegate("_runner", BatchRunner.run_batch)
    sweep = delegate("_runner", BatchRunner.sweep)
    jobs = delegate("_runner", BatchRunner.jobs)
    history = delegate("_recoverer", Recoverer.history)
    recover = delegate("_recoverer", Recoverer.recover)


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
