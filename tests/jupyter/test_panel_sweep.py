"""The panel's sweep against the emulator on loopback.

The panel is built in this process the way a kernel would build it (its jobs
run on the kernel's engine thread): the toggle reveals the axis field, the
price counts the cells, every problem is shown under the field before
anything is sent, Generate runs `client.sweep` in the background and the
gallery shows its labelled grid, with failed cells in place.  The last test
runs in a real kernel: the sweep is reachable from later cells and the key
is in no widget's state.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ipywidgets.widgets.widget import _instances
from nbkernel import KernelSession
from PIL import Image

import xenodia_jupyter as xj
from xenodia_jupyter import AsyncClient
from xenodia_jupyter.batches.sweep_spec import MAX_CELLS
from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.jupyter import engine
from xenodia_jupyter.jupyter.panel.studio import Panel
from xenodia_jupyter.jupyter.settings import XenodiaSettings

KEY = "panel-sweep-secret-key-7f21c4"
STYLES = "style = ink wash, origami, watercolor"


# Helpers and fixtures (as in test_panel.py) --------------------------------------------------------


def until(condition: Callable[[], object], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def all_state() -> str:
    return json.dumps([w.get_state() for w in list(_instances.values())], default=lambda b: f"<{len(b)} bytes>")


def html_of(widget: Any) -> str:
    """Every HTML value inside `widget`."""
    found = [getattr(widget, "value", "")] if isinstance(getattr(widget, "value", None), str) else []
    for child in getattr(widget, "children", ()) or ():
        found.append(html_of(child))
    return "".join(found)


@pytest.fixture
def emu(make_emulator: Callable[..., Emulator]) -> Emulator:
    return make_emulator(latency=0.3, poll_interval_ms=30, api_key=KEY)


@pytest.fixture
def make_panel(emu: Emulator, tmp_path: Path) -> Iterator[Callable[..., Panel]]:
    panels: list[Panel] = []
    clients: list[AsyncClient] = []

    def make(**options: Any) -> Panel:
        if "budget_usd" not in options:
            clients.append(AsyncClient(api_key=KEY, base_url=emu.base_url, output_dir=tmp_path / "out"))
            options["client"] = clients[-1]
        options.setdefault("namespace", lambda: {})
        options.setdefault("settings", XenodiaSettings())
        panels.append(Panel(**options))
        return panels[-1]

    yield make
    for panel in panels:
        pending = list(panel._background)
        panel.close()
        for job in pending:
            job.wait(30)
    for client in clients:
        engine.run_blocking(client.aclose())


@pytest.fixture
def panel(make_panel: Callable[..., Panel]) -> Panel:
    return make_panel()


def sweep_ready(panel: Panel, prompt: str = "A fox in {style}", axis: str = STYLES) -> None:
    panel.sweep_toggle.value = True
    panel.prompt.value = prompt
    panel.sweep_axis.value = axis


def swept(panel: Panel, count: int = 1) -> xj.Sweep:
    """Generate, and wait for the sweep (a failed job fails the test with its words)."""
    panel.generate_button.click()
    until(lambda: len(panel.sweeps) == count or any(job.state == "failed" for job in panel.jobs))
    assert not panel.jobs, [job.detail.value for job in panel.jobs]
    sweep = panel.last_sweep
    assert sweep is not None
    return sweep


# The form and the price ------------------------------------------------------------------------------


def test_the_toggle_reveals_the_axis_field_and_the_price_counts_the_cells(panel: Panel) -> None:
    form = panel.sweep_form
    assert form.layout.display == "none" and panel.sweep_toggle.description == "Sweep"
    panel.sweep_toggle.value = True
    assert form.layout.display is None
    assert "write {style} in the prompt" in form.note.value  # a hint, not an error, while the axis is empty
    assert "sweep is not ready" in panel.price.value
    sweep_ready(panel)
    assert "3 values of {style} = 3 cells at 1K" in form.note.value
    assert "<b>$0.21</b> for the next click" in panel.price.value and "3 cells × $0.07" in panel.price.value
    assert panel.generate_button.description == "Generate 3"
    form.columns["16:9"].value = True  # a second aspect ratio: the columns
    assert "3 values of {style} × 2 aspect ratios = 6 cells" in form.note.value
    assert "<b>$0.42</b>" in panel.price.value and panel.generate_button.description == "Generate 6"
    panel.resolution.value = "2K"
    assert "= 6 cells at 2K" in form.note.value
    panel.sweep_toggle.value = False
    assert form.layout.display == "none"
    assert "<b>$0.07</b> for the next click" in panel.price.value and panel.generate_button.description == "Generate"


def test_columns_the_resolution_rules_out_cannot_be_chosen(panel: Panel) -> None:
    columns = panel.sweep_form.columns
    panel.aspect_ratio.value, panel.resolution.value = "16:9", "2K"
    panel.sweep_toggle.value = True
    assert columns["16:9"].value and columns["16:9"].disabled  # the panel's own: always a column
    assert columns["auto"].disabled and "only resolution '1K'" in columns["auto"].tooltip
    columns["1:1"].value = True
    panel.resolution.value = "4K"  # 1:1 cannot be 4K: released, and the tooltip says why
    assert not columns["1:1"].value and columns["1:1"].disabled and "'4K'" in columns["1:1"].tooltip
    columns["9:16"].value = True
    panel.aspect_ratio.value = "4:3"  # the old main one is released, the new one fixed
    assert (columns["16:9"].value, columns["16:9"].disabled) == (False, False)
    assert columns["4:3"].value and columns["4:3"].disabled
    assert panel.sweep_form.aspect_ratios(panel.choices.info) == ["9:16", "4:3"]


@pytest.mark.parametrize(
    ("axis", "prompt", "field", "rule"),
    [
        ("", "A fox in {style}", "sweep axis", "write a name, =, then values separated by commas"),
        ("style", "A fox in {style}", "sweep axis", "write a name, =, then values"),
        ("my style = a, b", "A fox in {my style}", "sweep axis", "'my style' cannot be a name"),
        ("timeout = 1, 2", "A {timeout}", "sweep axis", "one of sweep()'s own settings"),
        ("style =  , ", "A fox in {style}", "sweep values", "give at least one value after “style =”"),
        ("style = ink, clay, ink", "A fox in {style}", "sweep values", "“ink” is given twice"),
        ("style = ink, clay", "A fox in ink", "prompt", "has no {style}: write {style} where each value goes"),
        ("style = ink, clay", "A {animal} in {style}", "prompt", "has {animal}, but the sweep gives values only for {style}"),
        ("style = ink, clay", "A fox in {style", "prompt", "has a brace without its pair"),
        ("style = ink, clay", "A fox in {style} {}", "prompt", "has {} with no name"),
        ("style = ink, " + "x" * 32_001, "{style}", "prompt", "with style = xxx"),
        (
            "style = " + ", ".join(f"v{i}" for i in range(MAX_CELLS + 1)),
            "A fox in {style}",
            "sweep",
            f"has {MAX_CELLS + 1} cells ({MAX_CELLS + 1} values); the panel runs at most {MAX_CELLS}",
        ),
    ],
)
def test_problems_are_shown_under_the_field_and_nothing_is_sent(
    panel: Panel, emu: Emulator, axis: str, prompt: str, field: str, rule: str
) -> None:
    sweep_ready(panel, prompt, axis)
    panel.generate_button.click()
    note = panel.sweep_form.note.value
    assert f"<b>{field}</b>" in note and rule.replace("'", "&#x27;") in note.replace("&quot;", '"'), note
    assert "Nothing is sent until this is fixed" in note
    assert (len(panel.jobs), len(panel.results_view.sweep_grids), panel.sweeps) == (0, 0, [])
    assert emu.stats.generate_posts == 0


def test_too_many_cells_counts_the_columns_too(panel: Panel) -> None:
    values = ", ".join(f"v{i}" for i in range(MAX_CELLS // 2 + 1))
    sweep_ready(panel, axis=f"style = {values}")
    assert "cells at 1K" in panel.sweep_form.note.value
    panel.sweep_form.columns["16:9"].value = True
    note = panel.sweep_form.note.value
    assert f"has {MAX_CELLS + 2} cells ({MAX_CELLS // 2 + 1} values × 2 aspect ratios)" in note
    assert "use xj.sweep in a cell" in note and panel.generate_button.description == "Generate"


# Generating ----------------------------------------------------------------------------------------------


def test_a_sweep_runs_in_the_background_and_shows_a_labelled_grid(panel: Panel, emu: Emulator) -> None:
    sweep_ready(panel)
    panel.sweep_form.columns["16:9"].value = True
    panel.generate_button.click()
    assert len(panel.jobs) == 1 and panel.sweeps == []  # the click returned; the sweep runs on
    (grid,) = panel.results_view.sweep_grids
    assert grid.box is panel.results_view.sweep_box.children[0]
    assert all("waiting…" in html_of(slot) for slot in grid.slots)  # a placeholder per cell at once
    until(lambda: panel.sweeps)
    sweep = panel.sweeps[0]
    # Rows are the values, columns the aspect ratios, in the grid's reading order.
    labels = [child.value for child in grid.grid.children if hasattr(child, "value")]
    assert [label for label in labels if "row-label" in label][1].count("origami") == 2  # title and text
    assert ["1:1" in labels[1], "16:9" in labels[2]] == [True, True] and "{style}" in labels[0]
    assert len(grid.grid.children) == 3 + 3 * 3  # corner and two headers, then a label and two cells per row
    cards = grid.filled_cards()
    assert len(cards) == 6 and all(card.box in slot.children for card, slot in zip(cards, grid.slots, strict=True))
    assert [(c.result.prompt, c.result.aspect_ratio) for c in cards[:2]] == [
        ("A fox in ink wash", "1:1"),
        ("A fox in ink wash", "16:9"),
    ]
    assert all(0 < len(card.thumbnail) < 20_000 for card in cards)
    # The results are objects for later cells: the Sweep, and each cell in `results`.
    origami = sweep.cell(style="origami", aspect_ratio="16:9")
    assert isinstance(origami, xj.GenerationResult) and origami.image.size == (1024, 576)
    assert [r.prompt for r in panel.results] == [p for p in sweep.plan.prompts]
    assert panel.last is panel.results[-1] and panel.last.prompt == "A fox in watercolor"
    assert "<th>16:9</th>" in sweep._repr_html_()
    assert emu.stats.billed_calls == 6 and len(panel.jobs) == 0
    assert "spent this session: $0.42" in panel.price.value and "6 of 6 done" in grid.title.value
    assert KEY not in all_state()


def test_one_aspect_ratio_gives_one_row_per_value(panel: Panel) -> None:
    sweep_ready(panel, "A {thing} on a table", "thing = cup, bowl")
    sweep = swept(panel)
    grid = panel.results_view.sweep_grids[0]
    assert sweep.axes == {"thing": ["cup", "bowl"]}
    assert len(grid.grid.children) == 2 + 2 * 2  # corner, one header, then a label and one cell per row
    assert "cup" in grid.grid.children[2].value and grid.cards[1].result.prompt == "A bowl on a table"
    assert '<th style=\'text-align:right\'>bowl</th>' in sweep._repr_html_()


def test_a_failed_cell_shows_its_error_in_place(panel: Panel, emu: Emulator) -> None:
    emu.inject("generate", "status", status=502)  # the first POST fails upstream
    sweep_ready(panel)
    sweep = swept(panel)
    grid = panel.results_view.sweep_grids[0]
    (failed,) = [i for i, item in enumerate(sweep.results) if isinstance(item, xj.UpstreamError)]
    assert grid.errors[failed] is sweep.results[failed] and grid.cards[failed] is None
    shown = html_of(grid.slots[failed])
    assert "xenodia-sweep-failed" in shown and "502" in shown
    assert len(grid.filled_cards()) == 2 and len(panel.results) == 2
    assert "1 failed" in grid.title.value and len(panel.jobs) == 0


def test_an_uploaded_reference_goes_with_every_cell(panel: Panel, emu: Emulator) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), "navy").save(buffer, "PNG")
    panel.picker.dropzone.receive(("logo.png", buffer.getvalue()))
    sweep_ready(panel, axis="style = ink, clay")
    panel.sweep_form.columns["16:9"].value = True  # two aspect ratios: the reference is prepared twice
    sweep = swept(panel)
    assert all(isinstance(r, xj.GenerationResult) for r in sweep.results)
    assert [f["filename"] for f in emu.last_generation["files"]] == ["logo.png"]


def test_a_sweep_over_the_budget_is_refused_before_sending_and_leaves_no_grid(
    make_panel: Callable[..., Panel], emu: Emulator
) -> None:
    panel = make_panel(budget_usd=0.10)
    sweep_ready(panel)  # 3 cells: $0.21
    panel.generate_button.click()
    job = panel.jobs[0]
    until(lambda: job.state == "failed")
    assert "Over budget" in job.detail.value and "$0.21" in job.detail.value
    assert len(panel.results_view.sweep_grids) == 0 and panel.sweeps == []
    assert emu.stats.generate_posts == 0


def test_cancel_stops_the_sweep_and_keeps_the_cells_that_finished(panel: Panel, emu: Emulator) -> None:
    emu.next_task("stuck")
    sweep_ready(panel, axis="style = ink, clay")
    panel.generate_button.click()
    grid, job = panel.results_view.sweep_grids[0], panel.jobs[0]
    until(lambda: grid.filled_cards())  # one cell done, the other stuck on the server
    job.cancel_button.click()
    until(lambda: not job.running)
    assert job.state == "cancelled" and "cancelled" in grid.title.value
    stuck = next(i for i, r in enumerate(grid.results) if r is None)
    assert "cancelled" in html_of(grid.slots[stuck])
    assert [r.prompt for r in panel.results] == [grid.filled_cards()[0].result.prompt]
    assert panel.sweeps == [] and not grid.running
    assert "running" not in panel.price.value


# The cells are gallery cards ----------------------------------------------------------------------------


def test_a_cell_is_a_card_use_as_reference_to_variable_and_the_lightbox(
    make_panel: Callable[..., Panel],
) -> None:
    ns: dict[str, Any] = {}
    panel = make_panel(namespace=lambda: ns)
    sweep_ready(panel)
    swept(panel)
    grid = panel.results_view.sweep_grids[0]
    card = grid.cards[1]
    assert card is not None
    card.use_button.click()
    assert [(c.kind, c.count) for c in panel.picker.chips] == [("result", 1)]
    card.var_button.click()
    assert card.field.value == "style_origami"
    card.ok_button.click()
    assert ns["style_origami"] is card.result
    card.image.click()
    box = panel.results_view.lightbox
    assert "A fox in origami" in box.text.value and "2 of 3" in box.text.value  # through this sweep's cells
    box.next_button.click()
    assert "A fox in watercolor" in box.text.value
    card.star_button.click()
    assert panel.client.store.journal.entry(card.result.journal_id).rating == 1


def test_clear_removes_a_finished_sweep_and_closes_its_widgets(make_panel: Callable[..., Panel]) -> None:
    panel = make_panel()
    built = len(_instances)
    sweep_ready(panel)
    swept(panel)
    panel.sweep_toggle.value = False
    assert len(_instances) > built
    panel.clear()
    assert (panel.results, panel.sweeps, len(panel.results_view.sweep_grids)) == ([], [], 0)
    assert len(_instances) == built


# In a real kernel -----------------------------------------------------------------------------------------

KERNEL_SETUP = r'''
import asyncio, json, time
from ipywidgets.widgets.widget import _instances
import xenodia_jupyter as xj
from xenodia_jupyter.jupyter.panel.studio import Panel


async def until(condition, timeout=60.0):
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


def all_state():
    return json.dumps([w.get_state() for w in list(_instances.values())], default=lambda b: f"<{len(b)} bytes>")
'''


def test_in_a_kernel_the_sweep_is_an_object_for_later_cells_and_the_key_stays_out(
    emu: Emulator, tmp_path: Path
) -> None:
    env = {"XENODIA_API_KEY": KEY, "XENODIA_BASE_URL": emu.base_url, "XENODIA_OUTPUT_DIR": str(tmp_path / "k")}
    with KernelSession(tmp_path, env, timeout=90) as kernel:
        kernel.run(KERNEL_SETUP)
        kernel.run(
            "p = Panel(); p.sweep_toggle.value = True; p.prompt.value = 'A fox in {style}'\n"
            "p.sweep_axis.value = 'style = ink wash, origami'; p.generate_button.click()"
        )
        kernel.run("await until(lambda: p.sweeps)")
        assert kernel.value("(p.last_sweep.cell(style='origami').prompt, len(p.results))") == ("A fox in origami", 2)
        assert kernel.value("repr(p)").startswith("<xenodia Panel: 2 result(s), 1 sweep(s)")
        assert KEY not in str(kernel.value("all_state()"))
        cell = kernel.run("p.last_sweep")
        page = "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)
        assert "<th>" in page and "origami" in page  # the Sweep's own labelled grid in a later cell


def test_the_always_included_column_is_marked_as_in_not_as_unavailable(panel: Panel) -> None:
    panel.sweep_toggle.value = True
    panel.aspect_ratio.value = "16:9"
    main = panel.sweep_form.columns["16:9"]
    assert main.disabled and main.value and "xenodia-always" in main._dom_classes
    panel.aspect_ratio.value = "4:3"
    assert "xenodia-always" not in main._dom_classes and "xenodia-always" in panel.sweep_form.columns["4:3"]._dom_classes


def test_a_failed_cell_shows_its_whole_error_on_hover() -> None:
    from xenodia_jupyter.jupyter.panel.sweep_markup import failed_html

    error = xj.UpstreamError("The generation failed on the server after a long time of trying hard", status_code=502)
    assert "title='UpstreamError: 502: The generation failed on the server after a long time of trying hard'" in failed_html(error)
