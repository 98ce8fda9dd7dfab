"""Xenodia's gpt-image-2 in Jupyter.

    import xenodia_jupyter as xj

    result = xj.generate("a red bicycle", aspect_ratio="16:9", resolution="2K")
    result.image                       # a PIL image; result.paths: the saved files
    client = xj.Client(budget_usd=1.00)
    async with xj.AsyncClient() as aclient: ...
    xj.generate_many(prompts, concurrency=8)
    xj.recover(); xj.history(); xj.panel()

    %load_ext xenodia_jupyter          # then: %%xenodia -a 16:9 -r 2K -o hero

Importing this package is cheap: the names below load their modules (and
httpx, Pillow, ipywidgets) on first use.
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import TYPE_CHECKING, Any, Literal, overload

from ._version import __version__
from .batches import progress as _progress

_LAZY = {
    "Client": "client",
    "AsyncClient": "client",
    "PreparedGeneration": "client",
    "Budget": "core.budget",
    "GenerationResult": "core.results",
    "ResultList": "core.results",
    "ModelInfo": "wire.rules",
    "PriceTier": "wire.rules",
    "Task": "wire.protocol",
    "provenance": "images.provenance",
    "thumbnail_column": "core.export",
    "Sweep": "batches.sweeps",
    "MissingExtra": "_extras",
    "XenodiaError": "errors",
    "InvalidRequestError": "errors",
    "BudgetExceededError": "errors",
    "APIError": "errors",
    "AuthenticationError": "errors",
    "PaymentRequiredError": "errors",
    "NotFoundError": "errors",
    "ConflictError": "errors",
    "RateLimitError": "errors",
    "UpstreamError": "errors",
    "APIConnectionError": "errors",
    "APIResponseError": "errors",
    "GenerationFailedError": "errors",
    "TaskTimeoutError": "errors",
    "StorageError": "errors",
    "Job": "core.loop_thread",  # what generate_many(compute=False) returns: a future of the results
    "Library": "core.library",
    "Recipe": "core.recipe",
    "Gallery": "jupyter.gallery.widget",
    "gallery": "jupyter.gallery.widget",
    "Ranker": "jupyter.ranking",
    "rank": "jupyter.ranking",
    "Preferences": "core.preferences",
    "preferences": "core.preferences",
    "scores": "core.preferences",
}

__all__ = [
    *_LAZY, "generate", "generate_many", "sweep", "recover", "history", "jobs", "panel", "default_client",
    "library", "recipe", "remix", "lineage",
]

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ._extras import MissingExtra
    from .batches.sweeps import Sweep
    from .client.async_client import AsyncClient
    from .client.sync_client import Client
    from .core.budget import Budget
    from .core.export import thumbnail_column
    from .core.library import Library
    from .core.loop_thread import Job
    from .core.preferences import Preferences, preferences, scores
    from .core.preparer import PreparedGeneration
    from .core.recipe import Recipe
    from .core.results import GenerationResult, ResultList
    from .errors import (
        APIConnectionError,
        APIError,
        APIResponseError,
        AuthenticationError,
        BudgetExceededError,
        ConflictError,
        GenerationFailedError,
        InvalidRequestError,
        NotFoundError,
        PaymentRequiredError,
        RateLimitError,
        StorageError,
        TaskTimeoutError,
        UpstreamError,
        XenodiaError,
    )
    from .images.provenance import provenance
    from .jupyter.gallery.widget import Gallery, gallery
    from .jupyter.panel.studio import Panel
    from .jupyter.ranking import Ranker, rank
    from .wire.protocol import Task
    from .wire.rules import ModelInfo, PriceTier


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'xenodia_jupyter' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


# The default client ---------------------------------------------------------------
# Built on first use and rebuilt when XENODIA_API_KEY, XENODIA_BASE_URL or
# XENODIA_OUTPUT_DIR change, so a notebook can point at the emulator at any time.

_default: tuple[tuple[str | None, ...], Client] | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The client behind the module-level functions."""
    global _default
    from .client.sync_client import Client

    env = tuple(os.environ.get(k) for k in ("XENODIA_API_KEY", "XENODIA_BASE_URL", "XENODIA_OUTPUT_DIR"))
    with _default_lock:
        if _default is None or _default[0] != env:
            if _default is not None:
                _default[1].close()
            _default = (env, Client(budget=_kernel_budget()))
        return _default[1]


def _kernel_budget() -> Budget | None:
    """In a kernel, the module-level functions spend from the kernel's one budget
    (shared with the magic and the panel: one "spent this session")."""
    if not _progress._in_kernel():
        return None
    from .jupyter.engine import session_budget

    return session_budget()


