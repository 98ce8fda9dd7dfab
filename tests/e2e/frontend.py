"""A kernel driven the way a front end drives one.

JupyterLab's Run All (and Shift+Enter pressed twice) sends every
`execute_request` at once and then reads whatever comes back, while nbclient
waits for each reply before sending the next cell; a kernel that drops queued
cells passes nbclient and fails every user.  `Frontend.run_all` sends all
cells together, collects every reply and output (display updates applied, as
the page applies them, even to cells that finished long ago), and keeps every
text the kernel wrote anywhere, its own stderr included, for checks such as
"no `Exception in callback`".

`kernel_python` picks the interpreter (another venv, e.g. one with ipykernel
6.29), through a throwaway kernelspec.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

# Words that mean the kernel's own loop was re-entered or a queued cell was stepped wrongly.
LOOP_TROUBLE = ("Exception in callback", "cannot enter context", "This event loop is already running", "was never awaited")


@dataclass
class CellRun:
    code: str
    msg_id: str
    status: str | None = None  # "ok", "error" or "aborted", from the execute_reply
    execution_count: int | None = None
    reply: dict[str, Any] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    idle: bool = False

    @property
    def text(self) -> str:
        """Streams and text/plain of every output, as they read now."""
        parts = []
        for o in self.outputs:
            if o["output_type"] == "stream":
                parts.append(o["text"])
            elif o["output_type"] in ("execute_result", "display_data"):
                parts.append(o["data"].get("text/plain", ""))
            elif o["output_type"] == "error":
                parts.append("\n".join(o["traceback"]))
        return "".join(parts)

    @property
    def html(self) -> str:
        return "".join(
            o["data"].get("text/html", "") for o in self.outputs if o["output_type"] in ("execute_result", "display_data")
        )

    @property
    def error(self) -> dict[str, Any] | None:
        return next((o for o in self.outputs if o["output_type"] == "error"), None)

    def __repr__(self) -> str:
        return f"<cell {self.code[:30]!r} status={self.status} count={self.execution_count} text={self.text[:300]!r}>"


class Frontend:
    """One kernel, started in `cwd` with `env` added to this process's environment."""

    def __init__(self, cwd: Path, env: dict[str, str], *, kernel_python: str | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="xenodia-frontend-")
        spec_dir = Path(self._tmp.name) / "kernels" / "xenodia-test"
        spec_dir.mkdir(parents=True)
        python = kernel_python or sys.executable
        spec = {"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "test", "language": "python"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        self.stderr_path = Path(self._tmp.name) / "kernel-stderr.txt"
        self._stderr = self.stderr_path.open("wb")
        self.km = KernelManager(
            kernel_name="xenodia-test", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec_dir.parent)])
        )
        self.km.start_kernel(env={**os.environ, **env}, cwd=str(cwd), stderr=self._stderr, stdout=self._stderr)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.cells: dict[str, CellRun] = {}
        self.iopub_text: list[str] = []  # every text any iopub message carried, whoever its parent
        self._displays: dict[str, list[dict[str, Any]]] = {}

    def __enter__(self) -> Frontend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
        self._stderr.close()
        self._tmp.cleanup()

    # Sending ------------------------------------------------------------------------------

    def send(self, cells: list[str]) -> list[CellRun]:
        """Send every cell at once, as Run All does; returns at once."""
        runs = []
        for code in cells:
            msg_id = self.kc.execute(code, stop_on_error=True)
            run = self.cells[msg_id] = CellRun(code, msg_id)
            runs.append(run)
        return runs

    def run_all(self, cells: list[str], timeout: float = 120) -> list[CellRun]:
        """Send every cell at once and read until each has its reply and its outputs."""
        runs = self.send(cells)
        self.wait_for(lambda: all(r.status is not None and r.idle for r in runs), timeout, f"replies to {runs}")
        return runs

    def run(self, code: str, timeout: float = 120) -> CellRun:
        return self.run_all([code], timeout)[0]

    def interrupt(self) -> None:
        """Kernel > Interrupt."""
        self.km.interrupt_kernel()

    # Reading ------------------------------------------------------------------------------

    def wait_for(self, condition: Any, timeout: float, what: str = "the condition") -> None:
        """Read messages until `condition()` holds (messages keep being applied meanwhile)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            self.pump(0.05)

    def pump(self, seconds: float) -> None:
        """Read and apply whatever the kernel sends during `seconds`."""
        end = time.monotonic() + seconds
        while True:
            got = False
            for channel, handle in ((self.kc.shell_channel, self._on_shell), (self.kc.iopub_channel, self._on_iopub)):
                try:
                    msg = channel.get_msg(timeout=0.01)
                except queue.Empty:
                    continue
                handle(msg)
                got = True
            if not got and time.monotonic() >= end:
                return

    def _on_shell(self, msg: dict[str, Any]) -> None:
        run = self.cells.get(msg["parent_header"].get("msg_id"))
        if run is not None and msg["msg_type"] == "execute_reply":
            run.reply = msg["content"]
            run.status = msg["content"]["status"]
            run.execution_count = msg["content"].get("execution_count")

    def _on_iopub(self, msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        self.iopub_text.append(json.dumps(content))
        run = self.cells.get(msg["parent_header"].get("msg_id"))
        if kind == "update_display_data":
            for output in self._displays.get(content.get("transient", {}).get("display_id", ""), []):
                output["data"], output["metadata"] = content["data"], content.get("metadata", {})
            return
        if run is None:
            return
        if kind == "status" and content["execution_state"] == "idle":
            run.idle = True
        elif kind == "stream":
            run.outputs.append({"output_type": "stream", "name": content["name"], "text": content["text"]})
        elif kind in ("display_data", "execute_result"):
            output = {"output_type": kind, "data": content["data"], "metadata": content.get("metadata", {})}
            run.outputs.append(output)
            display_id = content.get("transient", {}).get("display_id")
            if display_id:
                self._displays.setdefault(display_id, []).append(output)
        elif kind == "error":
            run.outputs.append({"output_type": "error", **content})
        elif kind == "clear_output":
            run.outputs.clear()

    def all_text(self) -> str:
        """Everything the kernel said on iopub, and everything it wrote to its own stderr."""
        self._stderr.flush()
        return "\n".join(self.iopub_text) + "\n" + self.stderr_path.read_text(errors="replace")

    def loop_trouble(self) -> list[str]:
        text = self.all_text()
        return [words for words in LOOP_TROUBLE if words in text]
