"""JupyterLab 4 and Notebook 7 on loopback, and Debian's Chromium to drive them.

Each server runs in its own process group with its own config, data, runtime
and settings folders (nothing from the developer's).  Never `playwright
install`: the browser is /usr/bin/chromium (apt install chromium).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

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


def start_jupyter(app: str, root: Path, home: Path, env: dict[str, str], timeout: float = 120) -> JupyterServer:
    """Start `app` ("lab" or "notebook") on 127.0.0.1 and wait until it answers."""
    settings = home / "settings"
    wanted = {
        "@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True},
        # Every cell in the DOM (no windowing), so that a test can read every prompt.
        "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True, "windowingMode": "none"},
    }
    if app == "lab":  # Notebook 7 has no such plugin (a settings file for it breaks its page)
        wanted["@jupyterlab/apputils-extension/notification"] = {"fetchNews": "false", "checkForUpdates": False}
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
