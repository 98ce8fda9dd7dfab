"""Many generations at once: batches, named jobs that resume, and sweeps.

`Batches` is part of `AsyncClient` (a mixin, so that the client class holds
one generation's path and this module holds many): `generate_many` and
`sweep` check everything first, then hand their prepared requests to
`run_batch`, which sends them with bounded concurrency, resumes a named job
from the journal, and reports progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..core.client_parts import ClientParts
from ..core.results import GenerationResult, ResultList
from ..errors import APIConnectionError, GenerationFailedError, InvalidRequestError, StorageError
from ..store.journal import JournalState
from ..wire import rules
from ..wire.protocol import Task
from .named import JobList, plan_job, saved_items
from .progress import BatchProgress, make_progress
from .sweeps import Sweep, is_reference_axis, plan_sweep

if TYPE_CHECKING:
    from ..client.async_client import PreparedGeneration
    from ..wire.polling import ProgressCallback


class Batches(ClientParts):
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
        and saved, and only items never sent are sent (see `named_jobs.py`).

        `progress`: a bar with counts, spend, rate and ETA (default: in a kernel).

        `executor`: a Dask `distributed.Client`; the items run on its workers in
        partitions, with the journal, the in-flight cap and the pace kept here
        (see `cluster.py`).  `concurrency` is then per partition.
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
        template = await self.prepare("-", references, **common)
        template = replace(template, references=await self._upload_ready(template.references))
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
                    self, requests, executor, concurrency=concurrency, job=job, progress=on_cluster,  # type: ignore[arg-type]
                    timeout=timeout, cache=cache, on_result=on_result,
                )
            finally:
                if on_cluster is not None:
                    on_cluster.close()
        entries: list[str | None] = [None] * len(requests)
        if job is not None:
            entries = plan_job(self.store.journal, job, [r.request_key() for r in requests])
        self.budget.check(sum(r.price_usd for r, e in zip(requests, entries, strict=True) if e is None))
        results: list[GenerationResult | Exception | None] = [None] * len(requests)
        shown = progress if isinstance(progress, BatchProgress) else make_progress(progress, len(requests))
        saved = saved_items(self.store.journal, entries) if job is not None else {}
        for index, entry in saved.items():  # a resumed job's saved items: no task, no request
            results[index] = GenerationResult.from_entry(entry)
            if shown is not None:
                shown.item_finished(results[index])
            if on_result is not None:
                on_result(index, results[index])  # type: ignore[arg-type]

        async def one(index: int) -> None:
            if shown is not None:
                shown.item_started()
            deadline = self._deadline(timeout)
            link = (job, index) if job is not None else None
            try:
                known = entries[index]
                if known is not None:
                    results[index] = await self._resume(known, requests[index], deadline, link, on_progress)
                else:
                    results[index] = await self.submit(
                        requests[index], deadline=deadline, on_progress=on_progress, cache=cache, job_item=link
                    )
            except Exception as exc:  # one odd answer, or a full disk, sinks only its own item
                results[index] = exc
            if shown is not None:
                shown.item_finished(results[index])
            if on_result is not None:
                on_result(index, results[index])  # type: ignore[arg-type]

        todo = iter([i for i in range(len(requests)) if i not in saved])

        async def worker() -> None:
            for index in todo:  # one iterator shared by the workers: each item is taken once, in order
                await one(index)

        try:
            # `concurrency` workers, not a task per item: memory stays flat however long the job.
            await asyncio.gather(*(worker() for _ in range(min(concurrency, len(requests) - len(saved)))))
        finally:
            if shown is not None:
                shown.close()
        batch = ResultList(results)
        batch.job = job
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
                first = await self.prepare(prompt, refs if known is None else None, **options)
                if known is None:
                    known = read[id(refs)] = replace(first, references=await self._upload_ready(first.references))
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

    async def _resume(
        self,
        entry_id: str,
        request: PreparedGeneration,
        deadline: float,
        link: tuple[str, int] | None,
        on_progress: ProgressCallback | None,
    ) -> GenerationResult:
        """One item of a resumed job, from what its journal entry says: saved ->
        from disk; a task id or URLs -> polled and saved, no POST; refused ->
        sent again (nothing was billed); sent with its fate unknown -> resent
        with the same Idempotency-Key only when keys are trusted."""
        entry = self.store.journal.entry(entry_id)
        if entry is None:
            raise StorageError(f"job item {link}: its journal entry {entry_id} is missing")
        if entry.state == JournalState.SAVED and entry.paths and all(p.exists() for p in entry.paths):
            return GenerationResult.from_entry(entry)
        if entry.state == JournalState.REFUSED:
            return await self.submit(request, deadline=deadline, on_progress=on_progress, job_item=link)
        if entry.state == JournalState.FAILED:
            raise GenerationFailedError(entry.task_id or "", {"message": entry.error or "failed"})
        if entry.task_id or entry.urls:
            if not await self._claim(entry.id):
                raise InvalidRequestError("job", f"item {link}: its task is being finished by another client right now")
            task = Task(task_id=entry.task_id, state="success" if not entry.task_id else "unknown", urls=entry.urls)
            return await self._finish(task, entry.id, prompt=entry.prompt, params=entry.params, held=None,
                                      deadline=deadline, on_progress=on_progress, poll_first=bool(entry.task_id))
        if self.trust_idempotency:
            return await self.submit(request, deadline=deadline, on_progress=on_progress, resend_entry=entry.id)
        raise APIConnectionError(
            f"job item {link}: sent, outcome unknown, may have been billed; not sent again "
            "(Client(trust_idempotency=True) resends it with its Idempotency-Key)"
        )

    async def jobs(self) -> JobList:
        """This output folder's jobs, newest first, with their counts and spend."""
        return JobList(self.store.journal.job_summaries())
