"""Named jobs in the journal: a job is journaled as a whole (its name, the
fingerprint of its items, one row per item) before its first POST, and each
item is linked to the generation row that sent it (see `Journal.begin`)."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from ..errors import StorageError
from .journal import Journal


def find_job(journal: Journal, name: str) -> tuple[str, list[tuple[str, str | None]]] | None:
    """A job's fingerprint and its items (item key, entry id or None), in order."""
    rows = journal.select("SELECT fingerprint FROM jobs WHERE name = ?", [name])
    if not rows:
        return None
    items = journal.select("SELECT item_key, entry_id FROM job_items WHERE job = ? ORDER BY idx", [name])
    return rows[0][0], [(row[0], row[1]) for row in items]

def job_entries(journal: Journal, name: str, indices: list[int]) -> dict[int, str | None]:
    """The journal entry of some items of a job (None: never sent)."""
    found: dict[int, str | None] = {}
    for start in range(0, len(indices), 500):  # SQLite caps the number of parameters
        chunk = indices[start : start + 500]
        rows = journal.select(
            f"SELECT idx, entry_id FROM job_items WHERE job = ? AND idx IN ({', '.join('?' * len(chunk))})",
            [name, *chunk],
        )
        found.update((row[0], row[1]) for row in rows)
    return found

def create_job(journal: Journal, name: str, fingerprint: str, item_keys: list[str]) -> str:
    """Journal a job as a whole before its first POST, unless a job of that
    name exists (another process may have made it a moment ago); returns the
    fingerprint the journal holds for the name, in one transaction."""
    try:
        with journal.transaction(durable=True) as conn:
            made = conn.execute(
                "INSERT INTO jobs (name, created_at, fingerprint, size) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
                (name, time.time(), fingerprint, len(item_keys)),
            )
            if made.rowcount == 1:
                conn.executemany(
                    "INSERT INTO job_items (job, idx, item_key) VALUES (?, ?, ?)",
                    [(name, i, key) for i, key in enumerate(item_keys)],
                )
                return fingerprint
            return str(conn.execute("SELECT fingerprint FROM jobs WHERE name = ?", (name,)).fetchone()[0])
    except sqlite3.Error as exc:
        raise StorageError(f"the journal {journal.path} could not be written ({exc}): nothing was sent", path=str(journal.path)) from None


def job_summaries(journal: Journal) -> list[dict[str, Any]]:
    """Every job with its counts and spend, newest first."""
    rows = journal.select(
        "SELECT j.name, j.created_at, j.size,"
        " SUM(g.state = 'saved'), SUM(g.state IN ('fail', 'refused')),"
        " SUM(g.id IS NOT NULL AND g.state NOT IN ('saved', 'fail', 'refused')),"
        " SUM(i.entry_id IS NULL), COALESCE(SUM(g.cost_usd), 0)"
        " FROM jobs j JOIN job_items i ON i.job = j.name LEFT JOIN generations g ON g.id = i.entry_id"
        " GROUP BY j.name ORDER BY j.created_at DESC",
        [],
    )
    keys = ("name", "created_at", "size", "saved", "failed", "running", "never_sent", "spent_usd")
    return [dict(zip(keys, (row[0], row[1], row[2], *(int(v or 0) for v in row[3:7]), float(row[7])), strict=True)) for row in rows]
