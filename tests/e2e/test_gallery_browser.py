"""xj.gallery clicked in a real browser: Playwright drives Debian's Chromium
against JupyterLab 4 and Notebook 7, in the Light and Dark themes, on
loopback against the emulator.  A notebook makes 31 results (one a remix) and
shows them in a gallery of 12 cards a page; its kernel writes `g.selected`
to selected.json whenever the selection changes.  In the page: the cards'
thumbnails arrive, scrolling to the end draws the next page, typing in the search box filters the cards, a click and a
shift-click select and the kernel follows, Compare shows the selected ones,
"remix of …" leads to the parent, "More" draws the next page, the lightbox
opens with its larger picture, steps with → and closes on Esc, a star is written
to the journal; every text reads at 4.5:1; the saved notebook is small and
holds no picture.  Screenshots: build/browser/gallery-<app>-<theme>-*.png.

Never `playwright install`: the browser is /usr/bin/chromium (apt install chromium).
"""

from __future__ import annotations

import json
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
    check_saved_notebook,
    run_all_cells,
    start_jupyter,
    wait_for,
)
from test_themes_browser import LOW_CONTRAST

from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.store.outputs import OutputStore

pytestmark = BROWSER_MARKS

WIDTHS = (480, 800, 1400)
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
CASES = [(app, theme) for app in ("lab", "notebook") for theme in THEMES]
GALLERY = ".xenodia-gallery-widget"
CONTRAST = re.sub(r"const ours = '[^']*'", f"const ours = '{GALLERY}'", LOW_CONTRAST)
assert CONTRAST != LOW_CONTRAST

SUBJECTS = ["A lighthouse at dawn", "A fox in ink wash", "A red bicycle", "A heron in the reeds", "A city at night"]
CELLS = [
    "import json, pathlib\nimport xenodia_jupyter as xj",
    f"subjects = {SUBJECTS!r}\n"
    "made = xj.generate_many([f'{s}, study {n}' for n in range(6) for s in subjects], concurrency=4)\n"
    "child = xj.remix(made[0], prompt='The same lighthouse in deep snow')",
    "g = xj.Gallery([child, *made], page_size=12)\n"
    "def keep(change):  # whole or not at all: the test reads it meanwhile\n"
    "    pathlib.Path('selected.part').write_text(json.dumps([r.prompt for r in g.selected]))\n"
    "    pathlib.Path('selected.part').replace('selected.json')\n"
    "g.observe(keep, 'selection')\n"
    "g",
]

# The cards of the first row: how many, and whether together they fill the grid's width.
COLUMNS = """(selector) => {
  const grid = document.querySelector(selector + ' .xg-grid');
  const cards = [...grid.querySelectorAll('.xg-card')];
  const top = cards[0].getBoundingClientRect().top;
  const row = cards.filter(c => Math.abs(c.getBoundingClientRect().top - top) < 2);
  const box = grid.getBoundingClientRect();
  return {columns: row.length, gap: box.right - row[row.length - 1].getBoundingClientRect().right,
          width: box.width, right: box.right, window: window.innerWidth};
}"""


IN_VIEW = "e => { const r = e.getBoundingClientRect(); return r.bottom > 0 && r.top < window.innerHeight; }"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(latency=0.05, api_key=KEY) as emulator:
        yield emulator


@pytest.fixture(params=CASES, ids=[f"{app}-{theme}" for app, theme in CASES])
def served(request: pytest.FixtureRequest, emu: Emulator, tmp_path: Path) -> Iterator[tuple[str, JupyterServer]]:
    app, theme = request.param
    root = tmp_path / "root"
    root.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / "gallery.ipynb")
    env = {"XENODIA_API_KEY": KEY, "XENODIA_BASE_URL": emu.base_url, "XENODIA_OUTPUT_DIR": str(tmp_path / "out")}
    server = start_jupyter(app, root, tmp_path, env, theme=THEMES[theme])
    try:
        server.start_session("gallery.ipynb")
        yield f"{app}-{theme}", server
    finally:
        server.stop()
        BUILD.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log, BUILD / f"gallery-{app}-{theme}-{server.log.name}")


def test_search_select_more_lightbox_and_star_in_the_browser(
    served: tuple[str, JupyterServer], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    name, server = served
    expect.set_options(timeout=WAIT_MS)
    BUILD.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1300})
        page.set_default_timeout(WAIT_MS)
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        try:
            page.goto(server.url("gallery.ipynb"))
            run_all_cells(page, GALLERY)
            problems.clear()  # Notebook 7.6 itself raises on every page load; from here on nothing may
            _drive(page, expect, name, server, tmp_path)
            assert not problems, problems
        except BaseException:
            page.screenshot(path=str(BUILD / f"gallery-{name}-failed.png"), full_page=True)
            raise
        finally:
            browser.close()


