"""A Bradley–Terry score per result from the recorded pairwise choices.

    scores_by_id(journal)              # {journal id: score}, no pandas (the library and gallery sort by it)
    score_table(journal, ids)          # DataFrame: score, wins, losses, ties, comparisons; best first

The model: result i beats j with probability p_i / (p_i + p_j).  The
strengths are fitted by the MM algorithm (Hunter 2004), a tie counting as half
a win for each side.  Each result also plays a prior game against a fixed
opponent of strength 1, which it wins and loses by PRIOR_GAMES / 2 each: an
unbeaten result then has a finite strength (without it, the maximum is at
infinity), the highest of all, and a result never compared scores 0.  The
score is log p: 0 is the prior's level, +1 is e times as likely to win.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..store.journal import Journal
from ..store.preferences import Choice, read_choices

# Small enough that an unbeaten result ranks above any beaten one in a few
# dozen comparisons, large enough that the fit converges in a few hundred steps.
PRIOR_GAMES = 0.1
MAX_STEPS = 10_000
TOLERANCE = 1e-7  # on log p, between two steps


@dataclass
class Record:
    """One result's tally of decided comparisons."""

    wins: int = 0
    losses: int = 0
    ties: int = 0

    @property
    def comparisons(self) -> int:
        return self.wins + self.losses + self.ties


def tally(choices: Iterable[Choice], ids: Iterable[str] = ()) -> tuple[dict[str, Record], dict[tuple[str, str], float]]:
    """Each result's record, and the wins of each over each other (a tie: half
    to both); `ids` are included even when never compared."""
    records: dict[str, Record] = {i: Record() for i in ids}
    beat: dict[tuple[str, str], float] = defaultdict(float)
    for c in choices:
        if not c.decided:
            continue
        left, right = records.setdefault(c.left_id, Record()), records.setdefault(c.right_id, Record())
        if c.choice == "tie":
            left.ties += 1
            right.ties += 1
            beat[c.left_id, c.right_id] += 0.5
            beat[c.right_id, c.left_id] += 0.5
        else:
            winner, loser = (c.left_id, c.right_id) if c.choice == "left" else (c.right_id, c.left_id)
            records[winner].wins += 1
            records[loser].losses += 1
            beat[winner, loser] += 1
    return records, beat


def fit(ids: Sequence[str], beat: dict[tuple[str, str], float]) -> dict[str, float]:
    """log-strengths by MM: p_i <- W_i / sum_j n_ij / (p_i + p_j), the prior game included."""
    wins = {i: PRIOR_GAMES / 2 for i in ids}
    games: dict[str, dict[str, float]] = {i: {} for i in ids}
    for (winner, loser), count in beat.items():
        wins[winner] += count
        games[winner][loser] = games[winner].get(loser, 0.0) + count
        games[loser][winner] = games[loser].get(winner, 0.0) + count
    strength = dict.fromkeys(ids, 1.0)
    for _ in range(MAX_STEPS):
        change = 0.0
        for i in ids:  # in place (Gauss-Seidel): each update already sees the others' new strengths
            p = strength[i]
            denominator = PRIOR_GAMES / (p + 1.0) + sum(n / (p + strength[j]) for j, n in games[i].items())
            strength[i] = wins[i] / denominator
            change = max(change, abs(math.log(strength[i] / p)))
        shift = _level(strength)
        strength = {i: p * math.exp(shift) for i, p in strength.items()}
        if max(change, abs(shift)) < TOLERANCE:
            break
    return {i: math.log(p) for i, p in strength.items()}


def _level(strength: dict[str, float]) -> float:
    """The best shift of every log p at once.  MM crawls along this direction
    (only the prior games pin the common level), so a Newton step on it goes
    with each sweep: at the optimum the prior games are won half the time."""
    shift = 0.0
    for _ in range(3):
        odds = [1.0 / (1.0 + 1.0 / (p * math.exp(shift))) for p in strength.values()]
        slope = sum(0.5 - q for q in odds)
        curvature = sum(q * (1.0 - q) for q in odds)
        if not curvature:
            break
        shift += slope / curvature
    return shift


def win_probability(score_a: float, score_b: float) -> float:
    """How likely a result with `score_a` is to be chosen over one with `score_b`."""
    return 1.0 / (1.0 + math.exp(score_b - score_a))


def scores_from_choices(choices: Iterable[Choice], ids: Iterable[str] | None = None) -> dict[str, float]:
    """The score of each result (those in `ids`, counting only the choices
    between two of them, when given), best first."""
    wanted = None if ids is None else list(dict.fromkeys(ids))
    if wanted is not None:
        allowed = set(wanted)
        choices = [c for c in choices if c.left_id in allowed and c.right_id in allowed]
    records, beat = tally(choices, wanted or ())
    fitted = fit(list(records), beat)
    return dict(sorted(fitted.items(), key=lambda item: (-item[1], -records[item[0]].wins)))


def scores_by_id(journal: Journal, ids: Iterable[str] | None = None) -> dict[str, float]:
    """{journal id: score}, best first, from every choice in `journal` (only
    those between results in `ids` when given); no pandas needed."""
    return scores_from_choices(read_choices(journal), ids)


def by_score(items: Iterable[Any], journal: Journal) -> list[Any]:
    """`items` (results with a `journal_id`) best first; a result never compared
    scores 0, and equal scores keep their order."""
    listed = list(items)
    scores = scores_by_id(journal, [i.journal_id for i in listed if getattr(i, "journal_id", None)])
    return sorted(listed, key=lambda item: -scores.get(getattr(item, "journal_id", None) or "", 0.0))


COLUMNS = ("score", "wins", "losses", "ties", "comparisons")


def score_table(journal: Journal, ids: Iterable[str] | None = None) -> Any:
    """A DataFrame indexed by journal id (`journal_id`), best first, with the
    columns score, wins, losses, ties and comparisons.  Needs pandas."""
    from .._extras import import_optional

    pandas = import_optional("pandas", "data", "xj.scores()")
    choices = read_choices(journal)
    wanted = None if ids is None else list(dict.fromkeys(ids))
    if wanted is not None:
        allowed = set(wanted)
        choices = [c for c in choices if c.left_id in allowed and c.right_id in allowed]
    records, _ = tally(choices, wanted or ())
    scores = scores_from_choices(choices, wanted)
    rows = [
        (round(score, 4), records[i].wins, records[i].losses, records[i].ties, records[i].comparisons)
        for i, score in scores.items()
    ]
    frame = pandas.DataFrame(rows, columns=list(COLUMNS), index=pandas.Index(list(scores), name="journal_id"))
    return frame.astype({name: "int64" for name in COLUMNS[1:]})
