"""Sweeps: a template over axes, checked as a whole before sending, run as one
batch, shown as a labelled grid with failures in place, and a table."""

from __future__ import annotations

import inspect
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.batches.sweeps import KEYWORDS, plan_sweep, split_axis
from xenodia_jupyter.emulator import Emulator

AXES = {"animal": ["fox", "owl"], "style": ["ink wash", "origami", "pixel art"]}


def test_a_2x3_sweep_with_a_failing_cell(emu: Emulator, client: xj.Client) -> None:
    emu.inject("generate", "status", status=502)  # the first cell fails upstream
    grid = client.sweep("A {animal} in {style}", concurrency=1, **AXES)
    assert len(grid.results) == 6 and emu.stats.generate_posts == 6
    assert isinstance(grid.cell(animal="fox", style="ink wash"), xj.UpstreamError)
    owl = grid.cell(animal="owl", style="pixel art")
    assert isinstance(owl, xj.GenerationResult) and owl.prompt == "A owl in pixel art"
    page = grid._repr_html_()
    assert page.count("<tr>") == 3 and all(f"<th>{s}</th>" in page for s in AXES["style"])
    assert "UpstreamError" in page and page.count("data:image/jpeg;base64,") == 5
    frame = grid.to_pandas()
    assert list(frame.columns[:2]) == ["animal", "style"]
    assert list(frame["animal"]) == ["fox"] * 3 + ["owl"] * 3 and frame["error"].notna().sum() == 1


def test_a_dry_run_is_the_plan_with_its_price_and_sends_nothing(emu: Emulator, client: xj.Client) -> None:
    plan = client.sweep("A {animal} in {style}", dry_run=True, aspect_ratio=["1:1", "16:9"], **AXES)
    assert len(plan.plan.cells) == 12 and plan.plan.price_usd == pytest.approx(0.84)
    assert "A fox in origami" in plan._repr_html_() and "$0.84" in repr(plan)
    assert emu.stats.generate_posts == 0


def test_the_whole_plan_is_checked_before_anything_is_sent(emu: Emulator, client: xj.Client) -> None:
    with pytest.raises(xj.InvalidRequestError, match="resolution"):
        client.sweep("A {animal}", animal=["fox"], aspect_ratio=["1:1", "auto"], resolution="2K")
    with pytest.raises(xj.InvalidRequestError, match=r"no axis style"):
        client.sweep("A {animal} in {style}", animal=["fox"])
    with pytest.raises(xj.BudgetExceededError):
        xj.Client(emu.api_key, emu.base_url, budget_usd=0.20, output_dir=client.store.root).sweep(
            "A {animal} in {style}", **AXES
        )
    assert emu.stats.generate_posts == 0


def test_a_sweep_resumes_as_a_job(emu: Emulator, client: xj.Client) -> None:
    client.sweep("A {animal} in {style}", job="sweep-1", **AXES)
    again = client.sweep("A {animal} in {style}", job="sweep-1", **AXES)
    assert all(isinstance(r, xj.GenerationResult) for r in again.results)
    assert emu.stats.billed_calls == 6


def test_axes_from_the_magics_words() -> None:
    assert split_axis("style=ink wash, origami") == ("style", ["ink wash", "origami"])
    with pytest.raises(xj.InvalidRequestError, match="name=value1,value2"):
        split_axis("nothing")
    assert plan_sweep("{a}{b}", {"a": [1, 2], "b": ["x"]}).prompts == ["1x", "2x"]


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(out, "PNG")
    return out.getvalue()


def test_a_reference_stream_is_read_once_and_sent_with_every_aspect_ratio(emu: Emulator, client: xj.Client) -> None:
    picture = _png()
    grid = client.sweep("A {animal}", animal=["fox"], aspect_ratio=["1:1", "16:9"], references=io.BytesIO(picture))
    assert all(isinstance(r, xj.GenerationResult) for r in grid.results), grid.results
    tasks = list(emu.state.tasks.values())
    assert sorted(t.aspect_ratio or "" for t in tasks) == ["16:9", "1:1"]
    assert all(t.references == [picture] for t in tasks)


def test_each_aspect_ratio_is_still_checked_when_the_references_are_read_once(emu: Emulator, client: xj.Client) -> None:
    with pytest.raises(xj.InvalidRequestError, match="resolution"):
        client.sweep("A {animal}", animal=["fox"], aspect_ratio=["1:1", "auto"], resolution="2K",
                     references=io.BytesIO(_png()))
    assert emu.stats.generate_posts == 0


