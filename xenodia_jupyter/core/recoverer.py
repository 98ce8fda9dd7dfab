"""What the journal gives back: past results, and paid tasks finished later.

`Recoverer` is one of `AsyncClient`'s parts: `history()` reads saved
results; `retrieve(task_id)` waits for a known task and saves it;
`recover()` finishes every journaled generation that was, or may have been,
paid for and not saved, without a new POST, and reports once the POSTs that
were sent but never answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from ..errors import APIConnectionError, InvalidRequestError, NotFoundError, describe_exception
from ..store.entries import RECOVERABLE, JournalEntry, JournalState
from ..store.journal import Journal, owner_is_gone
from ..store.outputs import OutputStore
from ..wire import protocol
from ..wire.polling import ProgressCallback
from ..wire.protocol import Task
from .generator import Generator
from .results import GenerationResult, ResultList

STALE_SENDING_S = 300.0  # a POST unanswered this long is not in flight any more (request timeout: 120 s)


class Recoverer:
    def __init__(self, store: OutputStore, generator: Generator) -> None:
        self.store = store
        self.generator = generator

    @property
    def journal(self) -> Journal:
        return self.store.journal

    @property
    def base_url(self) -> str:
        return self.generator.options.base_url

    async def history(self, limit: int | None = None) -> ResultList:
        """Past generations saved in this output folder, newest first."""
        saved = self.journal.entries(limit=limit, state=JournalState.SAVED)
        return ResultList(GenerationResult.from_entry(e) for e in saved if e.paths)

    async def retrieve(
        self, task_id: str, *, timeout: float | None = None, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        """Wait for (or fetch) an existing task and save its images.  No new POST,
        and nothing is reserved from this session's budget."""
        if not isinstance(task_id, str) or not task_id.strip():
            raise InvalidRequestError("task_id", "must be a non-empty task id such as 'task_123'")
        self.generator.require_key()
        deadline = self.generator.deadline(timeout)
        owner = self.generator.ledger.owner
        known = self.journal.find_task(task_id)
        if known is None:
            entry = self.journal.begin(base_url=self.base_url, prompt="", params={}, refs=[], owner=owner)
            self.journal.update(entry, task_id=task_id, state=JournalState.RETRIEVING)
            prompt, params = "", {}
        else:
            entry, prompt, params = known.id, known.prompt, known.params
            if known.state == JournalState.SAVED and all(p.exists() for p in known.paths):
                return GenerationResult.from_entry(known)  # saved already: nothing to download
            if not self.journal.claim(entry, owner):
                raise InvalidRequestError(
                    "task_id",
                    f"task {task_id} is being finished by another client or process right now; "
                    "it saves the image (see xj.history())",
                )
        task = Task(task_id=task_id, state="unknown")
        return await self.generator.finish(task, entry, prompt=prompt, params=params, held=None, deadline=deadline,
                                           on_progress=on_progress, poll_first=True)

    async def recover(self, *, timeout: float | None = None, concurrency: int = 8) -> ResultList:
        """Finish every journaled generation that was (or may have been) paid for
        but not saved: poll its task (no new POST), download and save.  Returns
        the recovered results and, in place of those that could not be finished,
        the error that stopped them (also journaled).  A task still running
        after `timeout` seconds is left in the journal for next time."""
        gate = asyncio.Semaphore(concurrency)
        self.store.sweep_debris()
        entries = [
            e
            for e in self.journal.entries(states=RECOVERABLE)
            if e.recoverable and protocol.same_origin(e.base_url, self.base_url)
        ]

        async def one(entry: JournalEntry) -> GenerationResult | Exception | None:
            async with gate:
                if not self.journal.claim(entry.id, self.generator.ledger.owner, states=RECOVERABLE):
                    return None  # live in another client or process, which saves it (or saved it just now)
                try:
                    if entry.task_id:
                        result = await self.retrieve(entry.task_id, timeout=timeout)
                        for path in result.paths:  # an earlier save of it, killed mid-write, left these
                            self.store.remove_debris_of(path)
                        return result
                    # An older-style 200 answer: its URLs are all there is.
                    task = Task(task_id=None, state="success", progress=100, urls=entry.urls)
                    return await self.generator.finish(task, entry.id, prompt=entry.prompt, params=entry.params,
                                                       held=None, deadline=self.generator.deadline(timeout),
                                                       on_progress=None)
                except Exception as exc:  # one odd task never stops the others
                    if isinstance(exc, NotFoundError) and exc.task_id:  # "run recover()" is what just failed
                        exc = NotFoundError(
                            f"task {exc.task_id}: its result URLs have expired and the server gives no fresh ones; "
                            "it was paid for, and nothing more can be done to collect it",
                            status_code=404,
                            task_id=exc.task_id,
                        )
                    with contextlib.suppress(Exception):
                        self.journal.update(entry.id, error=self.generator.transport.redact(describe_exception(exc)))
                    return exc

        finished = [item for item in await asyncio.gather(*(one(e) for e in entries)) if item is not None]
        return ResultList([*finished, *self._unanswered_sends()])

    def _unanswered_sends(self) -> list[Exception]:
        """Rows left at "sending" by a process that stopped after its POST went
        out and before the answer came: maybe billed, with no task id to collect
        it by.  Each is reported once (then journaled as unknown)."""
        stale = time.time() - STALE_SENDING_S
        reports: list[Exception] = []
        for e in self.journal.entries(state=JournalState.SENDING):
            # Its process died on this machine (a kill right after the POST): no need to wait it out.
            gone = owner_is_gone(e.claimed_by)
            if (e.created_at < stale or gone) and protocol.same_origin(e.base_url, self.base_url):
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.created_at))
                message = (
                    f"sent at {when}, outcome unknown, may have been billed: {e.prompt[:80]!r} "
                    "(the process stopped before the server answered, so there is no task id to collect it by)"
                )
                self.journal.update(e.id, state=JournalState.UNKNOWN, error=message)
                reports.append(APIConnectionError(message))
        return reports
