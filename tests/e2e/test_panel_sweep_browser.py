"""The panel's sweep clicked in a real browser: Playwright drives Debian's
Chromium against JupyterLab 4 and Notebook 7 on loopback, against the
emulator (the setup of test_panel_browser.py).  Open the panel notebook,
click the Sweep toggle, type a template and an axis (a problem shows under
the field first), add a column, see the price of six cells, Generate, and
see the labelled grid fill in; save the notebook: no key, still small.

Screenshots go to build/browser/panel-sweep-<app>.png.  Never `playwright
install`: the browser is /usr/bin/chromium (apt install chromium).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import (
    BROWSER_MARKS,
    BUILD,
    CHROMIUM,
    CHROMIUM_ARGS,
    KEY,
    WAIT_MS,
    JupyterServer,
    check_saved_notebook,
    panel_notebook,
    run_all_cells,
    wait_for,
)

from xenodia_jupyter.emulator import Emulator

pytestmark = BROWSER_MARKS


# The panel stays inside the window; a grid wider than the panel (in JupyterLab
# at 480 px) scrolls inside it: scrolled to the end, its last cell is inside the panel.
NARROW = """() => {
  const bad = [];
  const panel = document.querySelector('.xenodia-panel').getBoundingClientRect();
  if (panel.right > window.innerWidth + 1) bad.push(`panel ends at ${panel.right} > ${window.innerWidth}`);
  const grid = document.querySelector('.xenodia-sweep-grid');
  grid.scrollLeft = grid.scrollWidth;
  const cards = grid.querySelectorAll('.xenodia-card');
  const last = cards[cards.length - 1].getBoundingClientRect();
  if (last.right > panel.right + 1) bad.push(`the last cell ends at ${last.right}, past the panel's ${panel.right}`);
  grid.scrollLeft = 0;
  return bad;
}"""


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(latency=1.5, api_key=KEY) as emulator:  # long enough to see the placeholders
        yield emulator


@pytest.fixture
def served(request: pytest.FixtureRequest, emu: Emulator, tmp_path: Path) -> Iterator[JupyterServer]:
    with panel_notebook(request.param, emu, tmp_path, "sweep-") as server:
        yield server


@pytest.mark.parametrize("served", ["lab", "notebook"], indirect=True)
def test_the_sweep_toggle_an_axis_and_generate_show_a_labelled_grid(
    served: JupyterServer, emu: Emulator, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    emu.reset()
    BUILD.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile for every run
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1100},
        )
        try:
            _drive(context.new_page(), served, emu, expect)
        finally:
            context.close()


def _drive(page: Any, served: JupyterServer, emu: Emulator, expect: Any) -> None:
    app = served.app
    page.set_default_timeout(WAIT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"{exc}\n{exc.stack}"))
    try:
        page.goto(served.url("panel.ipynb"))
        panel = run_all_cells(page)
        problems.clear()  # Notebook 7.6 itself raises on every page load (see test_panel_browser.py)
        # The widths are the notebook's: JupyterLab's file browser is closed first.
        open_tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
        if open_tab.count():
            open_tab.first.click()

        # The toggle reveals the axis field; a problem shows under it, naming the field.
        form = page.locator(".xenodia-sweep-form")
        expect(form).to_be_hidden()
        page.locator(".xenodia-sweep-toggle").click()
        expect(form).to_be_visible()
        page.locator(".xenodia-prompt textarea").fill("A lighthouse in {style}")
        axis = page.locator(".xenodia-sweep-axis input")
        axis.fill("style = ink wash, origami, ink wash")
        note = page.locator(".xenodia-sweep-note")
        expect(note).to_contain_text("sweep values")
        expect(note).to_contain_text("“ink wash” is given twice")
        axis.fill("style = ink wash, origami, watercolor")
        expect(note).to_contain_text("3 values of {style} = 3 cells")
        expect(page.locator(".xenodia-price")).to_contain_text("$0.21 for the next click")

        # A second aspect ratio makes the columns; the price counts the cells.
        page.locator(".xenodia-sweep-column", has_text="16:9").click()
        expect(note).to_contain_text("× 2 aspect ratios = 6 cells")
        expect(page.locator(".xenodia-price")).to_contain_text("6 cells × $0.07")
        generate = page.locator(".xenodia-generate")
        expect(generate).to_contain_text("Generate 6")

        # Generate: placeholders at once, then the labelled grid fills in.
        generate.click()
        grid = page.locator(".xenodia-sweep-grid")
        expect(grid.locator(".xenodia-sweep-pending").first).to_be_visible()
        expect(grid.locator(".xenodia-sweep-row-label")).to_have_text(["ink wash", "origami", "watercolor"])
        expect(grid.locator(".xenodia-sweep-column-label")).to_have_text(["1:1", "16:9"])
        pictures = grid.locator(".xenodia-card .xenodia-thumb img")
        expect(pictures).to_have_count(6)
        expect(grid.locator(".xenodia-sweep-pending")).to_have_count(0)
        expect(pictures.nth(3)).to_have_attribute("title", "A lighthouse in origami")  # row 2, column 2
        for i in range(6):
            page.wait_for_function("e => e.complete && e.naturalWidth > 0", arg=pictures.nth(i).element_handle())
        # Read across: each row's cells are side by side, the next row below them.
        boxes = [pictures.nth(i).bounding_box() for i in range(6)]
        assert abs(boxes[0]["y"] - boxes[1]["y"]) < 2 and boxes[1]["x"] > boxes[0]["x"], boxes
        assert boxes[2]["y"] > boxes[0]["y"] + boxes[0]["height"] - 1, boxes
        expect(page.locator(".xenodia-sweep")).to_contain_text("6 of 6 done")
        expect(page.locator(".xenodia-price")).to_contain_text("spent this session: $0.42")
        assert emu.stats.billed_calls == 6
        page.wait_for_timeout(300)  # let the last thumbnails paint
        panel.screenshot(path=str(BUILD / f"panel-sweep-{app}.png"))

        # In a narrow window the grid scrolls inside the panel; the panel stays in the window.
        page.set_viewport_size({"width": 480, "height": 1100})
        page.wait_for_timeout(400)  # let the layout settle
        assert page.evaluate(NARROW) == []
        page.set_viewport_size({"width": 1280, "height": 1100})

        # Save (widget state included): no key, and small.
        saved = served.root / "panel.ipynb"
        before = saved.stat().st_mtime_ns
        page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
        page.keyboard.press("Control+s")
        wait_for(lambda: saved.stat().st_mtime_ns != before, "the notebook to be saved")
        check_saved_notebook(saved)
        assert not problems, problems
    finally:
        page.screenshot(path=str(BUILD / f"last-sweep-{app}.png"))
