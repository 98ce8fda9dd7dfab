"""Pairwise choices between two results, kept in the journal's `preferences`
table (schema 8): both journal ids, what was chosen, and when.

    record_choice(journal, left_id, right_id, "left")   # one row, one short transaction
    read_choices(journal)                                # every row, oldest first

Every click and every `Ranker.choose` is a new row; nothing is updated, so
several rankers (and processes) on one journal never overwrite each other.
A skip is kept too: it says the pair was shown and not decided.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Literal, NamedTuple, get_args

from ..errors import InvalidRequestError
from .journal import Journal

ChoiceName = Literal["left", "right", "tie", "skip"]
CHOICES: tuple[str, ...] = get_args(ChoiceName)


class Choice(NamedTuple):
    """One recorded choice between `left_id` and `right_id` (journal ids)."""

    left_id: str
    right_id: str
    choice: str  # "left", "right", "tie" or "skip"
    decided_at: float  # time.time() when it was recorded

    @property
    def decided(self) -> bool:
        """A winner or a tie (a skip decides nothing)."""
        return self.choice != "skip"

    @property
    def pair(self) -> frozenset[str]:
        """The two ids, without their sides."""
        return frozenset((self.left_id, self.right_id))


def check_choice(choice: str) -> str:
    if choice not in CHOICES:
        raise InvalidRequestError("choice", f"must be one of {', '.join(map(repr, CHOICES))}, not {choice!r}")
    return choice


def record_choice(journal: Journal, left_id: str, right_id: str, choice: str, *, decided_at: float | None = None) -> Choice:
    """Keep one choice between two results; returns it as recorded."""
    check_choice(choice)
    if left_id == right_id:
        raise InvalidRequestError("right_id", f"a result cannot be compared with itself ({left_id})")
    row = Choice(left_id, right_id, choice, time.time() if decided_at is None else decided_at)
    with journal.transaction() as conn:
        conn.execute(
            "INSERT INTO preferences (left_id, right_id, choice, decided_at) VALUES (?, ?, ?, ?)", tuple(row)
        )
    return row


def read_choices(journal: Journal, ids: Iterable[str] | None = None) -> list[Choice]:
    """Every recorded choice, oldest first; with `ids`, only those between two of them."""
    if not journal.path.exists():
        return []
    rows = journal.select("SELECT left_id, right_id, choice, decided_at FROM preferences ORDER BY id", [])
    choices = [Choice(r["left_id"], r["right_id"], r["choice"], r["decided_at"]) for r in rows]
    if ids is None:
        return choices
    wanted = set(ids)
    return [c for c in choices if c.left_id in wanted and c.right_id in wanted]


def latest_decisions(choices: Iterable[Choice]) -> list[Choice]:
    """The last decision (not a skip) for each pair, in the order they were made: a
    pair judged again (by another ranker, or from code) counts once, as last judged."""
    latest: dict[frozenset[str], Choice] = {}
    for choice in choices:
        if choice.decided:
            latest.pop(choice.pair, None)  # re-inserted: the dict keeps the order of the last decisions
            latest[choice.pair] = choice
    return list(latest.values())
