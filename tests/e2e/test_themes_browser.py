"""Light and dark, as a person sees them: JupyterLab 4 and Notebook 7 in the
Light and Dark themes, in Debian's Chromium, with every kind of output we draw on screen at
once (a result preview, a sweep grid, the history table, a background job's
progress line and its error box, the panel).  Every text we draw must read at
a contrast of at least 4.5:1 against what is behind it, computed from the
rendered colours; screenshots at 480, 800 and 1400 px go to build/browser/.

Never `playwright install`: the browser is /usr/bin/chromium.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from browser import BROWSER_MARKS, BUILD, CHROMIUM, CHROMIUM_ARGS, KEY, JupyterServer, run_all_cells, start_jupyter

from xenodia_jupyter.emulator import Emulator

WIDTHS = (480, 800, 1400)
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}

pytestmark = BROWSER_MARKS

# Each element we draw that holds text: its colour, the first opaque background
# behind it, and their contrast ratio (WCAG 2), for those under 4.5:1.
LOW_CONTRAST = """() => {
  // rgb(r, g, b[, a]) with 0..255, or color(srgb r g b[ / a]) with 0..1 (what color-mix() computes to)
  const rgba = (c) => {
    const v = (c.match(/[\\d.]+/g) || []).map(Number);
    return c.startsWith('color(') ? [...v.slice(0, 3).map(x => x * 255), ...v.slice(3)] : v;
  };
  const lum = (c) => {
    const [r, g, b] = rgba(c).slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const opaque = (c) => { const v = rgba(c); return v.length < 4 || v[3] > 0.5; };
  const behind = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor;
      if (c && opaque(c) && !c.startsWith('rgba(0, 0, 0, 0')) return c;
    }
    return getComputedStyle(document.body).backgroundColor;
  };
  const ours = '.xenodia-panel, .xenodia-result, .xenodia-sweep, .xenodia-progress, .xenodia-error-text, .xenodia-history';
  const low = [];
  for (const root of document.querySelectorAll(ours)) {
    for (const el of [root, ...root.querySelectorAll('*')]) {
      const text = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent.trim()).join(' ').trim();
      if (!text || el.closest('button:disabled, select:disabled, input:disabled, .jupyter-button:disabled')) continue;
      const style = getComputedStyle(el);
      if (style.visibility === 'hidden' || style.display === 'none' || !el.getClientRects().length) continue;
      const fg = style.color, bg = behind(el);
      const [a, b] = [lum(fg), lum(bg)];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < 4.5) low.push(`${ratio.toFixed(2)}:1 ${fg} on ${bg}: "${text.slice(0, 50)}" (${el.className || el.tagName})`);
    }
  }
  return low;
}"""


@pytest.fixture(scope="module")
def emulators() -> Iterator[tuple[Emulator, Emulator]]:
    with Emulator(latency=0.5, api_key=KEY) as quick, Emulator(latency=0.5, api_key=KEY) as stuck:
        yield quick, stuck


def _notebook(stuck_url: str) -> nbformat.NotebookNode:
    cells = [
        "%load_ext xenodia_jupyter",
        "%%xenodia -o ok\nA lighthouse at dusk with a very long prompt that has to wrap inside its caption",
        "import xenodia_jupyter as xj\nxj.sweep('A {animal} in watercolour', animal=['fox', 'owl'])",
        "%xenodia history",
        "xj.panel()",
        # A second API from here on: its first POST is refused (an error box), its tasks never end (a progress line).
        f"import os\nos.environ['XENODIA_BASE_URL'] = {stuck_url!r}",
        "%%xenodia --background\nRefused in the background",
        "%%xenodia --background --timeout 600\nStill running",
    ]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


CASES = [(app, theme) for app in ("lab", "notebook") for theme in THEMES]


@pytest.fixture(params=CASES, ids=[f"{app}-{theme}" for app, theme in CASES])
def served(request: pytest.FixtureRequest, emulators: tuple[Emulator, Emulator], tmp_path: Path) -> Iterator[tuple[str, JupyterServer]]:
    app, theme = request.param
    quick, stuck = emulators
    stuck.reset()
    stuck.inject("generate", "status", status=402)
    stuck.next_task("stuck", count=5)
    root = tmp_path / "root"
    root.mkdir()
    nbformat.write(_notebook(stuck.base_url), root / "themes.ipynb")
    env = {"XENODIA_API_KEY": KEY, "XENODIA_BASE_URL": quick.base_url, "XENODIA_OUTPUT_DIR": str(tmp_path / "out")}
    server = start_jupyter(app, root, tmp_path, env, theme=THEMES[theme])
    try:
        server.start_session("themes.ipynb")
        yield f"{app}-{theme}", server
    finally:
        server.stop()
        BUILD.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log, BUILD / f"themes-{app}-{theme}-{server.log.name}")


def test_every_text_we_draw_reads_in_light_and_dark(served: tuple[str, JupyterServer]) -> None:
    from playwright.sync_api import expect, sync_playwright

    theme, server = served
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.set_default_timeout(120_000)
        try:
            page.goto(server.url("themes.ipynb"))
            run_all_cells(page)
            # The widths are the notebook's: JupyterLab's file browser is closed first.
            open_tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
            if open_tab.count():
                open_tab.first.click()
            dark = page.evaluate("() => document.body.dataset.jpThemeLight") == "false"
            assert dark == theme.endswith("dark"), "the theme asked for is the one on screen"
            for selector in (".xenodia-result img", ".xenodia-sweep", ".xenodia-history", ".xenodia-progress",
                             ".xenodia-error-text", ".xenodia-panel"):
                expect(page.locator(selector).first).to_be_visible()
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 1400})
                page.wait_for_timeout(400)
                page.screenshot(path=str(BUILD / f"themes-{theme}-{width}px.png"))
                for name, selector in (("panel", ".xenodia-panel"), ("background", ".xenodia-error-text")):
                    part = page.locator(selector).first
                    part.scroll_into_view_if_needed()
                    # the output that holds it: the error box with the progress line of the next cell
                    part.locator("xpath=ancestor::div[contains(@class, 'jp-Cell')][1]").screenshot(
                        path=str(BUILD / f"themes-{theme}-{width}px-{name}.png")
                    )
                low = page.evaluate(LOW_CONTRAST)
                assert low == [], f"{theme} at {width}px:\n" + "\n".join(low)
        except BaseException:
            page.screenshot(path=str(BUILD / f"themes-{theme}-failed.png"), full_page=True)
            raise
        finally:
            browser.close()
