"""Which two results a ranker shows next (pure: no journal, no widgets).

    next_pair(ids, groups, done, scores)   # (left id, right id), or None when every pair is done

Every pair is shown once.  Pairs within one group (the same prompt, so the
same sweep cell) come first: those choices say which sample of an idea is
better, the question asked most.  Then the pairs whose outcome the current
scores predict least (a win probability nearest 1/2) come first; among equals,
the pair whose results have been compared least, then the order given.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence

from .scores import win_probability


def pair_count(n: int) -> int:
    """How many pairs `n` results make."""
    return n * (n - 1) // 2


def next_pair(
    ids: Sequence[str],
    groups: Mapping[str, Hashable],
    done: Collection[frozenset[str]],
    scores: Mapping[str, float],
    *,
    comparisons: Mapping[str, int] | None = None,
    left_counts: Mapping[str, int] | None = None,
) -> tuple[str, str] | None:
    """The most informative pair not in `done`, as (left, right): the result
    shown on the left less often (`left_counts`) goes left, so neither side
    is favoured by where it stands."""
    compared = comparisons or {}
    best: tuple[tuple[float, ...], str, str] | None = None
    for i, a in enumerate(ids):
        for j in range(i + 1, len(ids)):
            b = ids[j]
            if frozenset((a, b)) in done:
                continue
            key = (
                0.0 if groups.get(a) == groups.get(b) else 1.0,
                round(abs(win_probability(scores.get(a, 0.0), scores.get(b, 0.0)) - 0.5), 9),
                float(compared.get(a, 0) + compared.get(b, 0)),
                float(i),
                float(j),
            )
            if best is None or key < best[0]:
                best = (key, a, b)
    if best is None:
        return None
    _, a, b = best
    lefts = left_counts or {}
    return (b, a) if lefts.get(b, 0) < lefts.get(a, 0) else (a, b)
