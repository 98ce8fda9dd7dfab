"""One measured batch in a fresh process: the client side of the scale benchmarks.

    python bench/scale_child.py RUNNER BASE_URL API_KEY COUNT OUT_DIR CONCURRENCY [JOB]

RUNNER is `name` (one of `RUNNERS` below) or `module:function` (any function
importable from bench/ or the package).  A runner takes a `Batch` and returns
its `Accounting`; `measure` (the reusable part) times it and reads what the
process spent, and this script prints that as one JSON line:

    items, returned, ok, failed, saved_files, journal_saved, errors,
    wall_s, cpu_s (user + system, every thread of this process, plus any child
    process that ended during the run), rss_before_mb, peak_rss_mb (VmHWM:
    the whole life of the process, imports included), children_peak_rss_mb

`dask` (`run_ours_dask`) runs the same job with `executor=` a LocalCluster.
(the workers are children of this process: their CPU time is in `cpu_s` once
they have exited and been waited for.  `children_peak_rss_mb` is the largest
one's ru_maxrss, which starts at this process's own peak when a child is
started with vfork; for a worker's own peak read its VmHWM in the worker.)
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # httpx_baseline, and runners given as module:function


def prompts_for(count: int) -> list[str]:
    """The prompts of a scale batch: distinct, so every item is its own request."""
    return [f"scale item {i}: a lighthouse at dusk, watercolour" for i in range(count)]


@dataclass
class Batch:
    base_url: str
    api_key: str
    prompts: list[str]
    out: Path
    concurrency: int
    job: str | None = None
    # A runner calls this as soon as the batch call returns, so that what it does
    # next (accounting for the items, closing the client) is not measured.
    done: Callable[[], None] = lambda: None


@dataclass
class Accounting:
    """Where every item went: `ok` results, `failed` ones (with their error
    types), distinct files on disk, and what the journal says was saved."""

    returned: int
    ok: int
    failed: int
    saved_files: int
    journal_saved: int | None = None
    errors: dict[str, int] = field(default_factory=dict)


def account_ours(client: Any, results: list[Any], batch: Batch) -> Accounting:
    import xenodia_jupyter as xj

    ok = [r for r in results if isinstance(r, xj.GenerationResult)]
    errors = Counter(type(r).__name__ for r in results if not isinstance(r, xj.GenerationResult))
    files = {p for r in ok for p in r.paths if p.exists()}
    journal_saved = None
    if batch.job is not None:
        journal_saved = next((j["saved"] for j in client.jobs() if j["name"] == batch.job), 0)
    return Accounting(len(results), len(ok), len(results) - len(ok), len(files), journal_saved, dict(errors))


def run_ours(batch: Batch) -> Accounting:
    """`Client.generate_many(prompts, job=..., concurrency=...)`: the blocking
    client, its loop thread, the journal and the fsync of every file."""
    import xenodia_jupyter as xj

    with xj.Client(api_key=batch.api_key, base_url=batch.base_url, output_dir=batch.out) as client:
        results = client.generate_many(batch.prompts, job=batch.job, concurrency=batch.concurrency, progress=False)
        batch.done()
        return account_ours(client, results, batch)


def run_cached(batch: Batch) -> Accounting:
    """The same call without a job, with the request cache on: the other way to
    get saved results back without a request (one index query per item)."""
    import xenodia_jupyter as xj

    with xj.Client(api_key=batch.api_key, base_url=batch.base_url, output_dir=batch.out, cache=True) as client:
        results = client.generate_many(batch.prompts, concurrency=batch.concurrency, progress=False)
        batch.done()
        return account_ours(client, results, batch)


def _handwritten(batch: Batch, limits: str) -> Accounting:
    import httpx_baseline

    items = httpx_baseline.run_many(batch.base_url, batch.api_key, batch.prompts, batch.out, batch.concurrency,
                                    limits=limits)
    batch.done()
    paths = [p for p in items if isinstance(p, Path)]
    errors = Counter(type(e).__name__ for e in items if not isinstance(e, Path))
    files = {p for p in paths if p.exists()}
    return Accounting(len(items), len(paths), len(items) - len(paths), len(files), None, dict(errors))


def run_handwritten(batch: Batch) -> Accounting:
    """The same batch written by hand on one `httpx.AsyncClient` with httpx's
    default limits (`httpx_baseline.run_many`: POST once, poll, download,
    repeating a failed GET, write the file)."""
    return _handwritten(batch, "default")


def run_handwritten_tuned(batch: Batch) -> Accounting:
    """The same, with the connection pool sized to the concurrency."""
    return _handwritten(batch, "tuned")


def run_ours_dask(batch: Batch) -> Accounting:
    """The same job with `executor=` a 3-worker `LocalCluster` (processes): the
    workers send and save, this process (the driver) journals.  The cluster's
    start is measured too; the workers' CPU counts once they have exited."""
    from distributed import Client as DaskClient
    from distributed import LocalCluster

    import xenodia_jupyter as xj

    with xj.Client(api_key=batch.api_key, base_url=batch.base_url, output_dir=batch.out) as client:
        with LocalCluster(n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                DaskClient(cluster) as dask:
            results = client.generate_many(batch.prompts, job=batch.job, concurrency=batch.concurrency,
                                           progress=False, executor=dask)
        batch.done()  # after the workers exited: their CPU time is in RUSAGE_CHILDREN
        return account_ours(client, results, batch)


RUNNERS: dict[str, Callable[[Batch], Accounting]] = {
    "ours": run_ours,
    "dask": run_ours_dask,
    "cached": run_cached,
    "handwritten": run_handwritten,
    "handwritten-tuned": run_handwritten_tuned,
}


def _rusage() -> tuple[float, float, int]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime, kids.ru_maxrss


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak) of this process, from /proc/self/status.

    Not `ru_maxrss`: Linux carries the high-water mark of the process image an
    exec replaced into it, and Python starts children with vfork, so a child's
    ru_maxrss starts at its parent's peak.  VmHWM belongs to the new image."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(runner: Callable[[Batch], Accounting], batch: Batch) -> dict[str, Any]:
    """Run one batch and say what it cost this process: wall and CPU time (all
    threads, and children that ended) up to `batch.done()` (or the runner's
    return), RSS before and at peak, and where every item went.  Reusable for
    any runner."""
    rss_before = _status_mb("VmRSS")
    cpu0, kids0, _ = _rusage()
    started = time.perf_counter()
    end: list[tuple[float, tuple[float, float, int]]] = []

    def done() -> None:
        if not end:
            end.append((time.perf_counter(), _rusage()))

    batch.done = done
    accounting = runner(batch)
    done()
    finished, (cpu1, kids1, kids_peak_kb) = end[0]
    return {
        "items": len(batch.prompts),
        **asdict(accounting),
        "wall_s": finished - started,
        "cpu_s": (cpu1 - cpu0) + (kids1 - kids0),
        "cpu_children_s": kids1 - kids0,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _status_mb("VmHWM"),
        "children_peak_rss_mb": kids_peak_kb * 1024 / 1e6,  # ru_maxrss (KiB) of the largest child that ended
    }


def resolve(name: str) -> Callable[[Batch], Accounting]:
    if name in RUNNERS:
        return RUNNERS[name]
    module, _, function = name.partition(":")
    import importlib

    runner: Callable[[Batch], Accounting] = getattr(importlib.import_module(module), function)
    return runner


def main(argv: list[str]) -> int:
    name, base_url, api_key, count, out, concurrency, *rest = argv
    runner = resolve(name)
    batch = Batch(base_url, api_key, prompts_for(int(count)), Path(out), int(concurrency), rest[0] if rest else None)
    # Imports are not part of what a batch costs: load what the runner will use first.
    import httpx  # noqa: F401
    import PIL.Image  # noqa: F401

    import xenodia_jupyter  # noqa: F401

    print(json.dumps(measure(runner, batch)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
