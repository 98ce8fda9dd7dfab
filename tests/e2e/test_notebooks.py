"""Every notebook in notebooks/ runs top to bottom in a real kernel against the
emulator, leaves small outputs, and never shows the key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from xenodia_jupyter.emulator import Emulator

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
KEY = "notebook-test-secret-key-4b1d"


@pytest.mark.parametrize("name", ["quickstart", "references", "batch_exploration", "panel", "sweep", "cluster", "ranking", "library"])
def test_notebook_runs_against_the_emulator(name: str, tmp_path: Path) -> None:
    source = NOTEBOOKS / f"{name}.ipynb"
    nb = nbformat.read(source, as_version=4)
    with Emulator(latency=0.2, poll_interval_ms=30) as emu:
        env = {
            **os.environ,
            "XENODIA_API_KEY": KEY,
            "XENODIA_BASE_URL": emu.base_url,
            "XENODIA_OUTPUT_DIR": str(tmp_path / "out"),
        }
        client = NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
        client.execute(env=env)
        billed = emu.stats.billed_calls

    saved = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, saved)
    text = saved.read_text()
    assert KEY not in text
    assert saved.stat().st_size < 1_000_000
    images = list((tmp_path / "out").glob("*.png"))
    assert len(images) >= billed
    if name != "panel":  # the panel notebook opens the panel; generating is the browser test's job
        assert billed >= 1
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            assert "image/png" not in output.get("data", {}) or len(json.dumps(output)) < 150_000
            if output.output_type == "error":
                assert "raises-exception" in cell.metadata.get("tags", []), cell.source


def test_committed_notebooks_are_small_and_hold_no_key() -> None:
    for path in NOTEBOOKS.glob("*.ipynb"):
        assert path.stat().st_size < 1_000_000, path
        text = path.read_text()
        assert "Bearer " not in text
