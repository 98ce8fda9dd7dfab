"""A real Jupyter kernel for tests: cells are executed one by one through nbclient
and their outputs read back as the notebook would store them."""

from __future__ import annotations

import os
import signal
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete, CellExecutionError
from nbclient.util import ensure_async
from nbformat import NotebookNode


class FrontendLikeClient(NotebookClient):
    """nbclient reads only the messages of the cell it is running; a real
    frontend also applies display updates sent for earlier cells (a background
    job finishing).  This client does both."""

    async def _async_poll_output_msg(self, parent_msg_id: str, cell: NotebookNode, cell_index: int) -> None:
        assert self.kc is not None
        while True:
            msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
            if msg["parent_header"].get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    return
            elif msg["msg_type"] == "update_display_data":
                display_id = msg["content"].get("transient", {}).get("display_id")
                if display_id:
                    self._update_display_id(display_id, msg)


class KernelSession:
    """One kernel, many cells.  `run()` raises if a cell fails unexpectedly."""

    def __init__(self, cwd: Path, env: dict[str, str], timeout: int = 120) -> None:
        self.nb = nbformat.v4.new_notebook()
        self.nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        self.client = FrontendLikeClient(
            self.nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(cwd)}},
        )
        self._env = {**os.environ, **env}
        self._stack = ExitStack()

    def __enter__(self) -> KernelSession:
        self._stack.enter_context(self.client.setup_kernel(env=self._env))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def run(self, source: str, *, expect_error: bool = False) -> NotebookNode:
        cell = nbformat.v4.new_code_cell(source)
        self.nb.cells.append(cell)
        try:
            self.client.execute_cell(cell, len(self.nb.cells) - 1)
        except CellExecutionError as exc:
            # UsageError fails the cell without an error output: keep what the reply said.
            shown = next((o for o in cell.outputs if o.output_type == "error"), None)
            cell.metadata["failure"] = {
                "ename": exc.ename,
                "evalue": exc.evalue,
                "traceback": list(shown["traceback"]) if shown else [],
            }
        failed = error_output(cell)
        if failed and not expect_error:
            raise AssertionError(f"cell failed: {failed['ename']}: {failed['evalue']}\n{source}")
        if expect_error and not failed:
            raise AssertionError(f"cell was expected to fail but did not:\n{source}")
        return cell

    def value(self, expression: str) -> Any:
        """Evaluate a Python literal-producing expression in the kernel."""
        import ast

        return ast.literal_eval(text(self.run(f"print(repr(({expression})))")).strip())

    def interrupt(self) -> None:
        """Kernel -> Interrupt, as the frontend does it: SIGINT to the kernel process
        (safe to call from another thread)."""
        assert self.client.km is not None
        os.kill(self.client.km.provisioner.process.pid, signal.SIGINT)  # type: ignore[union-attr]


def error_output(cell: NotebookNode) -> dict[str, Any] | None:
    """How the cell failed (name, value, traceback lines), or None."""
    return cell.metadata.get("failure")


def text(cell: NotebookNode) -> str:
    parts = []
    for o in cell.outputs:
        if o.output_type == "stream":
            parts.append(o.text)
        elif o.output_type in ("execute_result", "display_data") and "text/plain" in o.data:
            parts.append(o.data["text/plain"])
    return "".join(parts)


def html(cell: NotebookNode) -> str:
    return "".join(
        o.data.get("text/html", "") for o in cell.outputs if o.output_type in ("execute_result", "display_data")
    )


def mime_types(cell: NotebookNode) -> set[str]:
    return {m for o in cell.outputs if o.output_type in ("execute_result", "display_data") for m in o.data}
