"""`xj.rank(items)`: a widget that shows two results side by side and records
which is better, into the journal's preferences.

    ranker = xj.rank(results)     # the cell's value draws it
    ranker.pair                   # (left, right) GenerationResults, or None when every pair is judged
    ranker.choose("left")         # what a click on "Left is better" (or the ← key) records
    ranker.scores()               # the Bradley–Terry table of these results

The pictures are JPEGs of at most PREVIEW_PX a side, sent as a custom message
with two buffers when a pair is shown (or a view asks): never the full-size
file, and never widget state, so the saved notebook keeps words only.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ...core.given_results import as_results, journal_for, listed
from ...core.ranking import RankingSession
from ...core.results import GenerationResult, ResultList
from ...core.scores import score_table
from ...images.thumbnails import jpeg_thumbnail
from ..markup import error_text

PREVIEW_PX = 512
KEPT_PREVIEWS = 32  # JPEGs kept for pairs to come (a result is shown in many pairs); ~50 KB each
STATIC = Path(__file__).with_name("static")


def differing(left: GenerationResult, right: GenerationResult) -> list[tuple[str, str, str]]:
    """(name, left value, right value) of each parameter in which the two differ."""
    facts = (
        ("aspect ratio", lambda r: r.aspect_ratio or "—"),
        ("resolution", lambda r: r.resolution or "—"),
        ("images", lambda r: str(len(r.paths))),
        ("remixed from", lambda r: r.parent or "—"),
    )
    rows = [(name, value(left), value(right)) for name, value in facts]
    return [row for row in rows if row[1] != row[2]]


class Ranker(anywidget.AnyWidget):
    """Two results side by side: buttons and keys (← → ↓ space) record a choice."""

    _esm = traitlets.Unicode((STATIC / "ranker.js").read_text(encoding="utf-8")).tag(sync=True)
    _css = traitlets.Unicode((STATIC / "ranker.css").read_text(encoding="utf-8")).tag(sync=True)
    progress = traitlets.Unicode("").tag(sync=True)
    done = traitlets.Bool(False).tag(sync=True)
    pair_key = traitlets.Unicode("").tag(sync=True)
    sides = traitlets.List(traitlets.Dict()).tag(sync=True)
    shared = traitlets.Unicode("").tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)

    def __init__(self, session: RankingSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session
        self._previews: OrderedDict[str, bytes] = OrderedDict()
        self.on_msg(self._message)
        self._draw()

    @property
    def pair(self) -> tuple[GenerationResult, GenerationResult] | None:
        """The pair shown, as (left, right), or None when every pair is judged."""
        return self.session.pair

    @property
    def results(self) -> list[GenerationResult]:
        return self.session.results

    def choose(self, choice: str) -> None:
        """Record "left", "right", "tie" or "skip" for the pair shown (what a click records), and show the next."""
        self.session.choose(choice)
        self._draw()

    def ranking(self) -> ResultList[GenerationResult]:
        """The results, best first by their scores so far."""
        return self.session.ranking()

    def scores(self) -> Any:
        """These results' score table (see `xj.scores`)."""
        return score_table(self.session.journal, self.session.ids)

    def __repr__(self) -> str:
        return f"<Ranker over {len(self.session.ids)} results: {self.session.progress} judged>"

    # The view ---------------------------------------------------------------------------

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("want") == "previews":
            self._send_previews()
        elif content.get("choice") is not None:
            try:
                self.choose(str(content["choice"]))
            except Exception as exc:  # a click must never raise into the kernel's comm handler
                self.status = error_text(exc)

    def _draw(self) -> None:
        pair = self.session.pair
        self.progress = self.session.progress
        self.done = pair is None
        self.status = ""
        if pair is None:
            self.pair_key, self.sides, self.shared = "", [], ""
            self.note = "Every pair is judged: ranker.scores() gives the scores, xj.preferences() the pairs."
            return
        left, right = pair
        same_prompt = left.prompt == right.prompt
        rows = differing(left, right)
        self.sides = [
            {"prompt": "" if same_prompt else result.prompt, "facts": [[name, values[side]] for name, *values in rows]}
            for side, result in enumerate(pair)
        ]
        self.shared = f"Both: {left.prompt}" if same_prompt else ""
        same = " · ".join(v for v in (left.aspect_ratio, left.resolution) if v)
        self.note = "" if rows else f"Same parameters: {same}." if same else "Same parameters."
        self.pair_key = f"{left.journal_id}|{right.journal_id}|{self.session.judged}"
        self._send_previews()

    def _send_previews(self) -> None:
        pair = self.session.pair
        if pair is None or self.comm is None:
            return
        try:
            buffers = [self._preview(result) for result in pair]
        except OSError as exc:
            self.status = error_text(exc)
            return
        self.send({"kind": "previews", "pair_key": self.pair_key}, buffers=buffers)

    def _preview(self, result: GenerationResult) -> bytes:
        key = result.journal_id or str(result.paths[0])
        data = self._previews.pop(key, None)
        if data is None:
            data = jpeg_thumbnail(result.paths[0], PREVIEW_PX)
        self._previews[key] = data
        while len(self._previews) > KEPT_PREVIEWS:
            self._previews.popitem(last=False)
        return data


def rank(items: Any, output_dir: str | os.PathLike[str] | None = None) -> Ranker:
    """A ranker over `items` (results, journal ids, or a DataFrame with a
    `journal_id` column; failed items are left out), recording into the journal
    of `output_dir` (by default the one beside the results' files)."""
    items = listed(items)
    journal = journal_for(items, output_dir)
    return Ranker(RankingSession(as_results(items, journal, strict=True, unique=True), journal))
