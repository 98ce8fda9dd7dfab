"""Many generations at once: batches, named jobs that resume, and sweeps.

`BatchRunner` is one of `AsyncClient`'s parts.  `generate_many` and `sweep`
check everything first, then hand their prepared requests to `run_batch`,
which sends them through the generator with bounded concurrency, resumes a
named job from the journal, and tells a progress observer as items end.
`items.run_items` is the one per-item loop: local batches, cluster
partitions and the magic's `-n` all go through it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from ..core.budget import Budget
from ..core.generator import Generator
from ..core.preparer import PreparedGeneration, Preparer
from ..core.results import GenerationResult, ResultList
from ..errors import InvalidRequestError
from ..store.jobs_table import job_summaries
from ..store.journal import Journal
from ..wire import rules
from .items import run_items
from .named import JobList, plan_job, saved_items
from .progress import BatchProgress, make_progress
from .sweeps import Sweep, is_reference_axis, plan_sweep

if TYPE_CHECKING:
    from ..wire.polling import ProgressCallback

T = TypeVar("T")
OnResult = Callable[[int, GenerationResult | Exception], Any]


class BatchRunner:
    """Batches, sweeps and named jobs, sent through one generator."""

    def __init__(self, preparer: Preparer, generator: Generator, journal: Journal, budget: Budget) -> None:
        self.preparer = preparer
        self.generator = generator
        self.journal = journal
        self.budget = budget

    async def generate_many(
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
        **common: Any,
    ) -> ResultList:
        """Generate one call per prompt, at most `concurrency` at once.

        Returns a list in input order.  A failed item does not sink the batch:
        its place holds the `XenodiaError` that ended it (check with
        `isinstance(item, xj.XenodiaError)`).  Rules common to all prompts are
        checked, and the references prepared, once, before anything is sent.

        `job="name"` journals the batch as a whole first; the same call again
        resumes it: saved items come from disk, items with a task id are polled
        and saved, and only items never sent are sent (see `named.py`).

        `progress`: a bar with counts, spend, rate and ETA (default: in a kernel).

        `executor`: a Dask `distributed.Client`; the items run on its workers in
        partitions, with the journal, the in-flight cap and the pace kept here
        (see `cluster/driver.py`).  `concurrency` is then per partition.
        """
        if executor is not None:
            from .cluster.driver import check_executor

            check_executor(executor)
        if isinstance(prompts, (str, bytes)):
            raise InvalidRequestError("prompts", "must be a list of prompts, not one string (wrap it: [prompt])")
        prompt_list = list(prompts)
        if timeout is not None:
            rules.check_seconds(timeout)
        if concurrency < 1:
            raise InvalidRequestError("concurrency", f"must be at least 1, not {concurrency}")
        for index, prompt in enumerate(prompt_list):
            try:
                rules.check_prompt(prompt)
            except InvalidRequestError as exc:
                raise InvalidRequestError(f"prompts[{index}]", exc.message) from None
        await self.preparer.model(deadline=self.generator.deadline(timeout))  # discovery ends by the deadline too
        template = await self.preparer.prepare("-", references, **common)
        template = replace(template, references=await self.preparer.upload_ready(template.references))
        requests = [replace(template, prompt=prompt) for prompt in prompt_list]
        return await self.run_batch(
            requests, concurrency, job=job, on_result=on_result, on_progress=on_progress, progress=progress,
            timeout=timeout, cache=cache, executor=executor,
        )

    async def run_batch(
        self,
        requests: list[PreparedGeneration],
        concurrency: int = 8,
        *,
        job: str | None = None,
        on_result: Callable[[int, GenerationResult | Exception], Any] | None = None,
        on_progress: ProgressCallback | None = None,
        progress: bool | BatchProgress | None = None,
        timeout: float | None = None,
        cache: bool | None = None,
        executor: Any = None,
    ) -> ResultList:
        """Send prepared requests as one batch (what `generate_many` and
        `sweep` do once their requests are checked): at most `concurrency` at
        once, results in order, the whole batch checked against the budget
        first, resumable as a named `job`."""
        if executor is not None:
            from .cluster.driver import run_on_cluster

            on_cluster = progress if isinstance(progress, BatchProgress) else make_progress(progress, len(requests))
            try:
                return await run_on_cluster(
                    self.generator, requests, executor, concurrency=concurrency, job=job, progress=on_cluster,
                    timeout=timeout, cache=cache, on_result=on_result,
                )
            finally:
                if on_cluster is not None:
                    on_cluster.close()
        entries: list[str | None] = [None] * len(requests)
        if job is not None:
            entries = plan_job(self.journal, job, [r.request_key() for r in requests])
        self.budget.check(sum(r.price_usd for r, e in zip(requests, entries, strict=True) if e is None))
        results: list[GenerationResult | Exception | None] = [None] * len(requests)
        shown = progress if isinstance(progress, BatchProgress) else make_progress(progress, len(requests))

        def done(index: int, item: GenerationResult | Exception) -> None:
            results[index] = item
            if shown is not None:
                shown.item_finished(item)
            if on_result is not None:
                on_result(index, item)

        saved = saved_items(self.journal, entries) if job is not None else {}
        for index, entry in saved.items():  # a resumed job's saved items: no task, no request
            done(index, GenerationResult.from_entry(entry))

        async def one(index: int) -> GenerationResult:
            if shown is not None:
                shown.item_started()
            deadline = self.generator.deadline(timeout)
            link = (job, index) if job is not None else None
            known = entries[index]
            if known is not None:
                return await self.generator.resume(
                    known, requests[index], deadline=deadline, job_item=link, on_progress=on_progress
                )
            return await self.generator.submit(
                requests[index], deadline=deadline, on_progress=on_progress, cache=cache, job_item=link
            )

        try:
            todo = [i for i in range(len(requests)) if i not in saved]
            await run_items(todo, one, min(concurrency, len(todo)), on_done=done)
        finally:
            if shown is not None:
                shown.close()
        batch = ResultList(results)
        batch.job = job
        batch.prompts = [r.prompt for r in requests]
        return batch

    async def sweep(
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
        """Every combination of the axes (keyword lists filling the template's
        `{name}` fields; `aspect_ratio`, `resolution` and `references` are axes
        too when given as lists) as one batch.  The whole plan is checked before
        anything is sent; `dry_run=True` returns it unsent, with its price.
        `on_result(index, result)` is called as each cell ends, `index` being
        the cell's place in `plan.cells`."""
        given: dict[str, list[Any]] = dict(axes)
        fixed: dict[str, Any] = {}
        for name, value in (("aspect_ratio", aspect_ratio), ("resolution", resolution)):
            if isinstance(value, (list, tuple)):
                given[name] = list(value)
            else:
                fixed[name] = value
        if is_reference_axis(references):
            given["references"] = list(references)  # a list of reference sets: an axis
        plan = plan_sweep(template, given)
        read: dict[int, PreparedGeneration] = {}  # id of a reference set -> the request that read it (once)
        prepared: dict[tuple[Any, ...], PreparedGeneration] = {}
        requests = []
        for index, (cell, prompt) in enumerate(zip(plan.cells, plan.prompts, strict=True)):
            try:
                rules.check_prompt(prompt)
            except InvalidRequestError as exc:
                raise InvalidRequestError(f"cell {index} ({cell})", exc.message) from None
            options: dict[str, Any] = {**fixed, **{k: cell[k] for k in ("aspect_ratio", "resolution") if k in cell}}
            refs = cell.get("references", references)
            group = (options.get("aspect_ratio"), options.get("resolution"), id(refs))
            if group not in prepared:  # every combination's rules are checked; a stream can be read only once
                known = read.get(id(refs))
                first = await self.preparer.prepare(prompt, refs if known is None else None, **options)
                if known is None:
                    known = read[id(refs)] = replace(first, references=await self.preparer.upload_ready(first.references))
                prepared[group] = replace(first, references=known.references)
            requests.append(replace(prepared[group], prompt=prompt))
        plan.price_usd = sum(r.price_usd for r in requests)
        self.budget.check(plan.price_usd)
        if dry_run:
            return Sweep(plan)
        results = await self.run_batch(
            requests, concurrency, job=job, on_result=on_result, progress=progress, timeout=timeout, cache=cache
        )
        return Sweep(plan, results)

    async def jobs(self) -> JobList:
        """This output folder's jobs, newest first, with their counts and spend."""
        return JobList(job_summaries(self.journal))
