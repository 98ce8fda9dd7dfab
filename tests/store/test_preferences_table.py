"""Pairwise choices in the journal's preferences table: written once, read
back by another Journal object on the same file, never updated in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from xenodia_jupyter.errors import InvalidRequestError
from xenodia_jupyter.store.journal import Journal
from xenodia_jupyter.store.preferences import Choice, latest_decisions, read_choices, record_choice


def test_a_choice_is_read_back_by_a_journal_opened_afterwards(tmp_path: Path) -> None:
    first = Journal(tmp_path / "journal.sqlite3")
    record_choice(first, "a", "b", "left", decided_at=10.0)
    record_choice(first, "b", "c", "skip", decided_at=11.0)
    first.close()
    again = Journal(tmp_path / "journal.sqlite3")
    assert read_choices(again) == [Choice("a", "b", "left", 10.0), Choice("b", "c", "skip", 11.0)]


def test_reading_a_journal_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "none" / "journal.sqlite3")
    assert read_choices(journal) == []
    assert not journal.path.exists()


def test_ids_keep_only_the_choices_between_two_of_them(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    for left, right in (("a", "b"), ("a", "x"), ("b", "c")):
        record_choice(journal, left, right, "tie")
    assert [(c.left_id, c.right_id) for c in read_choices(journal, ["a", "b", "c"])] == [("a", "b"), ("b", "c")]


@pytest.mark.parametrize(("left", "right", "choice", "field"), [("a", "b", "both", "choice"), ("a", "a", "left", "right_id")])
def test_a_bad_choice_is_refused_before_anything_is_written(
    tmp_path: Path, left: str, right: str, choice: str, field: str
) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    with pytest.raises(InvalidRequestError) as raised:
        record_choice(journal, left, right, choice)
    assert raised.value.field == field
    assert read_choices(journal) == []


def test_the_last_decision_of_a_pair_counts_and_skips_decide_nothing() -> None:
    choices = [
        Choice("a", "b", "left", 1.0),
        Choice("c", "d", "tie", 2.0),
        Choice("b", "a", "left", 3.0),  # the same pair judged again, sides swapped
        Choice("c", "d", "skip", 4.0),
        Choice("e", "f", "skip", 5.0),
    ]
    assert latest_decisions(choices) == [Choice("c", "d", "tie", 2.0), Choice("b", "a", "left", 3.0)]
