"""Pytest fixtures for testing your own code and notebooks against the emulator
(registered through the `pytest11` entry point; needs the `emulator` extra).

    def test_my_pipeline(xenodia_client, xenodia_emulator):
        result = xenodia_client.generate("a red bicycle")
        assert result.image.size == (1024, 1024)
        assert xenodia_emulator.stats.billed_calls == 1

`xenodia_emulator` also points XENODIA_BASE_URL, XENODIA_API_KEY and
XENODIA_OUTPUT_DIR at itself and a temporary folder for the test, so code that
calls `xj.generate(...)` or runs a notebook in a subprocess uses it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..client.sync_client import Client
    from ..emulator import Emulator


@pytest.fixture(scope="session")
def _xenodia_emulator_server() -> Iterator[Emulator]:
    from ..emulator import Emulator

    with Emulator(latency=0.05) as emulator:
        yield emulator


@pytest.fixture
def xenodia_emulator(
    _xenodia_emulator_server: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Emulator:
    """A running emulator on loopback (`base_url`, `api_key`, `stats`, `inject`),
    reset for this test, with the XENODIA_* variables pointing at it."""
    emulator = _xenodia_emulator_server
    emulator.reset()
    monkeypatch.setenv("XENODIA_BASE_URL", emulator.base_url)
    monkeypatch.setenv("XENODIA_API_KEY", emulator.api_key)
    monkeypatch.setenv("XENODIA_OUTPUT_DIR", str(tmp_path / "xenodia_outputs"))
    return emulator


@pytest.fixture
def xenodia_client(xenodia_emulator: Emulator, tmp_path: Path) -> Iterator[Client]:
    """A `Client` talking to `xenodia_emulator`, saving under the test's tmp_path."""
    from ..client.sync_client import Client

    with Client(xenodia_emulator.api_key, xenodia_emulator.base_url, output_dir=tmp_path / "xenodia_outputs") as client:
        yield client
