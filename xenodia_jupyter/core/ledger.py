"""The journal-side steps of one generation, behind one small protocol.

The generator never touches the journal itself: it asks its ledger to begin a
row (before the POST: nothing is sent unless this returns), to claim a row it
means to finish, to record the POST's answer, to update and renew, and to
release.  `LocalLedger` writes this process's journal; a cluster worker hands
the generator a ledger that asks the driver instead (batches/cluster/worker.py).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from ..store.entries import JournalEntry, JournalState
from ..store.journal import Journal


class Ledger(Protocol):
    owner: str  # who holds the claims this ledger takes (a process and client)

    async def begin(self, **row: Any) -> str:
        """Journal a generation before its POST; returns the entry id (its Idempotency-Key)."""

    async def claim(self, entry: str) -> bool:
        """Take the right to finish an entry; False when another client holds it."""

    def record_answer(self, entry: str, **values: Any) -> asyncio.Future[None]:
        """Journal the POST's answer (the task id); the future ends once it is kept."""

    def update(self, entry: str, **values: Any) -> None: ...

    def renew(self, entry: str) -> None:
        """Keep the claim while a task is polled."""

    def release(self, entry: str) -> None: ...

    def entry(self, entry_id: str) -> JournalEntry | None: ...

    def find_saved(self, request_key: str, base_url: str) -> JournalEntry | None: ...


class LocalLedger:
    """The ledger of this process: the output folder's journal."""

    def __init__(self, journal: Journal, owner: str) -> None:
        self.journal = journal
        self.owner = owner

    async def begin(self, **row: Any) -> str:
        return self.journal.begin(owner=self.owner, **row)

    async def claim(self, entry: str) -> bool:
        return self.journal.claim(entry, self.owner)

    def record_answer(self, entry: str, **values: Any) -> asyncio.Future[None]:
        # A durable commit (an fsync) on a thread, while the task's first poll
        # interval passes; the generator waits for it before anything later.
        return asyncio.ensure_future(asyncio.to_thread(self.journal.update, entry, **values))

    def update(self, entry: str, **values: Any) -> None:
        self.journal.update(entry, **values)

    def renew(self, entry: str) -> None:
        self.journal.claim(entry, self.owner)

    def release(self, entry: str) -> None:
        self.journal.release(entry, self.owner)

    def entry(self, entry_id: str) -> JournalEntry | None:
        return self.journal.entry(entry_id)

    def find_saved(self, request_key: str, base_url: str) -> JournalEntry | None:
        return self.journal.find_saved(request_key, base_url)


def is_saved(entry: JournalEntry | None) -> bool:
    """Saved, with every file still there (a deleted file means: make it again)."""
    return (
        entry is not None
        and entry.state == JournalState.SAVED
        and bool(entry.paths)
        and all(p.exists() for p in entry.paths)
    )
