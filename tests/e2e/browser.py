"""JupyterLab 4 and Notebook 7 on loopback, Debian's Chromium to drive them,
and the helpers the browser tests share (Run All once the kernel is really
attached, checking a saved notebook).

Each server runs in its own process group with its own config, data, runtime
and settings folders (nothing from the developer's).  Never `playwright
install`: the browser is /usr/bin/chromium (apt install chromium).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


# A Jupyter server on loopback ------------------------------------------------------------------


@dataclass
class JupyterServer:
    """`jupyter lab` or `jupyter notebook` in its own process group, with its own
    config, data, runtime and settings folders (nothing from the developer's)."""

    app: str
    root: Path
    port: int
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, notebook: str) -> str:
        path = f"lab/tree/{notebook}" if self.app == "lab" else f"notebooks/{notebook}"
        return f"{self.base}/{path}?token={self.token}"

    def start_session(self, notebook: str) -> None:
        """Start the notebook's kernel before the page opens, so the page attaches to
        a kernel that is already up (a page that starts it itself can race the server)."""
        body = {"path": notebook, "type": "notebook", "name": notebook, "kernel": {"name": "python3"}}
        answer = httpx.post(
            f"{self.base}/api/sessions", json=body, headers={"Authorization": f"token {self.token}"}, timeout=120
        )
        answer.raise_for_status()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                httpx.post(f"{self.base}/api/shutdown", headers={"Authorization": f"token {self.token}"}, timeout=10)
                self.process.wait(timeout=30)
            except (httpx.HTTPError, subprocess.TimeoutExpired):
                pass
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_jupyter(
    app: str, root: Path, home: Path, env: dict[str, str], timeout: float = 120, theme: str | None = None
) -> JupyterServer:
    """Start `app` ("lab" or "notebook") on 127.0.0.1 and wait until it answers;
    `theme` ("JupyterLab Dark") is set in the user settings."""
    settings = home / "settings"
    wanted: dict[str, dict[str, Any]] = {
        "@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True},
        # Every cell in the DOM (no windowing), so that a test can read every prompt.
        "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True, "windowingMode": "none"},
    }
    if app == "lab":  # Notebook 7 has no such plugin (a settings file for it breaks its page)
        wanted["@jupyterlab/apputils-extension/notification"] = {"fetchNews": "false", "checkForUpdates": False}
    if theme is not None:
        wanted["@jupyterlab/apputils-extension/themes"] = {"theme": theme}
    for plugin, values in wanted.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {
        **os.environ,
        **env,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyterlab" if app == "lab" else "notebook",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_root=True",
        "--ServerApp.terminals_enabled=False",
    ]
    # window.jupyterapp, so that a test can ask the page whether its kernel is attached (see wait_until_ready).
    command.append(f"--{'LabApp' if app == 'lab' else 'JupyterNotebookApp'}.expose_app_in_browser=True")
    if app == "lab":
        command.append("--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")
    log = home / f"jupyter-{app}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = JupyterServer(app, root, port, token, process, log)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter {app} exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.base}/api/status", params={"token": token}, timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"jupyter {app} did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


# The panel notebook, served ------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "browser"
WAIT_MS = 120_000  # generous: the machine is shared and slow
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install chromium)"),
]


@contextmanager
def panel_notebook(app: str, emu: Any, tmp_path: Path, log_prefix: str = "") -> Iterator[JupyterServer]:
    """notebooks/panel.ipynb served by `app` ("lab" or "notebook") against `emu`,
    its kernel started; the server's log is copied to build/browser/ afterwards."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "panel.ipynb", root / "panel.ipynb")
    env = {"XENODIA_API_KEY": KEY, "XENODIA_BASE_URL": emu.base_url, "XENODIA_OUTPUT_DIR": str(tmp_path / "out")}
    server = start_jupyter(app, root, tmp_path, env)
    try:
        server.start_session("panel.ipynb")
        yield server
    finally:
        server.stop()
        BUILD.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log, BUILD / f"{log_prefix}{server.log.name}")  # for a look after a failure


# Run All, once the page is ready for it -------------------------------------------------------

# The key the panel tests give the kernel: a saved notebook must never hold it.
KEY = "browser-test-secret-key-51d0aa"

# What stands between the page and a Run All that runs every cell: "ready" or the reason.
#
# Run All clicked before the page has attached its notebook to a kernel drops cells: the
# first code cell finds no kernel and starts one (a new session, which replaces the kernel
# the test started); the cells after it are sent while that start is pending, find no
# kernel to run on, and are skipped without a word (blank prompts: only the first cell
# runs).  The toolbar's execution indicator cannot tell: it reads "idle" before any kernel
# is attached.  So ask the page itself (window.jupyterapp, see expose_app_in_browser above).
NOTEBOOK_STATE = """(path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return 'the application has not started';
  const panels = Array.from(app.shell.widgets('main')).filter(w => w.sessionContext && w.content && w.context);
  const panel = panels.find(w => path ? w.context.path === path : w.isVisible);
  if (!panel) return 'no notebook on screen';
  if (!panel.context.isReady) return 'the notebook is loading';
  const cells = panel.content.model ? panel.content.model.cells.length : 0;
  if (!cells || panel.content.widgets.length !== cells) return `${panel.content.widgets.length} of ${cells} cells made`;
  const shown = panel.node.querySelectorAll('.jp-Cell').length;
  if (shown !== cells) return `${shown} of ${cells} cells in the page`;
  const session = panel.sessionContext;
  const kernel = session.session && session.session.kernel;
  if (!session.isReady || !kernel) return 'no kernel attached yet';
  if (kernel.connectionStatus !== 'connected') return `kernel ${kernel.connectionStatus}`;
  if (kernel.status !== 'idle' || session.kernelDisplayStatus !== 'idle') return `kernel ${session.kernelDisplayStatus}`;
  if (document.querySelector('.jp-Dialog')) return 'a dialog is open';
  return 'ready';
}"""


class NotReady(AssertionError):
    """The page did not get ready (or did not start the cells) in time."""


def wait_until_ready(page: Any, path: str | None = None, timeout: float = 60) -> None:
    """Wait until the notebook (`path`, or the one on screen) is loaded and drawn, its kernel
    attached, connected and idle, and no dialog is open: only then does Run All run every cell."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + timeout
    while True:
        try:
            state = page.evaluate(NOTEBOOK_STATE, path)
        except PlaywrightError as error:  # the page is (re)loading
            state = f"the page is loading ({str(error).splitlines()[0]})"
        if state == "ready":
            return
        if time.monotonic() > deadline:
            raise NotReady(f"the notebook was not ready to run within {timeout:.0f} s: {state}")
        page.wait_for_timeout(200)


