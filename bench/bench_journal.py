"""journal: a journal of 100,000 entries, the size a long batch leaves.

Ours: `history(limit=50)`, `recover()` with nothing to recover, and a cache
lookup (`find_saved` by request key), through the client's own methods.
Baseline, in the same run on the same file: what the client did before they
became index queries, reading every row (`Journal.entries()`) and filtering
in Python.  The rows are bulk-inserted once (100,000 durable inserts would
take minutes of fsyncs and measure the disk, not the journal).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid

from common import Outcome, fresh_dir, median, repeat, scaled

from xenodia_jupyter.client import AsyncClient
from xenodia_jupyter.store import Journal, JournalState

ENTRIES = 100_000
TARGETS_MS = {"history": 50.0, "recover": 200.0, "cache lookup": 1.0}


def _fill(journal: Journal, count: int) -> str:
    journal.find_task("none")  # opens the journal: creates the file and its schema
    conn = sqlite3.connect(journal.path)
    now = time.time()
    rows = []
    for i in range(count):
        key = f"{i:064x}"
        rows.append((
            uuid.uuid4().hex, now - count + i, now - count + i, "http://127.0.0.1:9", f"prompt {i}", "{}", "[]",
            JournalState.SAVED.value, f"task_{i}", json.dumps([f"/nowhere/{i}.png"]), 0.07, key,
        ))
    conn.executemany(
        "INSERT INTO generations (id, created_at, updated_at, base_url, prompt, params, refs, state, task_id,"
        " paths, cost_usd, request_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.commit()
    conn.close()
    return rows[count // 2][11]


def run(scale: float = 1.0) -> list[Outcome]:
    folder = fresh_dir("journal")
    client = AsyncClient(api_key="bench", base_url="http://127.0.0.1:9", output_dir=folder)
    key = _fill(client.store.journal, ENTRIES)
    journal = client.store.journal
    loop = asyncio.new_event_loop()
    reps = scaled(5, scale)
    ours = {
        "history": lambda: loop.run_until_complete(client.history(limit=50)),
        "recover": lambda: loop.run_until_complete(client.recover()),
        "cache lookup": lambda: journal.find_saved(key),
    }
    baseline = {
        "history": lambda: [e for e in journal.entries() if e.state == JournalState.SAVED][:50],
        "recover": lambda: [e for e in journal.entries() if e.recoverable],
        "cache lookup": lambda: next(e for e in journal.entries() if e.state == JournalState.SAVED),
    }
    outcomes = []
    for name, fn in ours.items():
        mine = [s * 1000 for s in repeat(fn, reps)]
        theirs = [s * 1000 for s in repeat(baseline[name], max(1, reps // 2))]
        target = TARGETS_MS[name]
        outcomes.append(
            Outcome(
                f"journal {name}",
                " ms",
                median(mine),
                median(theirs),
                f"<= {target:g} ms with {ENTRIES:,} entries",
                median(mine) <= target,
                reps={"ours": len(mine), "baseline": len(theirs)},
                samples={"ours_ms": mine, "baseline_ms": theirs},
                extra={"entries": ENTRIES},
            )
        )
    loop.run_until_complete(client.aclose())
    loop.close()
    return outcomes
