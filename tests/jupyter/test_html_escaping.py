"""Every function that returns HTML, fed hostile text where text can come from
outside (a prompt, a server's message, a task id, a file name, a job name, a
sweep value, what model discovery says), and the result parsed for live
elements and attributes: only our own markup may be live."""

from __future__ import annotations

import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

import xenodia_jupyter as xj
from xenodia_jupyter.batches.sweep_spec import SweepSpec
from xenodia_jupyter.batches.sweeps import Sweep, plan_sweep
from xenodia_jupyter.core.preparer import PreparedGeneration
from xenodia_jupyter.core.results import GenerationResult, ResultList, render_html
from xenodia_jupyter.jupyter import markup
from xenodia_jupyter.jupyter.history import HistoryTable
from xenodia_jupyter.jupyter.magics.cell_run import DryRun
from xenodia_jupyter.jupyter.magics.magics import _model_table
from xenodia_jupyter.jupyter.panel import sweep_markup
from xenodia_jupyter.store.entries import JournalEntry, JournalState
from xenodia_jupyter.wire.rules import DEFAULT_MODEL_INFO

HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)><a href=\"javascript:alert(2)\">&"
FORBIDDEN_TAGS = {"script", "iframe", "object", "embed", "form", "input", "link", "meta", "base"}


class Live(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_inert(html: str, allowed_tags: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    parser = Live()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag not in FORBIDDEN_TAGS - set(allowed_tags), f"a live <{tag}> in {html[:300]}"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"a live {name}= on <{tag}>"
            if name in ("href", "src", "action", "formaction", "xlink:href"):  # where a URL would run
                assert "javascript:" not in (value or "").lower(), f"a javascript: URL on <{tag}>"
        if tag == "img":
            assert (attrs.get("src") or "").startswith("data:image/"), f"an <img> with src={attrs.get('src')!r}"
    assert "alert(1)" not in html or "&lt;img" in html  # the text is there only as text


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / f"{HOSTILE.replace('/', '_')[:40]}.png"
    Image.new("RGB", (8, 8), "teal").save(path)
    return path


def _result(path: Path) -> GenerationResult:
    return GenerationResult(
        prompt=HOSTILE, urls=[f"https://cdn.example/{HOSTILE}"], paths=[path], task_id=HOSTILE, cost_usd=0.07,
        request_id=HOSTILE, aspect_ratio=HOSTILE, resolution=HOSTILE, created_at=time.time(),
    )


def _entry(path: Path) -> JournalEntry:
    now = time.time()
    return JournalEntry(
        id=HOSTILE, created_at=now, updated_at=now, base_url="http://x", prompt=HOSTILE, params={"aspect_ratio": HOSTILE},
        refs=[{"source": HOSTILE}], state=JournalState.SAVED, task_id=HOSTILE, request_id=HOSTILE, urls=[HOSTILE],
        paths=[path], cost_usd=0.07, error=HOSTILE, server_state=HOSTILE,
    )


def surfaces(picture: Path) -> dict[str, Callable[[], str]]:
    error = xj.APIError(HOSTILE, status_code=502, code=HOSTILE, request_id=HOSTILE, task_id=HOSTILE)
    spec = SweepSpec(HOSTILE + " {style}", "style", (HOSTILE, "b"), ("1:1", "16:9"), "1K")
    plan = plan_sweep("A {style}", {"style": [HOSTILE, "ok"]})
    info = DEFAULT_MODEL_INFO.__class__(**{**DEFAULT_MODEL_INFO.__dict__, "id": HOSTILE,
                                          "aspect_ratios": (HOSTILE, "1:1"), "resolutions": (HOSTILE,)})
    request = PreparedGeneration(prompt=HOSTILE, params={"model": HOSTILE, "aspect_ratio": HOSTILE, "resolution": HOSTILE},
                                 references=[], price_usd=0.07)
    frame = pd.DataFrame({"prompt": [HOSTILE], "path": [str(picture)], "error": [HOSTILE], "job": [HOSTILE]})
    return {
        "result": lambda: _result(picture)._repr_html_(),
        "result list": lambda: ResultList([_result(picture), error])._repr_html_(),
        "render_html": lambda: render_html([_result(picture), error]),
        "sweep grid": lambda: Sweep(plan, ResultList([_result(picture), error]))._repr_html_(),
        "history": lambda: HistoryTable([_entry(picture)])._repr_html_(),
        "dry run": lambda: DryRun(request, 2)._repr_html_(),
        "%xenodia models": lambda: _model_table(info),
        "thumbnail_column": lambda: xj.thumbnail_column(frame).to_html(),
        "error_html": lambda: markup.error_html(error),
        "message_html": lambda: markup.message_html(HOSTILE, HOSTILE),
        "note_html": lambda: markup.note_html(HOSTILE),
        "title_html": lambda: markup.title_html(HOSTILE, HOSTILE),
        "chip_label_html": lambda: markup.chip_label_html(HOSTILE),
        "job_title_html": lambda: markup.job_title_html(HOSTILE, HOSTILE),
        "cancelled_html": lambda: markup.cancelled_html(HOSTILE),
        "card_caption_html": lambda: markup.card_caption_html(HOSTILE, HOSTILE),
        "lightbox_html": lambda: markup.lightbox_html(HOSTILE, [(HOSTILE, HOSTILE)], HOSTILE),
        "compare_html": lambda: markup.compare_html([(HOSTILE, [HOSTILE, HOSTILE])], 2),
        "progress_html": lambda: markup.progress_html(HOSTILE, HOSTILE, 5, 1.0, task_id=HOSTILE, note=HOSTILE),
        "sweep problem": lambda: sweep_markup.problem_html(xj.InvalidRequestError(HOSTILE, HOSTILE)),
        "sweep plan": lambda: sweep_markup.plan_html(spec, 0.07),
        "sweep price": lambda: sweep_markup.price_html(spec, 0.07, 0.0, None, 0),
        "sweep grid title": lambda: sweep_markup.grid_title_html(spec, HOSTILE),
        "sweep corner": lambda: sweep_markup.corner_html(HOSTILE),
        "sweep column": lambda: sweep_markup.column_html(HOSTILE),
        "sweep row": lambda: sweep_markup.row_html(HOSTILE),
        "sweep pending": lambda: sweep_markup.pending_html(HOSTILE, HOSTILE),
        "sweep failed": lambda: sweep_markup.failed_html(error),
    }


SURFACES = sorted(surfaces(Path("unused")))


@pytest.mark.parametrize("name", SURFACES)
def test_hostile_text_is_never_live_markup(name: str, picture: Path) -> None:
    html = surfaces(picture)[name]()
    assert isinstance(html, str) and html
    assert_inert(html)


def test_the_check_finds_live_markup() -> None:
    with pytest.raises(AssertionError):
        assert_inert(f"<div>{HOSTILE}</div>")