def click_run_menu(page: Any, item: str, cell: Any) -> None:
    """Click `cell` (which makes its notebook the current widget, or the menu acts on nothing,
    and selects it), then Run > `item`, as a user does.  The same labels in both front ends."""
    cell.click()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=item, exact=True).click()


SCHEDULED = re.compile(r"\[(\*|\d+)\]")


def run_skipped_cells(page: Any, scope: str = ".jp-Notebook", wait: float = 20) -> None:
    """A safety net after Run All: every code cell should be running or done ("[*]" or a
    number) within `wait` s.  If instead a tail of cells was never started (blank prompts,
    and no cell before it failed), run that tail once with Run > Run Selected Cell and All
    Below: those cells never ran, so running them is safe whatever they do."""
    prompts = page.locator(f"{scope} .jp-CodeCell .jp-InputPrompt")
    deadline = time.monotonic() + wait
    while True:
        started = [bool(SCHEDULED.search(text)) for text in prompts.all_inner_texts()]
        if all(started):
            return
        if time.monotonic() > deadline:
            break
        page.wait_for_timeout(300)
    first = started.index(False)
    errors = page.locator(f'{scope} .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    if any(started[first:]) or errors.count():  # cells skipped in between, or aborted after an error
        raise NotReady(f"Run All left these code cells unstarted: {started}, with {errors.count()} error outputs")
    warnings.warn(f"Run All started {first} of {len(started)} code cells; running the rest", stacklevel=2)
    wait_until_ready(page)
    click_run_menu(page, "Run Selected Cell and All Below", prompts.nth(first))
    prompts.last.filter(has_text=SCHEDULED).wait_for(timeout=30_000)


def run_all_cells(page: Any, widget: str = ".xenodia-panel") -> Any:
    """Run > Run All Cells in the panel notebook once the page is ready (see NOTEBOOK_STATE),
    wait until every cell has run, and return the locator of the panel (or of `widget`).

    Each attempt is bounded; a failed one (Run All ran nothing, or the widget manager missed
    the panel's models: "Error displaying widget: model not found") reloads the page, which
    attaches to the same kernel afresh."""
    panel = page.locator(widget)
    missed = page.get_by_text("Error displaying widget")
    for attempt in range(4):
        if attempt:
            page.reload()
        try:
            wait_until_ready(page)
            click_run_menu(page, "Run All Cells", page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first)
            panel.or_(missed).first.wait_for(timeout=60_000)
        except Exception:  # Playwright's TimeoutError or NotReady: this attempt ran nothing
            page.keyboard.press("Escape")
            continue
        if panel.count():
            break
    panel.first.wait_for()
    run_skipped_cells(page)
    last_prompt = page.locator(".jp-CodeCell .jp-InputPrompt").last
    last_prompt.filter(has_text=re.compile(r"\[\d+\]")).wait_for()  # every cell has run
    return panel


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def check_saved_notebook(path: Path) -> None:
    """The panel notebook as saved from the page: no key, small, widget state of thumbnails only."""
    time.sleep(0.5)  # the server writes the file in one go; give a partial write time to finish
    text = path.read_text()
    assert KEY not in text
    assert "Bearer" not in text
    assert len(text) < 300_000, f"the saved notebook is {len(text):,} bytes"
    notebook = json.loads(text)
    state = notebook["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    models = state.get("state", {})
    assert models, "the widget state was not saved (saveState is on in this test's settings)"
    for model in models.values():
        assert len(json.dumps(model)) < 40_000, model.get("model_name")  # thumbnails only, never full images
        if model.get("model_name") == "FileUploadModel":
            assert not model["state"].get("value"), "uploaded bytes were saved in the widget state"
