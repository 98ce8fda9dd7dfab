"""One ranking session over a set of results: the pair shown, the choices made.

    session = RankingSession(results, journal)
    session.pair            # (left, right) GenerationResults, or None when every pair is judged
    session.choose("left")  # recorded in the journal; the next pair is picked
    session.progress        # "7 of 15 pairs"

Decided pairs are read back from the journal at each step, so a second ranker
(or another process) on the same results never shows a pair already decided,
and a ranker made after a restart goes on where the last one stopped.  A skip
moves on for this session only: the next session offers that pair again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ..errors import InvalidRequestError
from ..store.journal import Journal
from ..store.preferences import Choice, check_choice, read_choices, record_choice
from .pairing import next_pair, pair_count
from .results import GenerationResult, ResultList
from .scores import scores_from_choices, tally


class RankingSession:
    """The results being ranked (each once, with a journal id) and where it stands."""

    def __init__(self, results: Sequence[GenerationResult], journal: Journal) -> None:
        if len(results) < 2:
            raise InvalidRequestError("items", f"ranking needs at least 2 saved results, not {len(results)}")
        self.results = list(results)
        self.journal = journal
        self._by_id: dict[str, GenerationResult] = {r.journal_id: r for r in self.results if r.journal_id}
        self.ids = list(self._by_id)
        # One group per prompt (whitespace and case aside): the samples of one sweep cell.
        self._groups = {i: " ".join(r.prompt.split()).casefold() for i, r in self._by_id.items()}
        self._skipped: set[frozenset[str]] = set()
        self._left_counts: Counter[str] = Counter()
        self.judged = 0
        self.scores: dict[str, float] = {}
        self.pair_ids: tuple[str, str] | None = None
        self.advance()

    @property
    def pair(self) -> tuple[GenerationResult, GenerationResult] | None:
        if self.pair_ids is None:
            return None
        return self._by_id[self.pair_ids[0]], self._by_id[self.pair_ids[1]]

    @property
    def total(self) -> int:
        return pair_count(len(self.ids))

    @property
    def progress(self) -> str:
        return f"{self.judged} of {self.total} pairs"

    def advance(self) -> None:
        """Read the decisions, refit the scores, and pick the next pair."""
        choices = read_choices(self.journal, self.ids)
        done = {c.pair for c in choices if c.decided} | self._skipped
        self.judged = len(done)
        self.scores = scores_from_choices(choices, self.ids)
        records, _ = tally(choices, self.ids)
        comparisons = {i: record.comparisons for i, record in records.items()}
        self.pair_ids = next_pair(
            self.ids, self._groups, done, self.scores, comparisons=comparisons, left_counts=self._left_counts
        )
        if self.pair_ids is not None:
            self._left_counts[self.pair_ids[0]] += 1

    def choose(self, choice: str) -> Choice:
        """Record `choice` ("left", "right", "tie" or "skip") for the pair shown, and move on."""
        check_choice(choice)
        if self.pair_ids is None:
            raise InvalidRequestError("choice", f"every pair is judged ({self.progress}); there is nothing to choose")
        recorded = record_choice(self.journal, *self.pair_ids, choice)
        if choice == "skip":
            self._skipped.add(recorded.pair)
        self.advance()
        return recorded

    def ranking(self) -> ResultList[GenerationResult]:
        """The results best first by their current scores."""
        order = {i: position for position, i in enumerate(self.scores)}
        return ResultList(sorted(self.results, key=lambda r: order.get(r.journal_id or "", len(order))))
