"""The journal of an output folder (SQLite, WAL).

Every generation is written to the journal (SQLite, WAL) before its request is
sent, and again as soon as the task id, each state, the result URLs and the
saved files are known.  Whatever happens to the process, a paid image can then
be found again by `recover()`.  Image files are written atomically (temporary
file, then rename) with the prompt and parameters in a JSON file beside them.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

from ..errors import StorageError
from .entries import JournalEntry, JournalState, entry_from_row

JOURNAL_NAME = "journal.sqlite3"


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
    server_state TEXT,
    rating      INTEGER NOT NULL DEFAULT 0,
    claimed_by  TEXT,
    claimed_until REAL,
    request_key TEXT,
    digests     TEXT,
    parent      TEXT
);
CREATE INDEX IF NOT EXISTS generations_task ON generations(task_id);
CREATE INDEX IF NOT EXISTS generations_created ON generations(created_at);
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS generations_request_key ON generations(request_key, state, created_at);
CREATE INDEX IF NOT EXISTS generations_state ON generations(state, created_at);
CREATE TABLE IF NOT EXISTS jobs (
    name        TEXT PRIMARY KEY,
    created_at  REAL NOT NULL,
    fingerprint TEXT NOT NULL,
    size        INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS job_items (
    job         TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    item_key    TEXT NOT NULL,
    entry_id    TEXT,
    PRIMARY KEY (job, idx)
);
CREATE INDEX IF NOT EXISTS generations_parent ON generations(parent);
CREATE TABLE IF NOT EXISTS preferences (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    left_id     TEXT NOT NULL,
    right_id    TEXT NOT NULL,
    choice      TEXT NOT NULL CHECK (choice IN ('left', 'right', 'tie', 'skip')),
    decided_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS preferences_pair ON preferences(left_id, right_id);
"""
# The library's full-text index of prompts (SQLite FTS5, an external-content
# table over `generations`: the words are indexed, the prompt is stored once).
# A prompt is written with its row and never changed, so inserts and deletes
# are all the triggers follow.
_SEARCH = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS prompts USING fts5(prompt, content='generations', content_rowid='rowid',"
    " tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS prompts_insert AFTER INSERT ON generations BEGIN"
    " INSERT INTO prompts(rowid, prompt) VALUES (new.rowid, new.prompt); END",
    "CREATE TRIGGER IF NOT EXISTS prompts_delete AFTER DELETE ON generations BEGIN"
    " INSERT INTO prompts(prompts, rowid, prompt) VALUES ('delete', old.rowid, old.prompt); END",
)


# 1: first; 2: server_state; 3: rating; 4: claims; 5: request_key; 6: jobs; 7: digests;
# 8: parent, the prompts' full-text index, preferences
SCHEMA_VERSION = 8
_COLUMNS = {
    "request_id": "TEXT",
    "urls": "TEXT",
    "paths": "TEXT",
    "cost_usd": "REAL",
    "error": "TEXT",
    "server_state": "TEXT",
    "rating": "INTEGER NOT NULL DEFAULT 0",
    "claimed_by": "TEXT",
    "claimed_until": "REAL",
    "request_key": "TEXT",
    "digests": "TEXT",  # sha256 of each saved file: a cache hit must be the file that was saved
    "parent": "TEXT",  # the journal id this generation was remixed from
}
CLAIM_LEASE_S = 60.0  # a claim not renewed this long belongs to a process that is gone
RATINGS = {1: "starred", 0: "none", -1: "rejected"}
WRITE_ATTEMPTS = 3  # a journal write that fails (locked, disk full) is tried this often before the fallback


class ItemTaken(Exception):
    """A job item already has a journal row (another process sent it first)."""

    def __init__(self, job_item: tuple[str, int], entry_id: str | None) -> None:
        super().__init__(f"job {job_item[0]!r} item {job_item[1]} is journaled as {entry_id}")
        self.job_item = job_item
        self.entry_id = entry_id


