"""Bradley–Terry scores from pairwise choices: a tie is half a win each, an
unbeaten result has a finite score and ranks first, a result never compared
scores 0, and the table is best first."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from xenodia_jupyter.core.scores import by_score, score_table, scores_by_id, scores_from_choices, win_probability
from xenodia_jupyter.store.journal import Journal
from xenodia_jupyter.store.preferences import Choice, record_choice


def _c(left: str, right: str, choice: str) -> Choice:
    return Choice(left, right, choice, 0.0)


def test_a_result_that_won_every_comparison_ranks_first_with_a_finite_score() -> None:
    choices = [_c("u", "a", "left"), _c("b", "u", "right"), _c("u", "c", "left")]
    choices += [_c("a", "b", "left"), _c("b", "c", "left"), _c("c", "a", "left")] * 3
    scores = scores_from_choices(choices)
    assert list(scores)[0] == "u"
    assert math.isfinite(scores["u"]) and scores["u"] > 1.0


def test_a_tie_is_half_a_win_for_each_side() -> None:
    tied = scores_from_choices([_c("a", "b", "tie")])
    assert tied["a"] == pytest.approx(tied["b"]) == pytest.approx(0.0, abs=1e-6)
    split = scores_from_choices([_c("a", "b", "left"), _c("a", "b", "right")])
    assert split["a"] == pytest.approx(tied["a"], abs=1e-6)


def test_skips_count_for_nothing_and_a_result_never_compared_scores_zero() -> None:
    scores = scores_from_choices([_c("a", "b", "skip"), _c("a", "c", "left")], ["a", "b", "c"])
    assert scores["b"] == pytest.approx(0.0, abs=1e-6)
    assert scores["a"] > scores["b"] > scores["c"]
    assert scores["a"] == pytest.approx(-scores["c"], abs=1e-6)  # symmetric about the prior's level


def test_the_scores_predict_the_choices_they_were_fitted_to() -> None:
    rng = random.Random(7)
    truth = {str(i): i / 2 for i in range(8)}  # a true log strength per result
    choices = []
    for _ in range(3000):
        a, b = rng.sample(list(truth), 2)
        choices.append(_c(a, b, "left" if rng.random() < win_probability(truth[a], truth[b]) else "right"))
    fitted = scores_from_choices(choices)
    assert list(fitted) == sorted(truth, key=lambda i: -truth[i])  # best first, in the true order
    spread = fitted["7"] - fitted["0"]
    assert spread == pytest.approx(truth["7"] - truth["0"], rel=0.2)


def test_ids_limit_the_scores_to_the_choices_among_them() -> None:
    choices = [_c("a", "b", "left"), _c("b", "x", "left"), _c("x", "a", "left")]
    assert set(scores_from_choices(choices, ["a", "b"])) == {"a", "b"}
    assert scores_from_choices(choices, ["a", "b"]) == scores_from_choices(choices[:1])


def test_the_table_is_best_first_and_counts_each_result(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    for left, right, choice in (("a", "b", "right"), ("b", "c", "left"), ("a", "c", "tie"), ("a", "c", "skip")):
        record_choice(journal, left, right, choice)
    table = score_table(journal)
    assert table.index.name == "journal_id" and list(table.columns) == ["score", "wins", "losses", "ties", "comparisons"]
    assert list(table.index) == ["b", "a", "c"] or list(table.index) == ["b", "c", "a"]
    assert table.loc["b"].tolist()[1:] == [2, 0, 0, 2]
    assert table.loc["a"].tolist()[1:] == [0, 1, 1, 2]
    assert table["score"].is_monotonic_decreasing
    assert scores_by_id(journal) == pytest.approx(dict(table["score"]), abs=1e-3)


def test_results_sort_by_score(tmp_path: Path) -> None:
    class Item:
        def __init__(self, journal_id: str) -> None:
            self.journal_id = journal_id

    journal = Journal(tmp_path / "journal.sqlite3")
    record_choice(journal, "a", "b", "right")
    items = [Item("a"), Item("new"), Item("b")]
    assert [i.journal_id for i in by_score(items, journal)] == ["b", "new", "a"]
