"""The panel's library features clicked in a real browser (JupyterLab 4 and
Notebook 7 against the emulator): the search box finds an older result in the
journal, Remix on its card fills the form, Generate makes a remix whose card
says "remix of …", that link opens the parent in the lightbox, the lightbox's
Remix fills the form again, and a dropped PNG of ours asks whether it is a
reference or a recipe.  Screenshots: build/browser/panel-library-<app>-*.png.
"""

from __future__ import annotations

import base64
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
    panel_notebook,
    run_all_cells,
)
from test_panel_browser import DISPATCH

from xenodia_jupyter import Client
from xenodia_jupyter.emulator import Emulator

pytestmark = BROWSER_MARKS


# Every button of a card lies inside its card (none cut off at either side).
CARD_BUTTONS_INSIDE = """() => {
  const bad = [];
  for (const card of document.querySelectorAll('.xenodia-card')) {
    const box = card.getBoundingClientRect();
    for (const b of card.querySelectorAll('button')) {
      const r = b.getBoundingClientRect();
      if (r.width && (r.left < box.left - 1 || r.right > box.right + 1)) bad.push(`${b.className} ${r.left}-${r.right}`);
    }
  }
  return bad;
}"""


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(latency=0.5, api_key=KEY) as emulator:
        yield emulator


@pytest.fixture
def served(request: pytest.FixtureRequest, emu: Emulator, tmp_path: Path) -> Iterator[JupyterServer]:
    # The library the panel will search: made before the notebook opens, in its output folder.
    with Client(api_key=KEY, base_url=emu.base_url, output_dir=tmp_path / "out") as client:
        client.generate("an old lighthouse from the library", aspect_ratio="16:9")
        client.generate("an old fox from the library")
    with panel_notebook(request.param, emu, tmp_path, "library-") as server:
        yield server


@pytest.mark.parametrize("served", ["lab", "notebook"], indirect=True)
def test_search_remix_lineage_and_drop_to_recipe_in_the_browser(
    served: JupyterServer, emu: Emulator, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    BUILD.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1100},
        )
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        try:
            _drive(page, served, emu, tmp_path, expect)
        finally:
            page.screenshot(path=str(BUILD / f"panel-library-{served.app}-last.png"))
            context.close()


def _drive(page: Any, served: JupyterServer, emu: Emulator, tmp_path: Path, expect: Any) -> None:
    app = served.app
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(served.url("panel.ipynb"))
    panel = run_all_cells(page)
    problems.clear()

    # Search the library: Enter in the box.
    box = page.locator(".xenodia-search input")
    box.fill("lighthouse")
    box.press("Enter")
    cards = page.locator(".xenodia-card")
    expect(cards).to_have_count(1)
    expect(cards.first.locator(".xenodia-thumb img")).to_have_attribute("title", "an old lighthouse from the library")

    # Remix from the card: the form takes its recipe.
    cards.first.locator(".xenodia-remix").click()
    prompt = page.locator(".xenodia-prompt textarea")
    expect(prompt).to_have_value("an old lighthouse from the library")
    expect(page.locator(".xenodia-remix-note")).to_contain_text("Remixing")
    expect(page.locator(".xenodia-aspect select")).to_have_value("16:9")
    prompt.fill("the old lighthouse, remixed at night")
    page.locator(".xenodia-generate").click()
    expect(cards).to_have_count(2)
    lineage = page.locator(".xenodia-lineage")
    expect(lineage).to_have_count(1)
    expect(lineage).to_contain_text("remix of an old lighthouse")
    assert emu.last_generation is not None and emu.last_generation["fields"]["prompt"].endswith("remixed at night")
    expect(page.locator(".xenodia-drop-as-recipe")).to_be_hidden()  # nothing was dropped
    open_tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if open_tab.count():  # the widths are the notebook's
        open_tab.first.click()
    for width in (480, 800, 1400):
        page.set_viewport_size({"width": width, "height": 1100})
        page.wait_for_timeout(400)
        panel.screenshot(path=str(BUILD / f"panel-library-{app}-{width}px.png"))
        boxes = [c.bounding_box() for c in cards.all()]
        assert len({round(b["y"]) for b in boxes}) == 1, (width, boxes)  # two cards side by side, even at 480 px
        buttons = page.locator(".xenodia-card button").all()
        inside = page.evaluate(CARD_BUTTONS_INSIDE)
        assert inside == [], (width, inside, len(buttons))
    page.set_viewport_size({"width": 1280, "height": 1100})

    # "remix of …" opens the parent in the lightbox; its Remix fills the form again.
    lineage.click()
    lightbox = page.locator(".xenodia-lightbox")
    expect(lightbox).to_be_visible()
    expect(page.locator(".xenodia-lightbox-caption")).to_contain_text("an old lighthouse from the library")
    prompt.evaluate("e => { e.value = ''; e.dispatchEvent(new Event('input', {bubbles: true})); }")
    page.locator(".xenodia-lightbox-remix").click()
    expect(prompt).to_have_value("an old lighthouse from the library")
    page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()

    # A PNG of ours dropped on the drop zone: reference or recipe?
    made = sorted((tmp_path / "out").glob("*old-fox*.png"))[0]
    payload = [[made.name, "image/png", base64.b64encode(made.read_bytes()).decode()]]
    page.evaluate(DISPATCH, [".xenodia-dropzone", payload, "drop"])
    expect(page.locator(".xenodia-recipe-question")).to_contain_text("use it as a reference, or load how it was made")
    panel.screenshot(path=str(BUILD / f"panel-library-{app}-dropped.png"))
    page.locator(".xenodia-drop-as-recipe").click()
    expect(prompt).to_have_value("an old fox from the library")
    page.evaluate(DISPATCH, [".xenodia-dropzone", payload, "drop"])
    page.locator(".xenodia-drop-as-reference").click()
    expect(page.locator(".xenodia-ref")).to_have_count(1)
    assert not problems, problems
