"""The ranker clicked and keyed in a real browser: JupyterLab 4 and Notebook 7,
Light and Dark, in Debian's Chromium, against the emulator.  A notebook makes
four results and shows a ranker; the test clicks "Left is better", focuses the
ranker and presses →, ↓ and space, then clicks its way to the end.  Every
choice must land in the journal, in order; the pictures are at most 512 px;
every text reads at 4.5:1.  Screenshots at 480, 800 and 1400 px go to
build/browser/ranker-<app>-<theme>-<width>px.png (and -done.png).

Never `playwright install`: the browser is /usr/bin/chromium.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from browser import (
    BROWSER_MARKS,
    BUILD,
    CHROMIUM,
    CHROMIUM_ARGS,
    KEY,
    JupyterServer,
    run_all_cells,
    start_jupyter,
)
from test_themes_browser import LOW_CONTRAST, THEMES, WIDTHS

from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.store.journal import Journal
from xenodia_jupyter.store.preferences import read_choices

pytestmark = BROWSER_MARKS

CELLS = [
    "import xenodia_jupyter as xj\nfrom xenodia_jupyter.jupyter.ranking import rank\n"
    "foxes = xj.generate_many(['A red fox asleep in the snow'] * 2, aspect_ratio='16:9', progress=False)\n"
    "owls = xj.generate_many(['An owl on a branch at night'] * 2, aspect_ratio='1:1', progress=False)",
    "ranker = rank([*foxes, *owls])\nranker",
]
# The ranker's texts are measured along with everything else of ours.
CONTRAST = LOW_CONTRAST.replace("const ours = '", "const ours = '.xenodia-ranker, ")
# Both pictures drawn, and their sizes: each must be a preview (at most 512 px), never the file.
PICTURES = """() => Array.from(document.querySelectorAll('.xenodia-ranker-picture img'))
  .filter(i => i.complete && i.naturalWidth > 0).map(i => [i.naturalWidth, i.naturalHeight])"""


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(latency=0.3, api_key=KEY) as emulator:
        yield emulator


CASES = [(app, theme) for app in ("lab", "notebook") for theme in THEMES]


@pytest.fixture(params=CASES, ids=[f"{app}-{theme}" for app, theme in CASES])
def served(request: pytest.FixtureRequest, emu: Emulator, tmp_path: Path) -> Iterator[tuple[str, JupyterServer, Path]]:
    app, theme = request.param
    root = tmp_path / "root"
    root.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / "ranker.ipynb")
    out = tmp_path / "out"
    env = {"XENODIA_API_KEY": KEY, "XENODIA_BASE_URL": emu.base_url, "XENODIA_OUTPUT_DIR": str(out)}
    server = start_jupyter(app, root, tmp_path, env, theme=THEMES[theme])
    try:
        server.start_session("ranker.ipynb")
        yield f"{app}-{theme}", server, out
    finally:
        server.stop()
        BUILD.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log, BUILD / f"ranker-{app}-{theme}-{server.log.name}")


def test_the_ranker_is_clicked_and_keyed_and_every_choice_is_journaled(
    served: tuple[str, JupyterServer, Path],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    name, server, out = served
    expect.set_options(timeout=60_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.set_default_timeout(120_000)
        try:
            page.goto(server.url("ranker.ipynb"))
            ranker = run_all_cells(page, ".xenodia-ranker")
            open_tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
            if open_tab.count():  # JupyterLab's file browser closed: the widths are the notebook's
                open_tab.first.click()
            progress = ranker.locator(".xenodia-ranker-progress")
            expect(progress).to_have_text("0 of 6 pairs")
            expect(ranker.locator(".xenodia-ranker-shared")).to_contain_text("Both: ")
            page.wait_for_function(f"() => ({PICTURES})().length === 2")
            assert all(max(size) <= 512 for size in page.evaluate(PICTURES))

            ranker.locator(".xenodia-ranker-choose-left").click()
            expect(progress).to_have_text("1 of 6 pairs")
            ranker.locator(".xenodia-ranker-head").click()  # focus the ranker: its keys are live
            for number, key in enumerate(("ArrowRight", "ArrowDown", "Space"), 2):
                page.keyboard.press(key)
                expect(progress).to_have_text(f"{number} of 6 pairs")
            page.wait_for_function(f"() => ({PICTURES})().length === 2")
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 1200})
                page.wait_for_timeout(400)
                ranker.scroll_into_view_if_needed()
                ranker.screenshot(path=str(BUILD / f"ranker-{name}-{width}px.png"))
                low = page.evaluate(CONTRAST)
                assert low == [], f"{name} at {width}px:\n" + "\n".join(low)
            ranker.locator(".xenodia-ranker-choose-right").click()
            expect(progress).to_have_text("5 of 6 pairs")
            ranker.locator(".xenodia-ranker-choose-tie").click()
            expect(progress).to_have_text("6 of 6 pairs")
            expect(ranker.locator(".xenodia-ranker-note")).to_contain_text("Every pair is judged")
            ranker.screenshot(path=str(BUILD / f"ranker-{name}-done.png"))
        except BaseException:
            page.screenshot(path=str(BUILD / f"ranker-{name}-failed.png"), full_page=True)
            raise
        finally:
            browser.close()
    choices = read_choices(Journal(out / "journal.sqlite3"))
    assert [c.choice for c in choices] == ["left", "right", "tie", "skip", "right", "tie"]
    assert len({c.pair for c in choices}) == 6  # each pair once