class Journal:
    """The SQLite journal of one output folder.  Safe for several threads, tasks
    and processes at once: each write is one short transaction, WAL mode lets
    readers and a writer overlap, and a busy timeout serialises writers.

    A write that still fails after `WRITE_ATTEMPTS` (disk full, locked by
    another process) and carries a task id goes to `journal.fallback.jsonl`
    beside it (append-only, fsynced) and raises `StorageError` naming the
    task; the next time the journal opens, the fallback is folded back in."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path).absolute()
        self.fallback_path = path.with_name(path.stem + ".fallback.jsonl")
        self.busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"the output folder {self.path.parent} cannot be used ({exc})", path=str(self.path.parent)) from None
            conn = _connect(self.path, self.busy_timeout_s, self._open)
            self._conn = conn
            self._fold_fallback()
        return self._conn

    def _open(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"the journal {self.path} was written by a newer xenodia-jupyter (schema {version}, this one "
                f"knows {SCHEMA_VERSION}); upgrade, or use another output folder: nothing was sent",
                path=str(self.path),
            )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(generations)")}
        for name, kind in _COLUMNS.items():
            if name not in columns:  # a journal from an older version: migrate in place
                try:
                    conn.execute(f"ALTER TABLE generations ADD COLUMN {name} {kind}")
                except sqlite3.OperationalError as exc:  # another process, opening it at the same moment, did it
                    if "duplicate column" not in str(exc):
                        raise
        conn.executescript(_INDEXES)
        if version < 8:
            _index_prompts(conn)
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("SELECT count(*) FROM generations").fetchone()  # reads the table: a damaged file fails here

    @contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction.  `durable`: synchronous=FULL, one fsync at commit, for
        the rows a power cut must not take (the pre-POST row, the task id)."""
        with self._lock:
            conn = self._connection()
            if durable:
                conn.execute("PRAGMA synchronous=FULL")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                if durable:
                    conn.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def begin(
        self,
        *,
        base_url: str,
        prompt: str,
        params: dict[str, Any],
        refs: list[dict[str, Any]],
        owner: str | None = None,
        request_key: str | None = None,
        job_item: tuple[str, int] | None = None,
        replaces: str | None = None,
        parent: str | None = None,
    ) -> str:
        """The row written before a POST, claimed by `owner` (see `claim`).  If it
        cannot be written, nothing is sent.

        A job item is linked to its row in the same transaction, and only where
        the item has no row yet (or still has `replaces`, a row refused by the
        server): two processes running one job never both send an item.  The
        one that comes second gets `ItemTaken`, naming the row to follow."""
        entry_id = uuid.uuid4().hex
        now = time.time()
        until = now + CLAIM_LEASE_S if owner else None
        try:
            with self.transaction(durable=True) as conn:
                if job_item is not None:
                    linked = conn.execute(
                        "UPDATE job_items SET entry_id = ? WHERE job = ? AND idx = ? AND (entry_id IS NULL OR entry_id = ?)",
                        (entry_id, *job_item, replaces),
                    )
                    if linked.rowcount != 1:
                        row = conn.execute(
                            "SELECT entry_id FROM job_items WHERE job = ? AND idx = ?", job_item
                        ).fetchone()
                        raise ItemTaken(job_item, row[0] if row else None)
                conn.execute(
                    "INSERT INTO generations (id, created_at, updated_at, base_url, prompt, params, refs, state,"
                    " claimed_by, claimed_until, request_key, parent) VALUES (?, ?, ?, ?, ?, ?, ?, 'sending', ?, ?, ?, ?)",
                    (entry_id, now, now, base_url, prompt, json.dumps(params), json.dumps(refs), owner, until, request_key,
                     parent),
                )
        except sqlite3.Error as exc:
            raise StorageError(f"the journal {self.path} could not be written ({exc}): nothing was sent", path=str(self.path)) from None
        return entry_id

    def update(self, entry_id: str, **values: Any) -> None:
        """Set columns of one entry; lists are stored as JSON.  A write that names
        a task id is durable, and survives a failing journal in the fallback file."""
        allowed = {"state", "server_state", "task_id", "request_id", "urls", "paths", "cost_usd", "error", "digests"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"not journal columns: {sorted(unknown)}")
        if "paths" in values:  # kept relative to the output folder: the folder can move, or be reached by another path
            values = {**values, "paths": [relative_to(self.folder, p) for p in values["paths"]]}
        cols = {
            k: json.dumps([str(p) for p in v]) if isinstance(v, list) else v.value if isinstance(v, Enum) else v
            for k, v in values.items()
        }
        cols["updated_at"] = time.time()
        assignments = ", ".join(f"{k} = ?" for k in cols)
        paid = "task_id" in values or "urls" in values
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.transaction(durable="task_id" in values) as conn:
                    conn.execute(f"UPDATE generations SET {assignments} WHERE id = ?", (*cols.values(), entry_id))
                return
            except (sqlite3.Error, StorageError) as exc:
                failure = exc
                if attempt + 1 < WRITE_ATTEMPTS:
                    time.sleep(0.1 * 4**attempt)
        if not paid:
            raise StorageError(f"the journal {self.path} could not be written ({failure})", path=str(self.path)) from None
        task_id = values.get("task_id")
        try:
            append_line(self.fallback_path, {"id": entry_id, **cols})
        except OSError as exc:  # the same full disk: the error itself is all that is left of the task id
            kept = f"task {task_id}" if task_id else "the result URLs"
            collect = f"client.retrieve({task_id!r})" if task_id else "xj.recover()"
            raise StorageError(
                f"neither the journal {self.path} nor its fallback file could be written ({failure}; "
                f"{exc.strerror or exc}): {kept} is paid for and kept only in this error; once there is "
                f"space, collect it with {collect} (no second charge)",
                path=str(self.path),
                task_id=task_id,
            ) from None
        raise StorageError(
            f"the journal {self.path} could not be written ({failure}); task {task_id} is kept in "
            f"{self.fallback_path.name} beside it, and xj.recover() saves it once the journal works again",
            path=str(self.path),
            task_id=task_id,
        ) from None

    @property
    def folder(self) -> Path:
        return self.path.parent

    def _fold_fallback(self) -> None:
        """Apply what the fallback file kept to the journal, then remove it (called
        with the connection open and the lock held)."""
        if not self.fallback_path.exists():
            return
        conn = self._conn
        assert conn is not None
        records = []
        for line in self.fallback_path.read_text().splitlines():
            with contextlib.suppress(ValueError):  # a line cut short by a crash
                records.append(json.loads(line))
        conn.execute("BEGIN IMMEDIATE")
        for record in records:
            entry_id = record.pop("id", None)
            cols = {k: v for k, v in record.items() if k in _COLUMNS or k in ("state", "task_id", "updated_at")}
            if entry_id and cols:
                assignments = ", ".join(f"{k} = ?" for k in cols)
                conn.execute(f"UPDATE generations SET {assignments} WHERE id = ?", (*cols.values(), entry_id))
        conn.execute("COMMIT")
        self.fallback_path.unlink()

    def entries(
        self,
        *,
        limit: int | None = None,
        state: JournalState | None = None,
        states: Iterable[JournalState] | None = None,
    ) -> list[JournalEntry]:
        """Newest first; only those in `state` (or `states`) when given (the limit counts those)."""
        if not self.path.exists():
            return []
        wanted = [state.value] if state is not None else [s.value for s in states] if states is not None else None
        sql, args = "SELECT * FROM generations", []
        if wanted is not None:  # an index query, not a scan of a 100,000-entry journal
            sql, args = sql + f" WHERE state IN ({', '.join('?' * len(wanted))})", wanted
        sql += " ORDER BY created_at DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [entry_from_row(row, self.folder) for row in self.select(sql, args)]

    def claim(
        self, entry_id: str, owner: str, lease_s: float = CLAIM_LEASE_S, *, states: Iterable[str] | None = None
    ) -> bool:
        """Take (or renew) the right to work on an entry for `lease_s` seconds.
        False when another owner holds a claim that has not expired: its task is
        live in another client or process, which will save it.  With `states`,
        also False unless the entry is still in one of them: checked and taken
        in one step, so that a row saved a moment ago by another process is
        not downloaded again."""
        now = time.time()
        wanted = [s.value if isinstance(s, Enum) else s for s in states] if states is not None else None
        in_state = f" AND state IN ({', '.join('?' * len(wanted))})" if wanted is not None else ""
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE generations SET claimed_by = ?, claimed_until = ? WHERE id = ?"
                " AND (claimed_by IS NULL OR claimed_by = ? OR claimed_until IS NULL OR claimed_until < ?)" + in_state,
                (owner, now + lease_s, entry_id, owner, now, *(wanted or [])),
            )
            if cursor.rowcount == 1:
                return True
            row = conn.execute("SELECT claimed_by, state FROM generations WHERE id = ?", (entry_id,)).fetchone()
            if row is None or not owner_is_gone(row[0]) or (wanted is not None and row[1] not in wanted):
                return False
            conn.execute(  # its process died on this machine: no need to wait for the lease
                "UPDATE generations SET claimed_by = ?, claimed_until = ? WHERE id = ? AND claimed_by = ?",
                (owner, now + lease_s, entry_id, row[0]),
            )
            return True

    def release(self, entry_id: str, owner: str) -> None:
        """Give a claim up (the work on the entry has ended, one way or another)."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE generations SET claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?",
                (entry_id, owner),
            )

    def entries_by_id(self, ids: list[str]) -> dict[str, JournalEntry]:
        """Many entries at once (a resumed job's): a query per 500, not one per entry."""
        found: dict[str, JournalEntry] = {}
        for start in range(0, len(ids), 500):  # SQLite caps the number of parameters
            chunk = ids[start : start + 500]
            rows = self.select(f"SELECT * FROM generations WHERE id IN ({', '.join('?' * len(chunk))})", chunk)
            found.update((row["id"], entry_from_row(row, self.folder)) for row in rows)
        return found

    def entry(self, entry_id: str) -> JournalEntry | None:
        rows = self.select("SELECT * FROM generations WHERE id = ?", [entry_id])
        return entry_from_row(rows[0], self.folder) if rows else None

    def rate(self, entry_id: str, rating: int) -> None:
        """Star (1), reject (-1) or clear (0) a result; kept across kernel restarts."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be 1 (star), -1 (reject) or 0 (none), not {rating!r}")
        with self.transaction() as conn:
            conn.execute("UPDATE generations SET rating = ?, updated_at = ? WHERE id = ?", (rating, time.time(), entry_id))

    def find_saved(self, request_key: str, base_url: str | None = None) -> JournalEntry | None:
        """The newest saved result of a request (the cache's lookup: one index
        query), from `base_url` only when given: the emulator's picture is not
        the real API's."""
        origin = " AND base_url = ?" if base_url is not None else ""
        rows = self.select(
            "SELECT * FROM generations WHERE request_key = ? AND state = 'saved'" + origin
            + " ORDER BY created_at DESC LIMIT 1",
            [request_key, *([base_url] if base_url is not None else [])],
        )
        return entry_from_row(rows[0], self.folder) if rows else None

    def find_task(self, task_id: str) -> JournalEntry | None:
        rows = self.select("SELECT * FROM generations WHERE task_id = ? ORDER BY created_at DESC LIMIT 1", [task_id])
        return entry_from_row(rows[0], self.folder) if rows else None

    @property
    def has_search_index(self) -> bool:
        """Whether the prompts' full-text index exists (SQLite built with FTS5)."""
        return bool(self.select("SELECT 1 FROM sqlite_master WHERE name = 'prompts'", []))

    def select(self, sql: str, args: list[Any]) -> list[sqlite3.Row]:
        with self._lock:
            conn = self._connection()
            conn.row_factory = sqlite3.Row
            try:
                return conn.execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StorageError(
                    f"the journal {self.path} could not be read ({exc}); if it is damaged, move it aside "
                    f"(mv '{self.path}' '{self.path}.damaged')",
                    path=str(self.path),
                ) from None
            finally:
                conn.row_factory = None


def _connect(path: Path, busy_timeout_s: float, set_up: Callable[[sqlite3.Connection], None]) -> sqlite3.Connection:
    """A connection to the journal at `path`, its schema set up by `set_up`.

    While another process sets up a new journal, SQLite can answer "locked" at
    once, without waiting out the busy timeout (changing the journal mode, a
    lock upgrade it will not wait for).  Every step of the set-up is idempotent,
    so it is tried again, a little apart from the other process, until the
    busy timeout has passed."""
    deadline = time.monotonic() + busy_timeout_s
    while True:
        conn = sqlite3.connect(path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None)
        try:
            set_up(conn)
            return conn
        except sqlite3.DatabaseError as exc:
            conn.close()
            locked = isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))
            if locked and time.monotonic() < deadline:
                time.sleep(random.uniform(0.02, 0.1))
                continue
            if locked:
                raise StorageError(f"the journal {path} is locked by another process ({exc})", path=str(path)) from None
            raise StorageError(
                f"the journal {path} is damaged ({exc}); move it aside "
                f"(mv '{path}' '{path}.damaged') and run again: nothing was sent",
                path=str(path),
            ) from None