def generate(
    prompt: str,
    references: object = None,
    *,
    aspect_ratio: str | None = None,
    resolution: str | None = None,
    timeout: float | None = None,
    on_progress: Callable[[Task], Any] | None = None,
    **options: Any,
) -> GenerationResult:
    """Generate one image call with the default client and return it saved on
    disk; see `Client.generate`."""
    return default_client().generate(
        prompt, references, aspect_ratio=aspect_ratio, resolution=resolution, timeout=timeout,
        on_progress=on_progress, **options,
    )


@overload
def generate_many(
    prompts: Iterable[str], concurrency: int = ..., *, compute: Literal[True] = ..., **options: Any
) -> ResultList: ...


@overload
def generate_many(
    prompts: Iterable[str], concurrency: int = ..., *, compute: Literal[False], **options: Any
) -> Job[ResultList]: ...


def generate_many(
    prompts: Iterable[str],
    concurrency: int = 8,
    *,
    references: object = None,
    job: str | None = None,
    on_result: Callable[[int, GenerationResult | Exception], Any] | None = None,
    progress: bool | None = None,
    timeout: float | None = None,
    executor: Any = None,
    compute: bool = True,
    **common: Any,
) -> ResultList | Job[ResultList]:
    """One generation per prompt, `concurrency` at once, results in input order;
    failed items hold their `XenodiaError`.  `executor=dask_client` runs it on
    a Dask cluster; `compute=False` returns a future of the results at once.
    See `Client.generate_many`."""
    options = dict(references=references, job=job, on_result=on_result, progress=progress, timeout=timeout,
                   executor=executor, **common)
    if compute:
        return default_client().generate_many(prompts, concurrency, **options)
    return default_client().generate_many(prompts, concurrency, compute=False, **options)


def sweep(template: str, **options: Any) -> Sweep:
    """A prompt template over axes of values, shown as a labelled grid; see `Client.sweep`.

        xj.sweep("A {animal} in {style}", animal=["fox", "owl"], style=["ink wash", "origami"])
    """
    return default_client().sweep(template, **options)


def recover(*, timeout: float | None = None, concurrency: int = 8) -> ResultList:
    """Finish every journaled generation that was paid for but not saved (no new POST)."""
    return default_client().recover(timeout=timeout, concurrency=concurrency)


def jobs() -> list[dict[str, Any]]:
    """The output folder's jobs with their counts (saved, failed, running, never sent) and spend."""
    return default_client().jobs()


def history(limit: int | None = None) -> ResultList:
    """Past generations from the journal, newest first."""
    return default_client().history(limit)


def library(output_dir: str | os.PathLike[str] | None = None) -> Library:
    """The saved results of an output folder as a searchable collection
    (default: the default client's folder); see `Library.search`."""
    from .core.library import Library
    from .core.preferences import Preferences, preferences, scores

    return Library(store=default_client().store) if output_dir is None else Library(output_dir)


def recipe(source: object) -> Recipe:
    """How an image was made (a result, a journal id, a task id, or an image
    file of ours, copied anywhere): prompt, parameters, the exact references."""
    return library().recipe(source)


def remix(source: object, **changes: Any) -> GenerationResult:
    """One generation from `source`'s recipe with `changes` applied
    (`prompt=`, `aspect_ratio=`, `resolution=`, `references=`); see `Client.remix`."""
    return default_client().remix(source, **changes)


def lineage(item: GenerationResult | str) -> ResultList:
    """The chain of remixes from the oldest ancestor to `item`, from the journal."""
    return library().lineage(item)


def panel(
    output_dir: str | None = None,
    *,
    timeout: float | None = None,
    budget_usd: float | None = None,
) -> Panel:
    """The generation studio widget (also `%xenodia panel`)."""
    from .jupyter.gallery.widget import Gallery, gallery
    from .jupyter.panel.studio import Panel
    from .jupyter.ranking import Ranker, rank

    return Panel(output_dir, timeout=timeout, budget_usd=budget_usd)


def _widget_progress(total: int) -> Any:
    from .jupyter.progress_bar import WidgetProgress

    return WidgetProgress(total)


_progress.use_notebook_renderer(_widget_progress)  # a batch in a kernel draws an ipywidgets bar


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext xenodia_jupyter`: registers `%%xenodia` and `%xenodia`."""
    from .errors import XenodiaError
    from .jupyter.magics.magics import XenodiaMagics
    from .jupyter.magics.short_errors import short_traceback

    ipython.register_magics(XenodiaMagics)
    # A XenodiaError from any cell shows as a short block, not a page of frames.
    ipython.set_custom_exc((XenodiaError,), short_traceback)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext xenodia_jupyter`: stops the engine thread and closes its clients."""
    from .jupyter.engine import shutdown

    ipython.set_custom_exc((), None)
    shutdown()
