"""Shared fixtures: a real emulator on loopback, and an isolated output folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from xenodia_jupyter import Client
from xenodia_jupyter.emulator import Emulator


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's key or writes into the working tree."""
    for name in ("XENODIA_API_KEY", "XENODIA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XENODIA_OUTPUT_DIR", str(tmp_path / "outputs"))


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def make(**options: object) -> Emulator:
        options.setdefault("latency", 0.05)
        emu = Emulator(**options)  # type: ignore[arg-type]
        emu.start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def emu(make_emulator: Callable[..., Emulator]) -> Emulator:
    return make_emulator()


@pytest.fixture
def make_client(emu: Emulator, tmp_path: Path) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(**options: object) -> Client:
        options.setdefault("api_key", emu.api_key)
        options.setdefault("base_url", emu.base_url)
        options.setdefault("output_dir", tmp_path / "outputs")
        client = Client(**options)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client()
