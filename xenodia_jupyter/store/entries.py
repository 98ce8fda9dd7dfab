"""What the journal holds of one generation: its state in life
(`JournalState`), the row as an object (`JournalEntry`), and how a stored
path is read back (relative to the output folder, or a remote URL)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


class JournalState(str, Enum):
    """Where an entry is in its life, as this client sees it.  What the server
    last said of the task (`waiting`, `generating`, ...) is `server_state`."""

    SENDING = "sending"  # written before the POST: it may be on its way
    ACCEPTED = "accepted"  # the server holds a task with this id; waiting for it
    RETRIEVING = "retrieving"  # a task id handed to retrieve(), not sent from here
    SUCCEEDED = "success"  # the task succeeded; its images are not saved yet
    SAVED = "saved"  # the files are on disk
    FAILED = "fail"  # the task ended in `fail`
    REFUSED = "refused"  # the server answered the POST with an error: nothing billed
    UNKNOWN = "unknown"  # the POST's fate is unknown (connection lost after sending)


# Paid for, or maybe paid for, and not saved: what recover() finishes.  A state
# not in this list (a typo, a newer version's) is never guessed to be recoverable.
RECOVERABLE = frozenset({JournalState.ACCEPTED, JournalState.RETRIEVING, JournalState.SUCCEEDED, JournalState.UNKNOWN})


# Journals written before server_state existed kept the server's words in `state`.
_LEGACY_STATES = {"waiting": JournalState.ACCEPTED, "queuing": JournalState.ACCEPTED, "generating": JournalState.ACCEPTED}


def parse_state(value: str) -> JournalState | str:
    """A stored state as a `JournalState`, or the raw text when it is none of them."""
    try:
        return JournalState(value)
    except ValueError:
        return _LEGACY_STATES.get(value, value)


@dataclass
class JournalEntry:
    id: str
    created_at: float
    updated_at: float
    base_url: str
    prompt: str
    params: dict[str, Any]
    refs: list[dict[str, Any]]
    state: JournalState | str
    task_id: str | None
    request_id: str | None
    urls: list[str]
    paths: list[Path]
    cost_usd: float | None
    error: str | None
    server_state: str | None = None
    rating: int = 0  # 1 starred, -1 rejected, 0 none
    digests: list[str] = field(default_factory=list)  # sha256 of each saved file, as written
    claimed_by: str | None = None  # the client (host:pid:id) working on it, if any
    claimed_until: float | None = None  # when that claim lapses unless renewed (time.time())
    parent: str | None = None  # the journal id of the result this one was remixed from

    @property
    def recoverable(self) -> bool:
        """Paid for (or maybe paid for) but not saved, and findable again."""
        return self.state in RECOVERABLE and bool(self.task_id or self.urls)


def entry_from_row(row: sqlite3.Row, folder: Path) -> JournalEntry:
    def load(value: str | None) -> Any:
        return json.loads(value) if value else []

    return JournalEntry(
        id=row["id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        base_url=row["base_url"],
        prompt=row["prompt"],
        params=json.loads(row["params"]),
        refs=json.loads(row["refs"]),
        state=parse_state(row["state"]),
        task_id=row["task_id"],
        request_id=row["request_id"],
        urls=load(row["urls"]),
        paths=[stored_path(p, folder) for p in load(row["paths"])],
        cost_usd=row["cost_usd"],
        error=row["error"],
        server_state=row["server_state"],
        rating=row["rating"] or 0,
        digests=load(row["digests"]),
        claimed_by=row["claimed_by"],
        claimed_until=row["claimed_until"],
        parent=row["parent"],
    )


def stored_path(text: str, folder: Path | None = None) -> Path:
    """A saved file's path as the journal keeps it: a local `Path` (relative ones
    are inside the output `folder`), or for remote storage a `upath.UPath` (the
    same methods that we use: exists, name, open, read_bytes)."""
    if "://" not in text:
        path = Path(text)
        return folder / path if folder is not None and not path.is_absolute() else path
    from . import remote as stored_files

    return stored_files.remote_path(text)