def _index_prompts(conn: sqlite3.Connection) -> None:
    """Make the full-text index, and index what an older journal holds (in one
    transaction: another process opening it at the same moment waits, then
    finds the index made)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        fresh = not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'prompts'").fetchone()
        for statement in _SEARCH:
            conn.execute(statement)
        if fresh:
            conn.execute("INSERT INTO prompts(prompts) VALUES ('rebuild')")
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        conn.execute("ROLLBACK")
        if "fts5" not in str(exc):
            raise
        # An SQLite built without FTS5: the journal works without the index, and
        # the library's search reads the prompts instead (store/search.py).
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def claim_owner() -> str:
    """A claim's owner: this machine, this process, and one client in it."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def owner_is_gone(owner: str | None) -> bool:
    """True when `owner` is a process of this machine that no longer runs."""
    host, _, rest = (owner or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists but is not ours to signal
        return False
    return False


def relative_to(folder: Path, path: Any) -> str:
    """A saved file's path as the journal keeps it: relative to the output folder when inside it."""
    text = str(path)
    if "://" in text:
        return text
    try:
        return str(Path(text).relative_to(folder))
    except ValueError:
        return text


def append_line(path: Path, record: dict[str, Any]) -> None:
    """One JSON line, appended and fsynced (the fallback file: no SQLite needed)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
