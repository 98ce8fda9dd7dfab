"""library: searching a journal of 100,000 saved results.

Ours: `Library(folder).search(...)` with `limit=50` (SQLite FTS5 over the
journal's prompts, and an index walk newest first), three ways: one word,
a filter (`starred=True`), and both.  Baseline, on the same file in the same
run: scan every row in Python, as a notebook would without the index: load
every saved row's id, prompt, rating and time (newest first), keep those
whose prompt holds the word (`store.search.prompt_matches`, the index's own
notion of a word) and/or that are starred, stop at 50, and build those 50
results.  Both sides must return the same 50 journal ids in the same order.

The journal is built once per run by bulk insert (the FTS triggers index
every prompt as it goes in), then opened with `Library`, as a user would.
The prompts are made of a small vocabulary, seeded: the word searched for,
"lighthouse", is in about 5% of them; about 2% of the rows are starred.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
import uuid
from typing import Any

from common import Outcome, fresh_dir, median, repeat, scaled

from xenodia_jupyter.core.library import Library
from xenodia_jupyter.core.results import GenerationResult
from xenodia_jupyter.store.entries import JournalState, entry_from_row
from xenodia_jupyter.store.journal import Journal
from xenodia_jupyter.store.search import prompt_matches

ENTRIES = 100_000
LIMIT = 50
TARGET_MS = 50.0
WORD = "lighthouse"
STARRED_SHARE = 0.02
SUBJECTS = ["harbour", "forest", "city street", "mountain pass", "desert road", "river bank", "market", "garden",
            "train station", "bridge", "castle", "farmhouse", "beach", "canyon", "library", "orchard", "cathedral",
            "fishing boat", "windmill"]  # with WORD: 20 subjects, WORD in 5% of the prompts
STYLES = ["watercolour", "oil painting", "ink wash", "photograph", "pencil sketch", "poster", "woodcut", "pastel"]
TIMES = ["at dawn", "at dusk", "at night", "in the rain", "in fog", "in snow", "at noon", "under a full moon"]


def build(count: int) -> tuple[Journal, float]:
    """A journal of `count` saved rows in a fresh folder; seconds it took."""
    started = time.perf_counter()
    folder = fresh_dir("library")
    journal = Journal(folder / "journal.sqlite3")
    journal.find_task("none")  # creates the file, its schema and the full-text index's triggers
    rng = random.Random(28)
    now = time.time()
    rows = []
    for i in range(count):
        subject = rng.choice([*SUBJECTS, WORD])
        prompt = f"{rng.choice(TIMES).capitalize()}, a {subject} {rng.choice(TIMES)}, {rng.choice(STYLES)} #{i}"
        rows.append((
            uuid.uuid4().hex, now - count + i, now - count + i, "http://127.0.0.1:9", prompt,
            json.dumps({"aspect_ratio": "1:1", "resolution": "1K"}), "[]", JournalState.SAVED.value, f"task_{i}",
            json.dumps([f"images/{i}.png"]), 0.07, f"{i:064x}", 1 if rng.random() < STARRED_SHARE else 0,
        ))
    conn = sqlite3.connect(journal.path)
    conn.executemany(
        "INSERT INTO generations (id, created_at, updated_at, base_url, prompt, params, refs, state, task_id,"
        " paths, cost_usd, request_key, rating) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.commit()
    conn.close()
    journal.close()
    return journal, time.perf_counter() - started


def scan(journal: Journal, text: str | None, starred: bool | None, limit: int) -> list[GenerationResult]:
    """The baseline: every saved row's prompt and rating into Python, filtered there."""
    rows = journal.select(
        "SELECT id, prompt, rating FROM generations WHERE state = 'saved' ORDER BY created_at DESC", []
    )
    ids = [
        row["id"] for row in rows
        if (text is None or prompt_matches(row["prompt"], text)) and (starred is None or (row["rating"] == 1) == starred)
    ][:limit]
    if not ids:
        return []
    found = {row["id"]: row for row in journal.select(
        f"SELECT * FROM generations WHERE id IN ({', '.join('?' * len(ids))})", ids)}
    return [GenerationResult.from_entry(entry_from_row(found[i], journal.folder)) for i in ids]


def run(scale: float = 1.0) -> list[Outcome]:
    journal, built_s = build(ENTRIES)
    opened = time.perf_counter()
    library = Library(journal.folder)
    total = len(library)  # opens the journal (and its full-text index) as a user's first call would
    opened_s = time.perf_counter() - opened
    cases: dict[str, dict[str, Any]] = {
        "one word": {"text": WORD},
        "starred": {"starred": True},
        "word and starred": {"text": WORD, "starred": True},
    }
    reps = scaled(7, scale)
    outcomes = []
    for name, query in cases.items():
        ours_ids = [r.journal_id for r in library.search(**query, limit=LIMIT)]
        base_ids = [r.journal_id for r in scan(library.journal, query.get("text"), query.get("starred"), LIMIT)]
        same = ours_ids == base_ids and len(ours_ids) == LIMIT
        mine = [s * 1000 for s in repeat(lambda q=query: library.search(**q, limit=LIMIT), reps)]
        theirs = [s * 1000 for s in repeat(
            lambda q=query: scan(library.journal, q.get("text"), q.get("starred"), LIMIT), max(1, reps // 2))]
        outcomes.append(Outcome(
            f"library search ({name})",
            " ms",
            median(mine),
            median(theirs),
            f"<= {TARGET_MS:g} ms with {ENTRIES:,} entries, limit={LIMIT}, the same results as the scan",
            same and median(mine) <= TARGET_MS,
            reps={"ours": len(mine), "baseline": len(theirs)},
            samples={"ours_ms": mine, "baseline_ms": theirs},
            extra={"entries": total, "query": query, "limit": LIMIT, "same_results": same,
                   "build_s": built_s, "open_s": opened_s},
            note=f"{len(ours_ids)} results, {'the same' if same else 'NOT the same'} as the scan's; "
            f"slowest {max(mine):.1f} ms" + (f"; journal built in {built_s:.0f} s, opened in {opened_s * 1000:.0f} ms"
                                             if name == "one word" else ""),
        ))
    journal.close()
    return outcomes
