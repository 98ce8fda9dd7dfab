"""The panel clicked in a real browser: Playwright drives Debian's Chromium
against JupyterLab 4 and Notebook 7, both started here on loopback against
the emulator.  Open the panel notebook, type a prompt, upload a reference
through the file chooser, Generate, see the progress and then a thumbnail,
"use as reference", Generate again; save the notebook and check that it
holds no key and stays small.  Then: the panel at 480, 800 and 1400 px with
nothing clipped (screenshots build/browser/panel-<app>-<width>px.png), and
real drop and paste events that make reference chips sent as multipart parts.

Screenshots go to build/.  `XENODIA_UPDATE_SCREENSHOT=1` also refreshes
notebooks/panel-screenshot.png (the README's picture) from the JupyterLab run.

Never `playwright install`: the browser is /usr/bin/chromium (apt install chromium).
"""

from __future__ import annotations

import io
import os
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
    ROOT,
    WAIT_MS,
    JupyterServer,
    check_saved_notebook,
    panel_notebook,
    run_all_cells,
    wait_for,
)

from xenodia_jupyter.emulator import Emulator

pytestmark = BROWSER_MARKS


# Fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    # A few seconds per task, so the progress bar has something to show.
    with Emulator(latency=4.0, api_key=KEY) as emulator:
        yield emulator


@pytest.fixture
def served(request: pytest.FixtureRequest, emu: Emulator, tmp_path: Path) -> Iterator[JupyterServer]:
    with panel_notebook(request.param, emu, tmp_path, "") as server:
        yield server


def _reference_png(path: Path) -> Path:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 240), (250, 236, 200))
    ImageDraw.Draw(image).rectangle((40, 60, 280, 180), fill=(200, 40, 40))
    image.save(path)
    return path


# The test ---------------------------------------------------------------------------------------------

