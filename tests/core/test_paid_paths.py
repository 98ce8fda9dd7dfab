"""Paid paths, tried the way a careless user and a hostile server would:
deadlines that strike before anything left, resends that must be the same
bytes, waits that must end by the caller's deadline.  Each test counts the
POSTs the server received and the calls it billed."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.store.journal import JournalState


@pytest.fixture
def unaccepting_port() -> Iterator[int]:
    """A loopback port whose listen queue is full: a connect to it hangs (the
    kernel drops the SYN), as it does behind a firewall that swallows packets."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    server.close()


def test_a_deadline_that_passes_while_connecting_is_journaled_as_never_sent(
    unaccepting_port: int, tmp_path: Path
) -> None:
    client = xj.Client(api_key="k", base_url=f"http://127.0.0.1:{unaccepting_port}", output_dir=tmp_path)
    started = time.monotonic()
    with pytest.raises(xj.APIConnectionError) as info:
        client.generate("a fox", timeout=1.5)
    assert time.monotonic() - started < 10  # discovery and the POST both end by the call's deadline
    assert info.value.sent is False
    assert "nothing was sent" in str(info.value) and "billed" not in str(info.value)
    [entry] = client.store.journal.entries()
    assert entry.state == JournalState.REFUSED and "never sent" in (entry.error or "")
    assert client.spent_usd == 0.0
    client.close()


def test_a_refused_connection_says_nothing_was_sent(tmp_path: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    client = xj.Client(api_key="k", base_url=f"http://127.0.0.1:{port}", output_dir=tmp_path, max_retries=0)
    with pytest.raises(xj.APIConnectionError) as info:
        client.generate("a fox", timeout=5)
    assert info.value.sent is False and "nothing was sent" in str(info.value)
    assert client.store.journal.entries()[0].state == JournalState.REFUSED
    client.close()


def test_a_job_item_never_sent_is_sent_when_the_job_resumes(
    unaccepting_port: int, emu: Emulator, tmp_path: Path
) -> None:
    hung = xj.Client(api_key=emu.api_key, base_url=f"http://127.0.0.1:{unaccepting_port}", output_dir=tmp_path)
    first = hung.generate_many(["a fox", "an owl"], job="pair", timeout=1.0, progress=False)
    assert all(isinstance(item, xj.APIConnectionError) and item.sent is False for item in first)
    hung.close()
    # The same job, now against a server that answers: both items are sent (the journal
    # said "never sent"), each billed once.
    client = xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=tmp_path)
    again = client.generate_many(["a fox", "an owl"], job="pair", progress=False)
    assert [type(item).__name__ for item in again] == ["GenerationResult", "GenerationResult"]
    assert emu.stats.billed_calls == 2 and emu.stats.generate_posts == 2
    client.close()


def test_a_call_waiting_for_an_in_flight_place_ends_by_its_deadline(emu: Emulator, tmp_path: Path) -> None:
    """max_in_flight=1 and another call holding the place on a stuck task: the
    second call ends by its own timeout with nothing sent (it took 19 s before)."""
    client = xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=tmp_path, max_in_flight=1)
    emu.next_task("stuck")
    holder = client.generate_many(["stuck"], timeout=20, progress=False, compute=False)
    deadline = time.monotonic() + 10
    while emu.stats.billed_calls < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert emu.stats.billed_calls == 1  # the place is taken
    started = time.monotonic()
    with pytest.raises(xj.TaskTimeoutError) as info:
        client.generate("a fox", timeout=2)
    waited = time.monotonic() - started
    assert waited < 6, waited
    assert info.value.sent is False and "nothing was sent" in str(info.value)
    assert emu.stats.generate_posts == 1
    holder.cancel()
    client.close()