def test_an_aspect_ratio_axis_is_one_column_of_the_table_with_failed_cells_filled_from_the_plan(
    emu: Emulator, client: xj.Client
) -> None:
    emu.inject("generate", "status", status=502)  # the first cell fails: its row has no result to read
    grid = client.sweep("A {x}", x=["a"], aspect_ratio=["1:1", "16:9"], resolution=["1K", "2K"], concurrency=1)
    frame = grid.to_pandas()
    assert list(frame.columns).count("aspect_ratio") == 1 and list(frame.columns).count("resolution") == 1
    assert list(frame.columns[:1]) == ["x"]
    assert list(frame["aspect_ratio"]) == ["1:1", "1:1", "16:9", "16:9"]
    assert list(frame["resolution"]) == ["1K", "2K", "1K", "2K"]
    assert frame["error"].notna().sum() == 1 and frame["error"].notna().iloc[0]


@pytest.mark.parametrize("name", sorted(set(KEYWORDS) - {"self", "template"}))
def test_a_template_field_named_like_a_keyword_of_sweep_is_refused(
    name: str, emu: Emulator, client: xj.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XENODIA_API_KEY", emu.api_key)
    monkeypatch.setenv("XENODIA_BASE_URL", emu.base_url)
    for sweep in (client.sweep, xj.sweep):
        with pytest.raises(xj.InvalidRequestError, match=rf"\{{{name}\}} is a keyword of sweep\(\); rename") as caught:
            sweep(f"A {{{name}}}", **{name: ["a", "b"]})
        assert caught.value.field == "template"
    assert emu.stats.generate_posts == 0


def test_the_keywords_refused_as_fields_are_the_parameters_of_every_sweep() -> None:
    for function in (xj.AsyncClient.sweep, xj.Client.sweep):
        named = [p.name for p in inspect.signature(function).parameters.values() if p.kind != p.VAR_KEYWORD]
        assert set(named) == set(KEYWORDS), function
    with pytest.raises(xj.InvalidRequestError, match=r"\{template\} is a keyword"):
        plan_sweep("A {template}", {"animal": ["fox"]})


def test_on_result_is_called_once_per_cell_with_its_index_in_plan_order(emu: Emulator, client: xj.Client) -> None:
    emu.inject("generate", "status", status=502)
    seen: dict[int, object] = {}
    grid = client.sweep("A {animal} in {style}", concurrency=1, on_result=seen.__setitem__, **AXES)
    assert sorted(seen) == list(range(6))
    assert all(seen[i] is grid.results[i] for i in range(6))
    assert isinstance(seen[0], xj.UpstreamError)
    assert [getattr(seen[i], "prompt", None) for i in range(1, 6)] == grid.plan.prompts[1:]


# 12 animals x 10 styles: 120 cells, 20 in flight at once.
SWEEP_SCRIPT = """
import json
import xenodia_jupyter as xj
client = xj.Client(trust_idempotency=True)
grid = client.sweep(
    "A {animal} in {style}",
    animal=[f"animal {i}" for i in range(12)],
    style=[f"style {j}" for j in range(10)],
    job="killed-sweep", concurrency=20, timeout=120, progress=False,
)
page = grid._repr_html_()
print(json.dumps({
    "cells": len(grid.plan.cells),
    "saved": sum(isinstance(r, xj.GenerationResult) for r in grid.results),
    "in_order": [getattr(r, "prompt", repr(r)) for r in grid.results] == grid.plan.prompts,
    "pictures": page.count("data:image/jpeg;base64,"),
    "failed": page.count("xenodia-failed"),
    "corner": getattr(grid.cell(animal="animal 11", style="style 9"), "prompt", None),
    "paths": sorted(str(p) for r in grid.results for p in getattr(r, "paths", [])),
}))
"""


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_sweep_killed_midway_resumes_with_every_cell_billed_once(
    make_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    emu = make_emulator(latency=0.3)
    env = {
        **os.environ,
        "XENODIA_API_KEY": emu.api_key,
        "XENODIA_BASE_URL": emu.base_url,
        "XENODIA_OUTPUT_DIR": str(tmp_path / "out"),
    }
    script = tmp_path / "sweep.py"
    script.write_text(textwrap.dedent(SWEEP_SCRIPT))
    first = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while emu.stats.billed_calls < 40 and time.monotonic() < deadline:
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert 0 < emu.stats.billed_calls < 120, "the kill did not land mid-sweep"
    second = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=200)
    assert second.returncode == 0, second.stderr[-2000:]
    summary = json.loads(second.stdout)
    assert (summary["cells"], summary["saved"], summary["in_order"]) == (120, 120, True)
    assert (summary["pictures"], summary["failed"]) == (120, 0)  # the grid is complete
    assert summary["corner"] == "A animal 11 in style 9"
    assert emu.stats.billed_calls == 120  # no cell billed twice
    saved = sorted(str(p) for p in (tmp_path / "out").glob("*.png"))
    assert len(saved) == 120 and summary["paths"] == saved
