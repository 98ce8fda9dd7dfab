"""Run > Run All Cells, clicked in JupyterLab 4 and Notebook 7, on every notebook
in notebooks/ against the emulator: every cell must end with an execution
count, and no cell may fail unless it is tagged `raises-exception` (which the
front ends run past).  The front end sends every cell at once, so a magic that
drops the cells queued behind it shows up here as prompts stuck at `[*]`.

The notebooks are copied without their outputs, so a number in every prompt
means a fresh run; the result is then saved from the page and read back.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    JupyterServer,
    click_run_menu,
    start_jupyter,
    wait_for,
    wait_until_ready,
)

from xenodia_jupyter.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "browser"
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
KEY = "run-all-browser-secret-key-7e21"
# The notebook on screen (a page may hold hidden ones).
SHOWN = ".jp-NotebookPanel:visible"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(420),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(latency=0.5, api_key=KEY) as emulator:
        yield emulator


@pytest.fixture(scope="module", params=["lab", "notebook"])
def served(request: pytest.FixtureRequest, emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    home = tmp_path_factory.mktemp(f"run-all-{request.param}")
    root = home / "root"
    root.mkdir()
    for name in NOTEBOOKS:
        nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, root / f"{name}.ipynb")
    env = {"XENODIA_API_KEY": KEY, "XENODIA_BASE_URL": emu.base_url, "XENODIA_OUTPUT_DIR": str(home / "out")}
    server = start_jupyter(request.param, root, home, env)
    try:
        yield server
    finally:
        server.stop()
        BUILD.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log, BUILD / f"run-all-{server.log.name}")


@pytest.fixture(scope="module")
def browser(served: JupyterServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_run_all_from_the_menu_runs_every_cell(served: JupyterServer, browser: Any, notebook: str, emu: Emulator) -> None:
    path = f"{notebook}.ipynb"
    served.start_session(path)
    page = browser.new_page()
    page.set_default_timeout(120_000)
    try:
        # ?reset: JupyterLab opens this notebook alone, not the tabs of the earlier tests.
        page.goto(served.url(path) + ("&reset" if served.app == "lab" else ""))
        _run_all_from_the_menu(page, path)
        code_cells = sum(1 for c in nbformat.read(served.root / path, as_version=4).cells if c.cell_type == "code")
        prompts = page.locator(f"{SHOWN} .jp-CodeCell .jp-InputPrompt")
        assert prompts.count() == code_cells
        wait_for(lambda: all(re.search(r"\[\d+\]", t) for t in prompts.all_inner_texts()), "a number in every prompt", 240)

        saved = served.root / path
        before = saved.stat().st_mtime_ns
        page.locator(f"{SHOWN} .jp-Notebook").first.click(position={"x": 5, "y": 5})
        page.keyboard.press("Control+s")
        wait_for(lambda: saved.stat().st_mtime_ns != before, "the notebook to be saved", 60)
        time.sleep(0.5)  # the server writes the file in one go; give a partial write time to finish
        _check_every_cell_ran(saved)
    finally:
        BUILD.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(BUILD / f"run-all-{served.app}-{notebook}.png"), full_page=True)
        page.close()
        _stop_kernels(served)


def _run_all_from_the_menu(page: Any, path: str) -> None:
    """Run > Run All Cells once the page has attached the notebook to its kernel
    (see browser.wait_until_ready: clicked before, Run All skips every code
    cell after the first).  An attempt that still starts nothing reloads the
    page (it attaches to the same kernel) and clicks again, at most four times."""
    first = page.locator(f"{SHOWN} .jp-CodeCell .jp-InputPrompt").first
    for attempt in range(4):
        if attempt:
            page.reload()
        try:
            wait_until_ready(page, path)
            click_run_menu(page, "Run All Cells", first)
            first.filter(has_text=re.compile(r"\[(\*|\d+)\]")).wait_for(timeout=30_000)
            return
        except Exception:  # Playwright's TimeoutError or NotReady: this attempt ran nothing
            page.keyboard.press("Escape")
    raise AssertionError("Run All Cells never started the first cell")


def _check_every_cell_ran(path: Path) -> None:
    text = path.read_text()
    assert KEY not in text and "Bearer " not in text
    notebook = json.loads(text)
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        assert isinstance(cell["execution_count"], int), f"not run: {source}"
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        if "raises-exception" not in cell["metadata"].get("tags", []):
            assert not errors, f"{source}\n{errors}"
        text_out = json.dumps(cell["outputs"])
        for trouble in ("Exception in callback", "cannot enter context"):
            assert trouble not in text_out, source


def _stop_kernels(served: JupyterServer) -> None:
    headers = {"Authorization": f"token {served.token}"}
    for session in httpx.get(f"{served.base}/api/sessions", headers=headers, timeout=30).json():
        httpx.delete(f"{served.base}/api/sessions/{session['id']}", headers=headers, timeout=60)
