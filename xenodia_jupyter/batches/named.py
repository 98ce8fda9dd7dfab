"""Named batch jobs: journaled as a whole before the first POST, resumed by
running the same call again.

    xj.generate_many(df["prompt"], job="catalog-v1")    # crash at item 6,000 ...
    xj.generate_many(df["prompt"], job="catalog-v1")    # ... run it again: resumes

An item's key is its request key (prompt, parameters, reference digests), so
a resumed job must ask for exactly what was journaled; anything else is
refused with what differs, before anything is sent.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from ..errors import InvalidRequestError, StorageError
from ..store.entries import JournalEntry, JournalState
from ..store.jobs_table import create_job, find_job
from ..store.journal import Journal


def fingerprint(item_keys: list[str]) -> str:
    return hashlib.sha256("\n".join(item_keys).encode()).hexdigest()


def plan_job(journal: Journal, name: str, item_keys: list[str]) -> list[str | None]:
    """The journal entry of each item so far (None: never sent).  A new job is
    journaled now; a known one must ask for the same items."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequestError("job", f"must be a non-empty name such as 'catalog-v1', not {name!r}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequestError("job", "has characters that cannot be written as UTF-8 (a lone surrogate?)") from None
    known = find_job(journal, name)
    if known is None:
        create_job(journal, name, fingerprint(item_keys), item_keys)  # unless another process just did
        known = find_job(journal, name)
        if known is None:
            raise StorageError(f"job {name!r} could not be journaled; nothing was sent")
    journaled, items = known
    if journaled != fingerprint(item_keys):
        raise InvalidRequestError("job", f"{name!r} was journaled with other items: {_difference(items, item_keys)}; "
                                  "use a new job name, or ask for the same items to resume it")
    return [entry_id for _key, entry_id in items]


def saved_items(journal: Journal, entries: list[str | None]) -> dict[int, JournalEntry]:
    """The items of a resumed job that are saved, with their files still there:
    they come back from the journal in one query, without a request."""
    known = journal.entries_by_id([e for e in entries if e is not None])
    saved = {}
    for index, entry_id in enumerate(entries):
        entry = known.get(entry_id) if entry_id is not None else None
        if entry is not None and entry.state == JournalState.SAVED and entry.paths and all(p.exists() for p in entry.paths):
            saved[index] = entry
    return saved


def _difference(items: list[tuple[str, str | None]], item_keys: list[str]) -> str:
    if len(items) != len(item_keys):
        return f"it has {len(items)} items, this call {len(item_keys)}"
    first = next(i for i, ((key, _e), new) in enumerate(zip(items, item_keys, strict=True)) if key != new)
    return f"item {first} differs (its prompt, parameters or references)"


def describe(summaries: list[dict[str, Any]]) -> str:
    """`xj.jobs()` as text."""
    if not summaries:
        return "No jobs in this output folder yet."
    lines = [f"{'job':<24} {'items':>6} {'saved':>6} {'failed':>6} {'running':>7} {'unsent':>6} {'spent':>8}  started"]
    for s in summaries:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s["created_at"]))
        spent = f"${s['spent_usd']:.2f}"
        lines.append(
            f"{s['name'][:24]:<24} {s['size']:>6} {s['saved']:>6} {s['failed']:>6} {s['running']:>7} "
            f"{s['never_sent']:>6} {spent:>8}  {when}"
        )
    return "\n".join(lines)


class JobList(list[dict[str, Any]]):
    """What `xj.jobs()` returns: one dict per job (name, size, saved, failed,
    running, never_sent, spent_usd, created_at), shown as a table."""

    def __repr__(self) -> str:
        return describe(list(self))