# Records every text the job rows ever showed, so the progress is seen however fast it goes.
WATCH_PROGRESS = """() => {
  window.__xenodiaSeen = [];
  const record = () => document.querySelectorAll('.xenodia-job-state').forEach(
    e => window.__xenodiaSeen.push(e.textContent));
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


@pytest.mark.parametrize("served", ["lab", "notebook"], indirect=True)
def test_generate_use_as_reference_and_generate_again_in_the_browser(
    served: JupyterServer, emu: Emulator, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    emu.reset()
    BUILD.mkdir(parents=True, exist_ok=True)
    reference = _reference_png(tmp_path / "sketch.png")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile for every run
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1100},
        )
        try:
            _drive(context.new_page(), served, emu, reference, expect)
        finally:
            context.close()


def _drive(page: Any, served: JupyterServer, emu: Emulator, reference: Path, expect: Any) -> None:
    app = served.app
    page.set_default_timeout(WAIT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"{exc}\n{exc.stack}"))
    try:
        page.goto(served.url("panel.ipynb"))
        panel = run_all_cells(page)
        # From here on the page must raise nothing.  (Before: Notebook 7.6 itself raises
        # "Cannot read properties of undefined (reading 'schema')" on every page load.)
        problems.clear()
        expect(page.locator(".xenodia-price")).to_contain_text("$0.07")
        # The notebook's `sketch` (made after the panel) is offered in the variable picker.
        expect(page.locator(".xenodia-ns-picker select")).to_contain_text("sketch")

        # A prompt, and a reference through the file chooser.
        page.locator(".xenodia-prompt textarea").fill("A lighthouse at dawn, watercolour")
        with page.expect_file_chooser() as chooser:
            page.locator(".xenodia-upload").click()
        chooser.value.set_files(str(reference))
        expect(page.locator(".xenodia-ref")).to_have_count(1)
        expect(page.locator(".xenodia-ref-count")).to_contain_text("1 / 16")

        # Generate: a job row with its progress, then a thumbnail in the gallery.
        page.evaluate(WATCH_PROGRESS)
        page.locator(".xenodia-generate").click()
        page.locator(".xenodia-job .xenodia-job-progress").wait_for()
        page.locator(".xenodia-job-state").filter(has_text="%").first.wait_for()
        panel.screenshot(path=str(BUILD / f"panel-{app}-progress.png"))
        thumbs = page.locator(".xenodia-card .xenodia-thumb img")
        expect(thumbs).to_have_count(1)
        expect(thumbs.first).to_have_attribute("title", "A lighthouse at dawn, watercolour")
        expect(page.locator(".xenodia-job")).to_have_count(0)
        seen = page.evaluate("window.__xenodiaSeen")
        assert any("generating" in s and "%" in s for s in seen), seen
        assert emu.last_generation is not None and emu.last_generation["files"][0]["filename"] == "sketch.png"

        # Use the result as a reference and generate again.
        page.locator(".xenodia-use-ref").first.click()
        expect(page.locator(".xenodia-ref")).to_have_count(2)
        expect(page.locator(".xenodia-ref-count")).to_contain_text("2 / 16")
        page.locator(".xenodia-prompt textarea").fill("The same lighthouse at night")
        page.locator(".xenodia-generate").click()
        expect(thumbs).to_have_count(2)
        expect(thumbs.first).to_have_attribute("title", "The same lighthouse at night")  # newest first
        expect(page.locator(".xenodia-price")).to_contain_text("spent this session: $0.14")
        assert emu.stats.billed_calls == 2
        assert len(emu.last_generation["files"]) == 2
        page.wait_for_timeout(500)  # let the last thumbnails paint
        shot = BUILD / f"panel-{app}.png"
        panel.screenshot(path=str(shot))
        page.screenshot(path=str(BUILD / f"page-{app}.png"))
        if app == "lab" and os.environ.get("XENODIA_UPDATE_SCREENSHOT"):
            _write_readme_screenshot(shot, ROOT / "notebooks" / "panel-screenshot.png")

        # Save (widget state included) and check what landed on disk.
        saved = served.root / "panel.ipynb"
        before = saved.stat().st_mtime_ns
        page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
        page.keyboard.press("Control+s")
        wait_for(lambda: saved.stat().st_mtime_ns != before, "the notebook to be saved")
        check_saved_notebook(saved)
        assert not problems, problems
    finally:
        page.screenshot(path=str(BUILD / f"last-{app}.png"))


# Fits any width -----------------------------------------------------------------------------------

WIDTHS = (480, 800, 1400)

# Every visible control and card of the panel must lie inside the panel, and the panel inside the window.
CLIPPED = """() => {
  const panel = document.querySelector('.xenodia-panel');
  const box = panel.getBoundingClientRect();
  const bad = [];
  if (box.right > window.innerWidth + 1) bad.push(`panel ends at ${box.right} > ${window.innerWidth}`);
  const parts = panel.querySelectorAll('select, button, textarea, input[type=text], .xenodia-card, .xenodia-thumb img');
  for (const e of parts) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;  // not shown
    if (r.left < box.left - 1 || r.right > box.right + 1)
      bad.push(`${e.tagName}.${e.className} ${r.left}-${r.right} outside ${box.left}-${box.right}`);
    if (e.tagName === 'SELECT' && r.width < 60) bad.push(`${e.className}: a select squeezed to ${r.width}px`);
  }
  return bad;
}"""


@pytest.mark.parametrize("served", ["lab", "notebook"], indirect=True)
def test_the_panel_fits_480_800_and_1400_px_without_clipping(
    served: JupyterServer, emu: Emulator, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    emu.reset()
    BUILD.mkdir(parents=True, exist_ok=True)
    app = served.app
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1100},
        )
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        try:
            page.goto(served.url("panel.ipynb"))
            panel = run_all_cells(page)
            # The widths are the notebook's: JupyterLab's file browser is closed first.
            open_tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
            if open_tab.count():
                open_tab.first.click()
            page.locator(".xenodia-prompt textarea").fill("A narrow lighthouse")
            page.locator(".xenodia-generate").click()
            expect(page.locator(".xenodia-card .xenodia-thumb img")).to_have_count(1)
            page.locator(".xenodia-prompt textarea").fill("A second lighthouse")
            page.locator(".xenodia-generate").click()
            expect(page.locator(".xenodia-card .xenodia-thumb img")).to_have_count(2)
            upload = page.locator(".xenodia-upload")
            # The view's own text ("Upload (0)") is drawn at size 0; the label comes from the CSS.
            shown = upload.evaluate("e => [getComputedStyle(e).fontSize, getComputedStyle(e, '::after').content]")
            assert shown == ["0px", '"Upload"'], shown
            assert upload.bounding_box()["width"] > 40  # the label is drawn without the count
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 1100})
                page.wait_for_timeout(400)  # let the layout settle
                panel.scroll_into_view_if_needed()
                panel.screenshot(path=str(BUILD / f"panel-{app}-{width}px.png"))
                assert page.evaluate(CLIPPED) == [], width
                aspect = page.locator(".xenodia-aspect select").bounding_box()
                generate = page.locator(".xenodia-generate").bounding_box()
                if width == 480:  # the controls go on two lines
                    assert generate["y"] > aspect["y"] + aspect["height"] - 1
                if width == 1400:  # and on one when there is room
                    assert abs(generate["y"] - aspect["y"]) < aspect["height"]
                cards = page.locator(".xenodia-card").all()
                boxes = [c.bounding_box() for c in cards]
                assert len({round(b["width"]) for b in boxes}) == 1  # fixed-size cards that reflow
            _curate(page, panel, app, expect)
        finally:
            page.screenshot(path=str(BUILD / f"last-width-{app}.png"))
            context.close()


def _curate(page: Any, panel: Any, app: str, expect: Any) -> None:
    """Star, the filter, the lightbox and the compare strip, clicked in the browser."""
    page.set_viewport_size({"width": 800, "height": 1100})
    cards = page.locator(".xenodia-card")
    cards.nth(1).locator(".xenodia-star").click()
    expect(page.locator(".xenodia-card.xenodia-starred")).to_have_count(1)
    expect(cards.nth(1).locator(".xenodia-star i")).to_have_class("fa fa-star")
    page.locator(".xenodia-filter button", has_text="starred").first.click()
    expect(page.locator(".xenodia-card:visible")).to_have_count(1)
    page.locator(".xenodia-filter button", has_text="all").first.click()
    expect(page.locator(".xenodia-card:visible")).to_have_count(2)

    first_card = cards.first.bounding_box()
    page.locator(".xenodia-card .xenodia-thumb img").first.click()  # the newest
    caption = page.locator(".xenodia-lightbox-caption")
    expect(caption).to_contain_text("1 of 2")
    # An overlay over the panel: the gallery stays where it was, under it.
    assert cards.first.bounding_box() == first_card
    box, whole = page.locator(".xenodia-lightbox").bounding_box(), panel.bounding_box()
    assert abs(box["y"] - whole["y"]) <= 2 and abs(box["height"] - whole["height"]) <= 4, (box, whole)  # inside the border
    page.keyboard.press("ArrowRight")
    expect(caption).to_contain_text("2 of 2")
    page.keyboard.press("ArrowLeft")
    expect(caption).to_contain_text("1 of 2")
    page.keyboard.press("Escape")
    expect(page.locator(".xenodia-lightbox")).to_be_hidden()
    page.locator(".xenodia-card .xenodia-thumb img").first.click()
    expect(caption).to_contain_text("1 of 2")
    box = page.locator(".xenodia-lightbox").bounding_box()  # where it is now (the page may have scrolled)
    page.mouse.click(box["x"] + 4, box["y"] + 4)  # the backdrop (its padding), outside the picture and words
    expect(page.locator(".xenodia-lightbox")).to_be_hidden()
    page.locator(".xenodia-card .xenodia-thumb img").first.click()
    expect(caption).to_contain_text("A second lighthouse")
    expect(caption).to_contain_text("1 of 2")
    expect(caption).to_contain_text("task id")
    page.locator(".xenodia-lightbox-next").click()
    expect(caption).to_contain_text("A narrow lighthouse")
    picture = page.locator(".xenodia-lightbox-image")
    page.wait_for_function("e => e.naturalWidth > 128", arg=picture.element_handle())  # the preview, not the thumbnail
    assert page.evaluate("e => e.naturalWidth", picture.element_handle()) <= 1024
    panel.screenshot(path=str(BUILD / f"panel-{app}-lightbox.png"))
    page.locator(".xenodia-lightbox-close").click()
    expect(page.locator(".xenodia-lightbox")).to_be_hidden()

    for i in range(2):
        cards.nth(i).locator(".xenodia-compare-pick").click()
    compare = page.locator(".xenodia-compare .xenodia-cv")  # the compare view (tests/e2e/test_compare_browser.py)
    expect(compare).to_be_visible()
    expect(page.locator(".xenodia-compare-table")).to_contain_text("prompt")
    pictures = compare.locator("img.xenodia-cv-base, img.xenodia-cv-right")
    expect(pictures).to_have_count(2)
    for i in range(2):  # made in the background: measure them once they are drawn
        page.wait_for_function("e => e.complete && e.naturalWidth > 0", arg=pictures.nth(i).element_handle())
    sizes = {
        (round(b["width"]), round(b["height"]))
        for b in (e.bounding_box() for e in compare.locator(".xenodia-cv-stage").all())
    }
    assert len(sizes) == 1, sizes  # side by side at the same size
    compare.locator(".xenodia-cv-mode[data-mode='swipe']").click()
    expect(compare.locator(".xenodia-cv-divider")).to_be_visible()
    panel.screenshot(path=str(BUILD / f"panel-{app}-compare.png"))
    page.set_viewport_size({"width": 480, "height": 1100})
    page.wait_for_timeout(400)
    assert page.evaluate(CLIPPED) == []


# Drop and paste ------------------------------------------------------------------------------------

# A real drop (dragover, drop) or paste event carrying a DataTransfer with File objects.
DISPATCH = """([selector, files, kind]) => {
  const data = new DataTransfer();
  for (const [name, type, b64] of files) {
    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    data.items.add(new File([bytes], name, { type }));
  }
  const target = document.querySelector(selector);
  const options = { bubbles: true, cancelable: true };
  if (kind === "drop") {
    target.dispatchEvent(new DragEvent("dragover", { ...options, dataTransfer: data }));
    target.dispatchEvent(new DragEvent("drop", { ...options, dataTransfer: data }));
  } else {
    target.focus();
    target.dispatchEvent(new ClipboardEvent("paste", { ...options, clipboardData: data }));
  }
}"""


def _image_bytes(kind: str, colour: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), colour).save(buffer, kind)
    return buffer.getvalue()


@pytest.mark.parametrize("served", ["lab", "notebook"], indirect=True)
def test_dropped_and_pasted_images_become_references_in_the_browser(
    served: JupyterServer, emu: Emulator, tmp_path: Path
) -> None:
    import base64

    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    emu.reset()
    BUILD.mkdir(parents=True, exist_ok=True)
    app = served.app
    files = {
        "dropped.png": ("image/png", _image_bytes("PNG", (200, 30, 30))),
        "dropped.jpg": ("image/jpeg", _image_bytes("JPEG", (30, 200, 30))),
        "old.gif": ("image/gif", _image_bytes("GIF", (30, 30, 200))),
        "image.png": ("image/png", _image_bytes("PNG", (240, 200, 10))),  # what a pasted screenshot is called
    }

    def payload(*names: str) -> list[list[str]]:
        return [[name, files[name][0], base64.b64encode(files[name][1]).decode()] for name in names]

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1100},
        )
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        try:
            page.goto(served.url("panel.ipynb"))
            panel = run_all_cells(page)
            problems.clear()
            zone = page.locator(".xenodia-dropzone")
            zone.wait_for()
            page.evaluate(DISPATCH, [".xenodia-dropzone", payload("dropped.png", "dropped.jpg"), "drop"])
            expect(page.locator(".xenodia-ref")).to_have_count(2)
            page.evaluate(DISPATCH, [".xenodia-dropzone", payload("old.gif"), "drop"])
            expect(page.locator(".xenodia-message")).to_contain_text("old.gif: it is a GIF")
            page.evaluate(DISPATCH, [".xenodia-dropzone", payload("image.png"), "paste"])
            expect(page.locator(".xenodia-ref")).to_have_count(3)
            expect(page.locator(".xenodia-ref-count")).to_contain_text("3 / 16")
            page.locator(".xenodia-prompt textarea").fill("From dropped and pasted references")
            page.locator(".xenodia-generate").click()
            expect(page.locator(".xenodia-card .xenodia-thumb img")).to_have_count(1)
            sent = emu.last_generation
            assert sent is not None and sent["transport"] == "multipart"
            assert [f["filename"] for f in sent["files"]] == ["dropped.png", "dropped.jpg", "image.png"]
            assert [f["mime_sniffed"] for f in sent["files"]] == ["image/png", "image/jpeg", "image/png"]
            panel.screenshot(path=str(BUILD / f"panel-{app}-dropped.png"))

            saved = served.root / "panel.ipynb"
            before = saved.stat().st_mtime_ns
            page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
            page.keyboard.press("Control+s")
            wait_for(lambda: saved.stat().st_mtime_ns != before, "the notebook to be saved")
            check_saved_notebook(saved)
            text = saved.read_text()
            for _kind, data in files.values():  # no dropped bytes, in any spelling the state could use
                assert base64.b64encode(data).decode()[:40] not in text
            assert not problems, problems
        finally:
            page.screenshot(path=str(BUILD / f"last-drop-{app}.png"))
            context.close()


def _write_readme_screenshot(source: Path, target: Path, limit: int = 200_000) -> None:
    """The README's picture: the panel screenshot, palette-reduced to stay small."""
    from PIL import Image

    with Image.open(source) as image:
        image.load()
    for colours in (256, 128, 64):
        buffer = io.BytesIO()
        image.convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT).save(buffer, "PNG", optimize=True)
        if buffer.tell() < limit:
            target.write_bytes(buffer.getvalue())
            return
    raise AssertionError(f"the screenshot stays over {limit:,} bytes")
