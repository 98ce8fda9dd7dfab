"""Queries over the journal's saved results: words of the prompt (the FTS5
index `prompts`, see journal.py) and filters, newest first.

The text a person types is never handed to FTS5 as syntax: each word, and
each "quoted phrase", becomes a quoted string, and all of them must match.
So `ink-wash "red boat" OR` searches for those words, and no input raises
an FTS5 syntax error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import InvalidRequestError

FEW = 2000  # rows that the words or the job match, at most, for the plan that starts from them
_PHRASE = re.compile(r'"([^"]*)"|(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)


def match_expression(text: str) -> str | None:
    """The FTS5 MATCH expression for what was typed; None when it holds no word."""
    terms = []
    for phrase, word in _PHRASE.findall(text):
        words = _WORD.findall(phrase if phrase else word)
        if words:
            terms.append('"' + " ".join(words) + '"')
    return " AND ".join(terms) if terms else None


def _terms(text: str) -> list[str]:
    """Each word or quoted phrase of `text`, lower-case, its words joined by one space."""
    terms = []
    for phrase, word in _PHRASE.findall(text):
        words = _WORD.findall(phrase if phrase else word)
        if words:
            terms.append(" ".join(words).lower())
    return terms


def _escaped(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def prompt_matches(prompt: str, text: str) -> bool:
    """Whether `prompt` holds every word and phrase of `text`, as the index would
    say (case-insensitive, whole words): for results already on screen."""
    padded = " " + " ".join(_WORD.findall(prompt)).casefold() + " "
    return all(f" {term.casefold()} " in padded for term in _terms(text))


@dataclass(frozen=True)
class Query:
    """One search, checked: what `Library.search` takes."""

    text: str | None = None
    starred: bool | None = None
    rejected: bool | None = None
    job: str | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int | None = None

    @classmethod
    def checked(cls, **given: Any) -> Query:
        for name in ("starred", "rejected"):
            if given.get(name) not in (None, True, False):
                raise InvalidRequestError(name, f"must be True, False or None, not {given[name]!r}")
        for name in ("text", "job", "aspect_ratio", "resolution"):
            if given.get(name) is not None and not isinstance(given[name], str):
                raise InvalidRequestError(name, f"must be a string, not {type(given[name]).__name__}")
        limit = given.get("limit")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidRequestError("limit", f"must be a positive whole number, not {limit!r}")
        return cls(**{**given, "since": _timestamp("since", given.get("since")),
                      "until": _timestamp("until", given.get("until"))})

    def probes(self, *, indexed: bool = True) -> dict[str, tuple[str, list[Any]]]:
        """Cheap counts (each capped at FEW + 1) that tell whether the words
        ("text") or the job ("job") narrow the search to a few rows: see `sql`."""
        found = {}
        expression = match_expression(self.text) if self.text else None
        if expression is not None and indexed:
            found["text"] = ("SELECT count(*) FROM (SELECT 1 FROM prompts WHERE prompts MATCH ? LIMIT ?)", [expression, FEW + 1])
        if self.job is not None:
            found["job"] = ("SELECT count(*) FROM (SELECT 1 FROM job_items WHERE job = ? LIMIT ?)", [self.job, FEW + 1])
        return found

    def sql(self, *, few: frozenset[str] = frozenset(), indexed: bool = True) -> tuple[str, list[Any]]:
        """The SELECT over `generations` (saved rows only), and its arguments.

        Two plans.  By default SQLite walks the saved rows newest first (an index)
        and stops at `limit`: fast when the words match many rows.  When `few`
        names "text" or "job" (it matches at most FEW rows), it starts from those
        rows and sorts them: walking 100,000 rows to find 20 would take 100 ms.
        A unary `+` keeps SQLite from using a term to drive the search.  Without
        the index (`indexed=False`: an SQLite built without FTS5) each word is a
        LIKE over the prompt: slower, and a word also matches inside a longer one."""
        plus = "+" if few else ""
        text_plus = "" if "text" in few else plus  # the term that drives, when few
        job_plus = "" if "job" in few and "text" not in few else plus
        where: list[str] = [f"{plus}g.state = 'saved'"]
        args: list[Any] = []
        expression = match_expression(self.text) if self.text else None
        if self.text and expression is None:
            where.append("0")  # only punctuation: nothing can match
        elif expression is not None and not indexed:  # no FTS5 in this SQLite: read every prompt
            for term in _terms(self.text or ""):
                where.append("(' ' || lower(g.prompt) || ' ') LIKE ? ESCAPE '\\'")
                args.append("%" + _escaped(term) + "%")
        elif expression is not None:
            where.append(f"{text_plus}g.rowid IN (SELECT rowid FROM prompts WHERE prompts MATCH ?)")
            args.append(expression)
        if self.starred is not None:
            where.append(f"{plus}g.rating = 1" if self.starred else f"{plus}g.rating != 1")
        if self.rejected is not None:
            where.append(f"{plus}g.rating = -1" if self.rejected else f"{plus}g.rating != -1")
        if self.job is not None:
            where.append(f"{job_plus}g.id IN (SELECT entry_id FROM job_items WHERE job = ?)")
            args.append(self.job)
        for name in ("aspect_ratio", "resolution"):
            value = getattr(self, name)
            if value is not None:
                where.append(f"json_extract(g.params, '$.{name}') = ?")
                args.append(value)
        if self.since is not None:
            where.append(f"{plus}g.created_at >= ?")
            args.append(self.since)
        if self.until is not None:
            where.append(f"{plus}g.created_at <= ?")
            args.append(self.until)
        order = "g.created_at + 0" if few else "g.created_at"
        sql = "SELECT g.* FROM generations g WHERE " + " AND ".join(where) + f" ORDER BY {order} DESC"
        if self.limit is not None:
            sql += f" LIMIT {int(self.limit)}"
        return sql, args


def _timestamp(name: str, value: Any) -> float | None:
    """A `datetime`, an ISO 8601 string or seconds since the epoch, as seconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip()).timestamp()
        except ValueError:
            pass
    raise InvalidRequestError(name, f"must be a datetime or an ISO date such as '2026-12-01' or '2026-12-01T09:30', not {value!r}")
