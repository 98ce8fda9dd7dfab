"""The journal of an output folder as a searchable collection: `Library`.

    lib = xj.library()
    lib.search("lighthouse", starred=True, limit=50)    # a ResultList, newest first
    lib.rate(result, 1)                                   # star (1), reject (-1), clear (0)
    lib.recipe(result).kwargs(); lib.lineage(result)

Only saved results are in it: a failed or unfinished generation is not a
result.  Searching reads the journal's full-text index (SQLite FTS5), never
the image files, so it stays fast at 100,000 entries.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from ..errors import InvalidRequestError
from ..store.entries import JournalEntry, entry_from_row
from ..store.journal import RATINGS, Journal
from ..store.outputs import OutputStore
from ..store.search import FEW, Query
from .recipe import Recipe, read_recipe
from .results import GenerationResult, ResultList

MAX_LINEAGE = 1000  # a parent chain longer than this is cut (a loop written by hand into the journal)


class Library:
    """The saved results of one output folder (`output_dir`; None: the default)."""

    def __init__(self, output_dir: str | os.PathLike[str] | None = None, *, store: OutputStore | None = None) -> None:
        self.store = store if store is not None else OutputStore(output_dir)

    @property
    def journal(self) -> Journal:
        return self.store.journal

    def search(
        self,
        text: str | None = None,
        *,
        starred: bool | None = None,
        rejected: bool | None = None,
        job: str | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = None,
        order: str = "newest",
    ) -> ResultList[GenerationResult]:
        """Saved results, newest first.  `text`: words of the prompt, all of them
        (case-insensitive; `'"ink wash"'` as a phrase).  `starred=True` keeps only
        starred ones, `rejected=False` hides rejected ones; `since`/`until` take
        a datetime or an ISO date.  `order="score"`: best first by the scores of
        pairwise judging (`xj.rank`), unjudged results after them."""
        if order not in ("newest", "score"):
            raise InvalidRequestError("order", f"must be 'newest' or 'score', not {order!r}")
        query = Query.checked(text=text, starred=starred, rejected=rejected, job=job, aspect_ratio=aspect_ratio,
                              resolution=resolution, since=since, until=until,
                              limit=None if order == "score" else limit)
        indexed = self.journal.path.exists() and self.journal.has_search_index
        sql, args = query.sql(few=self._narrow(query, indexed), indexed=indexed)
        found = ResultList(self._result(e) for e in self._entries(sql, args))
        if order == "score":
            found = _by_score(found, self.journal)[:limit] if limit else _by_score(found, self.journal)
        return found

    def rate(self, item: GenerationResult | str, rating: int) -> None:
        """Star (1), reject (-1) or clear (0) a result (or a journal id)."""
        if rating not in RATINGS or isinstance(rating, bool):
            raise InvalidRequestError("rating", f"must be 1 (star), -1 (reject) or 0 (clear), not {rating!r}")
        entry_id = self._journal_id(item)
        if self.journal.entry(entry_id) is None:
            raise InvalidRequestError("item", f"{entry_id!r} is not in the journal of {self.store.root}")
        self.journal.rate(entry_id, rating)
        if isinstance(item, GenerationResult):
            item.rating = rating

    def recipe(self, source: object) -> Recipe:
        """How `source` was made: see `xj.recipe`."""
        return read_recipe(source, self.store)

    def lineage(self, item: GenerationResult | str) -> ResultList[GenerationResult]:
        """The chain of remixes that led to `item`, from its oldest ancestor
        that this journal holds to the item itself."""
        entry_id = self._journal_id(item)
        rows = self.journal.select(
            "WITH RECURSIVE chain(id, depth) AS (SELECT ?, 0 UNION ALL SELECT g.parent, c.depth + 1 "
            "FROM generations g JOIN chain c ON g.id = c.id WHERE g.parent IS NOT NULL AND c.depth < ?) "
            "SELECT g.* FROM chain c JOIN generations g ON g.id = c.id ORDER BY c.depth DESC",
            [entry_id, MAX_LINEAGE],
        )
        if not rows:
            raise InvalidRequestError("item", f"{entry_id!r} is not in the journal of {self.store.root}")
        return ResultList(self._result(entry_from_row(row, self.journal.folder)) for row in rows)

    def to_pandas(self) -> Any:
        """Every saved result, one row per image, from the journal alone (no
        image file is opened): the columns of `ResultList.to_pandas()` but
        width and height."""
        import pandas as pd

        sql, args = Query().sql()
        records = []
        for entry in self._entries(sql, args):
            for index, path in enumerate(entry.paths):
                records.append({
                    "journal_id": entry.id, "prompt": entry.prompt, "aspect_ratio": entry.params.get("aspect_ratio"),
                    "resolution": entry.params.get("resolution"), "path": str(path), "index": index,
                    "task_id": entry.task_id, "request_id": entry.request_id,
                    "cost_usd": entry.cost_usd if index == 0 else 0.0, "created_at": entry.created_at,
                    "rating": entry.rating, "parent": entry.parent,
                })
        columns = ["journal_id", "prompt", "aspect_ratio", "resolution", "path", "index", "task_id", "request_id",
                   "cost_usd", "created_at", "rating", "parent"]
        return pd.DataFrame.from_records(records, columns=columns)

    def references_usage(self) -> tuple[int, int]:
        """(files, bytes) of the references kept for recipes (see README: pruning)."""
        return self.store.references.usage()

    def __len__(self) -> int:
        return int(self.journal.select("SELECT count(*) FROM generations WHERE state = 'saved'", [])[0][0])

    def __repr__(self) -> str:
        return f"<Library {str(self.store.root)!r}: {len(self)} results>"

    def _narrow(self, query: Query, indexed: bool) -> frozenset[str]:
        """Which of the words ("text") and the job match few rows (the plan that starts from them)."""
        if not self.journal.path.exists():
            return frozenset()
        probes = query.probes(indexed=indexed).items()
        return frozenset(name for name, (sql, args) in probes if self.journal.select(sql, args)[0][0] <= FEW)

    def _entries(self, sql: str, args: list[Any]) -> list[JournalEntry]:
        if not self.journal.path.exists():
            return []
        return [entry_from_row(row, self.journal.folder) for row in self.journal.select(sql, args)]

    @staticmethod
    def _result(entry: JournalEntry) -> GenerationResult:
        return GenerationResult.from_entry(entry)

    @staticmethod
    def _journal_id(item: GenerationResult | str) -> str:
        if isinstance(item, GenerationResult):
            if item.journal_id is None:
                raise InvalidRequestError("item", "this result has no journal id (it was not made by this package)")
            return item.journal_id
        if isinstance(item, str) and item:
            return item
        raise InvalidRequestError("item", f"must be a GenerationResult or a journal id, not {type(item).__name__}")


def _by_score(results: ResultList[GenerationResult], journal: Journal) -> ResultList[GenerationResult]:
    """Best first by the scores of pairwise judging; results never judged keep
    their order (newest first) after the judged ones."""
    from ..store.preferences import read_choices
    from .scores import scores_from_choices

    ids = [r.journal_id for r in results if r.journal_id]
    choices = [c for c in read_choices(journal, ids) if c.decided]
    judged = {c.left_id for c in choices} | {c.right_id for c in choices}
    scores = scores_from_choices(choices, ids)
    ranked = sorted(
        enumerate(results),
        key=lambda p: (p[1].journal_id not in judged, -scores.get(p[1].journal_id or "", 0.0), p[0]),
    )
    return ResultList(r for _, r in ranked)
