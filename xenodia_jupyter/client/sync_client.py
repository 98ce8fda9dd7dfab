"""`Client`: the blocking facade.  It runs an `AsyncClient` on a private loop
thread and adds nothing but the waiting (and, in a kernel, a progress display
made in the caller's thread), so a script and a notebook behave the same.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, TypeVar, overload

from ..batches.progress import BatchProgress, make_progress
from ..batches.sweeps import Sweep, is_reference_axis
from ..core.budget import Budget
from ..core.loop_thread import Job, LoopThread
from ..core.results import GenerationResult, ResultList
from ..store.outputs import OutputStore
from ..wire.polling import ProgressCallback
from .async_client import AsyncClient

if TYPE_CHECKING:
    from types import TracebackType

    from ..core.options import ClientOptions

T = TypeVar("T")
P = ParamSpec("P")


def same_arguments_as(target: Callable[P, Any]) -> Callable[[Callable[..., None]], Callable[Concatenate[Any, P], None]]:
    """`Client(...)` takes exactly what `AsyncClient(...)` takes: one signature,
    for the type checker (ParamSpec) and for `help()` (`__wrapped__`)."""

    def decorate(init: Callable[..., None]) -> Callable[Concatenate[Any, P], None]:
        init.__wrapped__ = target.__init__  # type: ignore[attr-defined]
        return init

    return decorate


def blocking(
    method: Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Client, P], T]:
    """`Client.name` as `AsyncClient.name` run to its end on the client's loop thread."""

    @functools.wraps(method)
    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(method(self._async, *args, **kwargs))

    return call


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

    @same_arguments_as(AsyncClient)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._async = AsyncClient(*args, **kwargs)
        self._portal = LoopThread(name="xenodia-client")

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
            self._async.store.close()
        self._portal.close()

    @property
    def aclient(self) -> AsyncClient:
        """The `AsyncClient` underneath."""
        return self._async

    @property
    def base_url(self) -> str:
        return self._async.base_url

    @property
    def options(self) -> ClientOptions:
        return self._async.options

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

    # The same methods as AsyncClient's, run on the loop thread: one signature and
    # one docstring each, kept where the work is done.
    model = blocking(AsyncClient.model)
    prepare = blocking(AsyncClient.prepare)
    generate = blocking(AsyncClient.generate)
    remix = blocking(AsyncClient.remix)
    retrieve = blocking(AsyncClient.retrieve)
    history = blocking(AsyncClient.history)
    jobs = blocking(AsyncClient.jobs)
    recover = blocking(AsyncClient.recover)

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
