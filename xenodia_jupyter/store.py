"""Where results are kept: the output folder and its journal.

Every generation is written to the journal (SQLite, WAL) before its request is
sent, and again as soon as the task id, each state, the result URLs and the
saved files are known.  Whatever happens to the process, a paid image can then
be found again by `recover()`.  Image files are written atomically (temporary
file, then rename) with the prompt and parameters in a JSON file beside them.
"""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from . import rules
from .errors import APIResponseError

DEFAULT_OUTPUT_DIR = "xenodia_outputs"
JOURNAL_NAME = "journal.sqlite3"

_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    id          TEXT PRIMARY KEY,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    base_url    TEXT NOT NULL,
    prompt      TEXT NOT NULL,
    params      TEXT NOT NULL,
    refs        TEXT NOT NULL,
    state       TEXT NOT NULL,
    task_id     TEXT,
    request_id  TEXT,
    urls        TEXT,
    paths       TEXT,
    cost_usd    REAL,
    error       TEXT,
    server_state TEXT
);
CREATE INDEX IF NOT EXISTS generations_task ON generations(task_id);
CREATE INDEX IF NOT EXISTS generations_created ON generations(created_at);
"""


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


def default_output_dir() -> Path:
    return Path(os.environ.get("XENODIA_OUTPUT_DIR") or DEFAULT_OUTPUT_DIR)


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

    @property
    def recoverable(self) -> bool:
        """Paid for (or maybe paid for) but not saved, and findable again."""
        return self.state in RECOVERABLE and bool(self.task_id or self.urls)


class Journal:
    """The SQLite journal of one output folder.  Safe for several threads, tasks
    and processes at once: each write is one short transaction, WAL mode lets
    readers and a writer overlap, and a busy timeout serialises writers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(generations)")}
            if "server_state" not in columns:  # a journal from before the column existed
                conn.execute("ALTER TABLE generations ADD COLUMN server_state TEXT")
            self._conn = conn
        return self._conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def begin(self, *, base_url: str, prompt: str, params: dict[str, Any], refs: list[dict[str, Any]]) -> str:
        entry_id = uuid.uuid4().hex
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO generations (id, created_at, updated_at, base_url, prompt, params, refs, state)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'sending')",
                (entry_id, now, now, base_url, prompt, json.dumps(params), json.dumps(refs)),
            )
        return entry_id

    def update(self, entry_id: str, **values: Any) -> None:
        """Set columns of one entry; lists are stored as JSON."""
        allowed = {"state", "server_state", "task_id", "request_id", "urls", "paths", "cost_usd", "error"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"not journal columns: {sorted(unknown)}")
        cols = {
            k: json.dumps([str(p) for p in v]) if isinstance(v, list) else v.value if isinstance(v, Enum) else v
            for k, v in values.items()
        }
        cols["updated_at"] = time.time()
        assignments = ", ".join(f"{k} = ?" for k in cols)
        with self._tx() as conn:
            conn.execute(f"UPDATE generations SET {assignments} WHERE id = ?", (*cols.values(), entry_id))

    def entries(self, *, limit: int | None = None, state: JournalState | None = None) -> list[JournalEntry]:
        """Newest first; only those in `state` when it is given (the limit counts those)."""
        if not self.path.exists():
            return []
        sql, args = "SELECT * FROM generations", []
        if state is not None:
            sql, args = sql + " WHERE state = ?", [state.value]
        sql += " ORDER BY created_at DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            conn = self._connection()
            conn.row_factory = sqlite3.Row
            rows = conn.execute(sql, args).fetchall()
            conn.row_factory = None
        return [_entry(row) for row in rows]

    def find_task(self, task_id: str) -> JournalEntry | None:
        with self._lock:
            conn = self._connection()
            conn.row_factory = sqlite3.Row
            row = conn.execute(
                "SELECT * FROM generations WHERE task_id = ? ORDER BY created_at DESC LIMIT 1", (task_id,)
            ).fetchone()
            conn.row_factory = None
        return _entry(row) if row else None


def _entry(row: sqlite3.Row) -> JournalEntry:
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
        paths=[Path(p) for p in load(row["paths"])],
        cost_usd=row["cost_usd"],
        error=row["error"],
        server_state=row["server_state"],
    )


class OutputStore:
    """An output folder: image files, their JSON side files, and the journal."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_output_dir()
        self.journal = Journal(self.root / JOURNAL_NAME)

    def save_result(self, data: bytes, *, url: str, prompt: str, index: int, facts: dict[str, Any]) -> Path:
        """Check a downloaded result (a whole image of an accepted type) and save
        it under a readable name.  The JSON side file holds the prompt, `facts`
        (parameters, task and request id, cost, journal id), the URL and when."""
        mime = check_image(data, url)
        meta = {"prompt": prompt, **facts, "url": url, "index": index, "saved_at": time.time()}
        return self.save_image(data, mime, stem=file_stem(prompt, facts.get("task_id"), index), meta=meta)

    def save_image(self, data: bytes, mime: str, *, stem: str, meta: dict[str, Any]) -> Path:
        """Write `data` atomically as `<root>/<stem><ext>` and `meta` beside it."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{_safe_stem(stem)}{_EXTENSIONS.get(mime, '.png')}"
        # Only the image is flushed to the disk before the journal says "saved": the
        # side file repeats what the journal holds, so it is not worth a second fsync.
        _atomic_write(path.with_suffix(".json"), json.dumps(meta, indent=2, default=str).encode(), durable=False)
        _atomic_write(path, data)
        return path


def _safe_stem(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "image"


def _atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def file_stem(prompt: str, task_id: str | None, index: int, when: float | None = None) -> str:
    """A readable, unique file name: time, a slug of the prompt, the task id."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when or time.time()))
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40].rstrip("-") or "image"
    ident = task_id or uuid.uuid4().hex[:12]
    return f"{stamp}_{slug}_{ident}_{index}"


def check_image(data: bytes, url: str) -> str:
    """A downloaded result must be a whole image of an accepted type; returns its mime type."""
    mime = rules.sniff_mime(data)
    if mime is None:
        raise APIResponseError(f"{url} did not return an image ({rules.describe_bytes(data)})")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
        if mime == "image/png" and not data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82"):
            raise OSError("no IEND chunk")
    except Exception as exc:
        raise APIResponseError(f"{url} returned a broken or truncated image ({exc})") from None
    return mime