def _drive(page: Any, expect: Any, name: str, server: JupyterServer, tmp_path: Path) -> None:
    gallery = page.locator(GALLERY)
    cards = gallery.locator(".xg-card")
    expect(cards).to_have_count(12)
    expect(gallery.locator(".xg-count")).to_contain_text("31 results · 0 selected")
    # Every card's thumbnail comes by message: a real JPEG drawn in its <img>.
    expect(gallery.locator(".xg-card.xg-waiting")).to_have_count(0)
    assert page.evaluate(f"() => [...document.querySelectorAll('{GALLERY} .xg-thumb img')].every(i => i.naturalWidth > 0)")
    expect(cards.first.locator(".xg-lineage")).to_contain_text("remix of “A lighthouse at dawn")

    # Scrolling to the end of the cards draws the next page (once per time it comes into view).
    page.set_viewport_size({"width": 1280, "height": 500})
    cards.first.scroll_into_view_if_needed()
    wait_for(lambda: not gallery.locator(".xg-end").evaluate(IN_VIEW), "the end of the grid out of sight")
    gallery.locator(".xg-end").scroll_into_view_if_needed()
    expect(cards).to_have_count(24)
    page.set_viewport_size({"width": 1280, "height": 1300})

    # Typing filters the cards; clearing the box brings them back.
    search = gallery.locator(".xg-search")
    search.fill("lighthouse")
    expect(cards).to_have_count(7)
    expect(gallery.locator(".xg-count")).to_contain_text("7 of 31 match")
    search.fill('"ink wash" study 3')
    expect(cards).to_have_count(1)
    expect(cards.first.locator(".xg-prompt")).to_have_text("A fox in ink wash, study 3")
    search.fill("")
    expect(cards).to_have_count(12)

    # A click selects, a shift-click selects the range; the kernel's g.selected follows.
    selected = server.root / "selected.json"
    cards.nth(1).locator(".xg-prompt").click()
    cards.nth(4).locator(".xg-prompt").click(modifiers=["Shift"])
    expect(gallery.locator(".xg-card.xg-selected")).to_have_count(4)
    expected = [f"{s}, study 0" for s in SUBJECTS[:4]]
    wait_for(lambda: selected.exists() and json.loads(selected.read_text()) == expected, "the kernel's selection")
    expect(gallery.locator(".xg-count")).to_contain_text("4 selected")
    cards.nth(2).locator(".xg-prompt").click()  # a click on a selected card unselects it
    wait_for(lambda: json.loads(selected.read_text()) == [expected[0], *expected[2:]], "one unselected")
    cards.nth(5).focus()
    page.keyboard.press("Space")  # the keyboard selects too
    wait_for(lambda: json.loads(selected.read_text()) == [expected[0], *expected[2:], "A city at night, study 0"], "Space")

    # With 3 selected, Compare shows them side by side below the cards.
    gallery.locator(".xg-compare").click()
    compare = page.locator(".xenodia-gallery-compare .xenodia-cv")
    expect(compare).to_be_visible()
    page.locator(".xenodia-gallery-compare-close").click()
    expect(compare).to_have_count(0)

    # "remix of …" on a card: its parent's card is scrolled to and flashes.
    cards.first.locator(".xg-lineage").click()
    expect(cards.nth(1)).to_have_class(re.compile("xg-flash"))

    # "More" draws the next page.
    more = gallery.locator(".xg-more")
    more.scroll_into_view_if_needed()
    expect(more).to_be_visible()
    before = cards.count()
    more.click()
    expect(cards).to_have_count(min(before + 12, 31))

    # The lightbox: the larger picture, → steps, Esc closes.
    cards.first.locator(".xg-open").click()
    lightbox = gallery.locator(".xg-lightbox")
    expect(lightbox).to_be_visible()
    expect(lightbox.locator(".xg-lightbox-prompt")).to_have_text("The same lighthouse in deep snow")
    expect(lightbox.locator(".xg-position")).to_have_text("1 of 31")
    big = lightbox.locator(".xg-lightbox-image")
    wait_for(lambda: big.evaluate("i => i.naturalWidth") == 1024, "the 1024 px preview")
    page.wait_for_timeout(300)  # let it paint
    lightbox.locator(".xg-lightbox-panel").screenshot(path=str(BUILD / f"gallery-{name}-lightbox.png"))
    lightbox.locator(".xg-lineage").click()  # in the lightbox, "remix of …" shows the parent there
    expect(lightbox.locator(".xg-lightbox-prompt")).to_have_text("A lighthouse at dawn, study 0")
    page.keyboard.press("ArrowRight")
    expect(lightbox.locator(".xg-position")).to_have_text("3 of 31")
    expect(lightbox.locator(".xg-lightbox-prompt")).to_have_text("A fox in ink wash, study 0")
    page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()

    # A star goes to the journal.
    cards.nth(3).locator(".xg-star").click()
    expect(cards.nth(3)).to_have_class(re.compile("xg-starred"))
    journal = OutputStore(tmp_path / "out").journal
    wait_for(
        lambda: {e.prompt: e.rating for e in journal.entries()}.get("A red bicycle, study 0") == 1, "the star"
    )

    # 480, 800 and 1400 px: the cards fill the width, two or more columns; every text reads.
    open_tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if open_tab.count():
        open_tab.first.click()  # the widths are the notebook's
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1300})
        page.wait_for_timeout(400)
        gallery.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(BUILD / f"gallery-{name}-{width}px.png"))
        layout = page.evaluate(COLUMNS, GALLERY)
        assert layout["columns"] >= 2, (width, layout)
        assert layout["gap"] < 8 + 2, (width, layout)  # the last column reaches the right edge
        assert layout["right"] <= layout["window"] + 1, (width, layout)
        low = page.evaluate(CONTRAST)
        assert low == [], f"{name} at {width}px:\n" + "\n".join(low)

    # Saved: small, no key, no picture in the widget state.
    saved = server.root / "gallery.ipynb"
    before_save = saved.stat().st_mtime_ns
    page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    wait_for(lambda: saved.stat().st_mtime_ns != before_save, "the notebook to be saved")
    check_saved_notebook(saved)
    text = saved.read_text()
    assert "/9j/" not in text and "data:image/jpeg" not in text
    assert "Gallery of 31 results; run the cell to browse" in text
