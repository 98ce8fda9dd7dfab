"""The compare view clicked and keyed in a real browser: JupyterLab 4 and
Notebook 7, light and dark, Debian's Chromium driven by Playwright, against
three results the emulator made.  Side by side shows two pictures of one
size; in swipe mode the divider moves when dragged; F flips and → steps the
right side; the difference view appears with its numbers; zooming past the
preview fetches a larger picture, and a drag pans both.  Every text reads at
4.5:1 or more, nothing leaves the view, at 480, 800 and 1400 px
(screenshots: build/browser/compare-<app>-<theme>-<mode>-<width>px.png).

Never `playwright install`: the browser is /usr/bin/chromium.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from browser import (
    BROWSER_MARKS,
    BUILD,
    CHROMIUM,
    CHROMIUM_ARGS,
    KEY,
    WAIT_MS,
    JupyterServer,
    run_all_cells,
    start_jupyter,
)
from test_themes_browser import LOW_CONTRAST, THEMES, WIDTHS

from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.jupyter.compare.difference import VIEW_PX

pytestmark = BROWSER_MARKS

OURS = "const ours = '"
assert OURS in LOW_CONTRAST
CONTRAST = LOW_CONTRAST.replace(OURS, OURS + ".xenodia-cv, ")

PROMPTS = ("A red lighthouse at dusk", "A blue lighthouse at dawn", "A green lighthouse in fog")

# Every button and picture of the view inside the view, and the view inside the window.
CLIPPED = """() => {
  const root = document.querySelector('.xenodia-cv');
  const box = root.getBoundingClientRect();
  const bad = [];
  if (box.right > window.innerWidth + 1) bad.push(`view ends at ${box.right} > ${window.innerWidth}`);
  for (const e of root.querySelectorAll('button, .xenodia-cv-stage')) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < box.left - 1 || r.right > box.right + 1) bad.push(`${e.className} ${r.left}-${r.right} outside ${box.left}-${box.right}`);
  }
  return bad;
}"""


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(latency=0.2, api_key=KEY) as emulator:
        yield emulator


def _notebook() -> nbformat.NotebookNode:
    cells = [
        "import xenodia_jupyter as xj\nfrom xenodia_jupyter.jupyter.compare import CompareView\n"
        f"client = xj.Client()\nresults = [client.generate(p, aspect_ratio='1:1', resolution='1K') for p in {PROMPTS!r}]",
        "view = CompareView(results)\nview",
    ]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


CASES = [(app, theme) for app in ("lab", "notebook") for theme in THEMES]


@pytest.fixture(params=CASES, ids=[f"{app}-{theme}" for app, theme in CASES])
def served(request: pytest.FixtureRequest, emu: Emulator, tmp_path: Path) -> Iterator[tuple[str, JupyterServer]]:
    app, theme = request.param
    root = tmp_path / "root"
    root.mkdir()
    nbformat.write(_notebook(), root / "compare.ipynb")
    env = {"XENODIA_API_KEY": KEY, "XENODIA_BASE_URL": emu.base_url, "XENODIA_OUTPUT_DIR": str(tmp_path / "out")}
    server = start_jupyter(app, root, tmp_path, env, theme=THEMES[theme])
    try:
        server.start_session("compare.ipynb")
        yield f"{app}-{theme}", server
    finally:
        server.stop()
        BUILD.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log, BUILD / f"compare-{app}-{theme}-{server.log.name}")


def _loaded(page: Any, selector: str, wider_than: int = 0) -> int:
    """Wait until the picture at `selector` is drawn (wider than `wider_than`); its width in pixels."""
    handle = page.locator(selector).element_handle()
    page.wait_for_function("([e, w]) => e.complete && e.naturalWidth > w", arg=[handle, wider_than])
    return int(page.evaluate("e => e.naturalWidth", handle))


def test_the_compare_view_clicked_and_keyed(served: tuple[str, JupyterServer]) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    name, server = served
    BUILD.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 800, "height": 1100})
        page.set_default_timeout(WAIT_MS)
        problems: list[str] = []
        try:
            page.goto(server.url("compare.ipynb"))
            view = run_all_cells(page, ".xenodia-cv")
            problems.clear()  # from here on the page must raise nothing
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            open_tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
            if open_tab.count():
                open_tab.first.click()
            _drive(page, view, name, expect)
            assert not problems, problems
        except BaseException:
            page.screenshot(path=str(BUILD / f"compare-{name}-failed.png"), full_page=True)
            raise
        finally:
            browser.close()


def _drive(page: Any, view: Any, name: str, expect: Any) -> None:
    # Side by side: the baseline and the second, at one size.
    assert _loaded(page, ".xenodia-cv-base") == VIEW_PX and _loaded(page, ".xenodia-cv-right") == VIEW_PX
    expect(view.locator(".xenodia-cv-name-left")).to_contain_text("Baseline #1 · A red lighthouse")
    expect(view.locator(".xenodia-cv-name-right")).to_contain_text("#2 · A blue lighthouse")
    stages = [s.bounding_box() for s in view.locator(".xenodia-cv-stage").all()]
    assert len(stages) == 2 and stages[0]["width"] == stages[1]["width"] and stages[0]["height"] == stages[1]["height"]

    # The wheel, once the view is clicked, zooms both pictures together (not past the preview here).
    view.locator(".xenodia-cv-names").click()
    box = view.locator(".xenodia-cv-main").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.wheel(0, -200)
    expect(view.locator(".xenodia-cv-zoom-level")).not_to_have_text("100%")
    left, right = (
        view.locator(s).evaluate("e => e.style.transform") for s in (".xenodia-cv-base", ".xenodia-cv-right")
    )
    assert left == right and "scale(1)" not in left, left
    view.locator(".xenodia-cv-zoom-reset").click()
    expect(view.locator(".xenodia-cv-zoom-level")).to_have_text("100%")

    # Pick #3 for the right side, pin it as the baseline, and back.
    left_name, right_name = view.locator(".xenodia-cv-name-left"), view.locator(".xenodia-cv-name-right")
    view.locator(".xenodia-cv-pick", has_text="#3").click()
    expect(right_name).to_contain_text("#3 · A green lighthouse")
    view.locator(".xenodia-cv-pin").click()
    expect(left_name).to_contain_text("Baseline #3 · A green lighthouse")
    expect(right_name).to_contain_text("#1 · A red lighthouse")
    view.locator(".xenodia-cv-pin").click()
    expect(left_name).to_contain_text("Baseline #1")
    view.locator(".xenodia-cv-pick", has_text="#2").click()
    expect(right_name).to_contain_text("#2 · A blue lighthouse")

    # Swipe: the divider follows the mouse.
    view.locator(".xenodia-cv-mode[data-mode='swipe']").click()
    divider = view.locator(".xenodia-cv-divider")
    expect(divider).to_be_visible()
    stage = view.locator(".xenodia-cv-main").bounding_box()
    handle = view.locator(".xenodia-cv-handle").bounding_box()
    start_x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    assert abs(start_x - (stage["x"] + stage["width"] / 2)) < 4  # in the middle to begin with
    page.mouse.move(start_x, y)
    page.mouse.down()
    page.mouse.move(start_x - stage["width"] * 0.15, y, steps=4)
    page.mouse.move(stage["x"] + stage["width"] * 0.25, y, steps=4)
    page.mouse.up()
    moved = divider.bounding_box()
    assert abs(moved["x"] - (stage["x"] + stage["width"] * 0.25)) < 6, (moved, stage)
    clip = view.locator(".xenodia-cv-clip").evaluate("e => e.style.clipPath")
    assert clip.startswith("inset(0px 0px 0px 2") or clip.startswith("inset(0 0 0 2"), clip

    # Keys, once the view has been clicked: F flips, F flips back, → steps the right side.
    view.locator(".xenodia-cv-names").click()
    page.keyboard.press("f")
    expect(view).to_have_attribute("data-mode", "flip")
    expect(view).to_have_class(re.compile(r"\bxenodia-cv-flipped\b"))
    expect(view.locator(".xenodia-cv-other")).to_be_visible()
    page.keyboard.press("F")
    expect(view.locator(".xenodia-cv-other")).to_be_hidden()
    page.keyboard.press("ArrowRight")
    expect(view.locator(".xenodia-cv-name-right")).to_contain_text("#3 · A green lighthouse")
    expect(view.locator(".xenodia-cv-position")).to_have_text("2 of 2")
    expect(view).not_to_have_class(re.compile(r"\bxenodia-cv-stale\b"))  # the new pair's pictures came
    page.keyboard.press("ArrowLeft")
    expect(view.locator(".xenodia-cv-name-right")).to_contain_text("#2 · A blue lighthouse")

    # The difference view, and zooming past the preview: a larger one is fetched.
    view.locator(".xenodia-cv-mode[data-mode='difference']").click()
    expect(view.locator(".xenodia-cv-diff")).to_be_visible()
    assert _loaded(page, ".xenodia-cv-diff") == VIEW_PX
    expect(view.locator(".xenodia-cv-note")).to_contain_text("mean difference")
    expect(view.locator(".xenodia-cv-legend")).to_be_visible()
    for _ in range(3):
        view.locator(".xenodia-cv-zoom-in").click()
    expect(view.locator(".xenodia-cv-zoom-level")).to_have_text("338%")
    assert _loaded(page, ".xenodia-cv-diff", VIEW_PX) == 1024  # the file's own 1024 px, not more
    assert _loaded(page, ".xenodia-cv-base", VIEW_PX) == 1024
    # A drag pans: both pictures move together.
    before = view.locator(".xenodia-cv-diff").evaluate("e => e.style.transform")
    box = view.locator(".xenodia-cv-main").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2 + 40, steps=5)
    page.mouse.up()
    after = view.locator(".xenodia-cv-diff").evaluate("e => e.style.transform")
    assert after != before
    assert view.locator(".xenodia-cv-base").evaluate("e => e.style.transform") == after
    _screenshots(page, view, name, "difference-zoomed")
    view.locator(".xenodia-cv-zoom-reset").click()
    view.locator(".xenodia-cv-mode[data-mode='swipe']").click()
    _screenshots(page, view, name, "swipe")
    view.locator(".xenodia-cv-mode[data-mode='side by side']").click()
    _screenshots(page, view, name, "side-by-side")


def _screenshots(page: Any, view: Any, name: str, mode: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1100})
        page.wait_for_timeout(400)  # let the layout settle
        view.scroll_into_view_if_needed()
        view.screenshot(path=str(BUILD / f"compare-{name}-{mode}-{width}px.png"))
        assert page.evaluate(CLIPPED) == [], (mode, width)
        low = page.evaluate(CONTRAST)
        assert low == [], f"{name} {mode} at {width}px:\n" + "\n".join(low)
    page.set_viewport_size({"width": 800, "height": 1100})
