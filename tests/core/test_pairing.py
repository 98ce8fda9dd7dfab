"""Which pair a ranker shows next: each pair once, the same prompt first,
then the pairs the scores predict least, neither side favoured."""

from __future__ import annotations

from itertools import combinations

from xenodia_jupyter.core.pairing import next_pair, pair_count

IDS = ["fox1", "owl1", "fox2", "owl2"]
GROUPS = {"fox1": "fox", "fox2": "fox", "owl1": "owl", "owl2": "owl"}


def _walk(ids: list[str], groups: dict[str, str], scores: dict[str, float] | None = None) -> list[tuple[str, str]]:
    done: set[frozenset[str]] = set()
    lefts: dict[str, int] = {}
    shown = []
    while (pair := next_pair(ids, groups, done, scores or {}, left_counts=lefts)) is not None:
        shown.append(pair)
        done.add(frozenset(pair))
        lefts[pair[0]] = lefts.get(pair[0], 0) + 1
    return shown


def test_every_pair_is_shown_once_then_none() -> None:
    shown = _walk(IDS, GROUPS)
    assert len(shown) == pair_count(4) == 6
    assert {frozenset(p) for p in shown} == {frozenset(p) for p in combinations(IDS, 2)}


def test_pairs_of_the_same_prompt_come_first() -> None:
    first_two = {frozenset(p) for p in _walk(IDS, GROUPS)[:2]}
    assert first_two == {frozenset(("fox1", "fox2")), frozenset(("owl1", "owl2"))}


def test_the_least_predictable_pair_comes_next() -> None:
    ids = ["a", "b", "c", "d"]
    groups = dict.fromkeys(ids, "all")
    scores = {"a": 3.0, "b": 0.1, "c": 0.0, "d": -3.0}
    assert frozenset(next_pair(ids, groups, set(), scores) or ()) == {"b", "c"}
    done = {frozenset(("b", "c"))}
    assert frozenset(next_pair(ids, groups, done, scores) or ()) in ({"a", "b"}, {"c", "d"}, {"a", "c"}, {"b", "d"})
    assert frozenset(next_pair(ids, groups, done, scores) or ()) != {"a", "d"}


def test_among_equals_the_results_compared_least_come_first() -> None:
    ids = ["a", "b", "c"]
    pair = next_pair(ids, dict.fromkeys(ids, 0), set(), {}, comparisons={"a": 5, "b": 0, "c": 0})
    assert frozenset(pair or ()) == {"b", "c"}


def test_no_side_is_favoured() -> None:
    ids = [f"r{i}" for i in range(6)]
    shown = _walk(ids, {i: i for i in ids})
    lefts = [sum(p[0] == i for p in shown) for i in ids]
    assert max(lefts) - min(lefts) <= 2, lefts


def test_nothing_to_show_for_fewer_than_two() -> None:
    assert next_pair(["only"], {}, set(), {}) is None
    assert pair_count(1) == 0
