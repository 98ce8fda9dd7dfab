"""What the journal gives back: past results, and paid tasks finished later.

`Recovery` is part of `AsyncClient` (a mixin): `history()` reads saved
results; `recover()` finishes every journaled generation that was, or may
have been, paid for and not saved, without a new POST, and reports once the
POSTs that were sent but never answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from ..errors import APIConnectionError, describe_exception
from ..store.journal import RECOVERABLE, JournalEntry, JournalState
from ..wire import protocol
from ..wire.protocol import Task
from .client_parts import ClientParts
from .results import GenerationResult, ResultList

if TYPE_CHECKING:
    pass

STALE_SENDING_S = 300.0  # a POST unanswered this long is not in flight any more (request timeout: 120 s)


class Recovery(ClientParts):
    async def history(self, limit: int | None = None) -> ResultList:
        """Past generations saved in this output folder, newest first."""
        saved = self.store.journal.entries(limit=limit, state=JournalState.SAVED)
        return ResultList(GenerationResult.from_entry(e) for e in saved if e.paths)

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
            for e in self.store.journal.entries(states=RECOVERABLE)
            if e.recoverable and protocol.same_origin(e.base_url, self.base_url)
        ]

        async def one(entry: JournalEntry) -> GenerationResult | Exception | None:
            async with gate:
                if not self.store.journal.claim(entry.id, self._owner):
                    return None  # live in another client or process, which saves it
                try:
                    if entry.task_id:
                        return await self.retrieve(entry.task_id, timeout=timeout)
                    # An older-style 200 answer: its URLs are all there is.
                    task = Task(task_id=None, state="success", progress=100, urls=entry.urls)
                    deadline = self._deadline(timeout)
                    return await self._finish(task, entry.id, prompt=entry.prompt, params=entry.params, held=None,
                                              deadline=deadline, on_progress=None)
                except Exception as exc:  # one odd task never stops the others
                    with contextlib.suppress(Exception):
                        self.store.journal.update(entry.id, error=self._transport.redact(describe_exception(exc)))
                    return exc

        finished = [item for item in await asyncio.gather(*(one(e) for e in entries)) if item is not None]
        return ResultList([*finished, *self._unanswered_sends()])

    def _unanswered_sends(self) -> list[Exception]:
        """Rows left at "sending" by a process that stopped after its POST went
        out and before the answer came: maybe billed, with no task id to collect
        it by.  Each is reported once (then journaled as unknown)."""
        stale = time.time() - STALE_SENDING_S
        reports: list[Exception] = []
        for e in self.store.journal.entries(state=JournalState.SENDING):
            if e.created_at < stale and protocol.same_origin(e.base_url, self.base_url):
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.created_at))
                message = (
                    f"sent at {when}, outcome unknown, may have been billed: {e.prompt[:80]!r} "
                    "(the process stopped before the server answered, so there is no task id to collect it by)"
                )
                self.store.journal.update(e.id, state=JournalState.UNKNOWN, error=message)
                reports.append(APIConnectionError(message))
        return reports
