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
from xenodia_jupyter.store.entries import JournalState


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


def test_a_change_of_directory_after_the_client_was_made_changes_nothing(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`%cd` in a notebook: the same request again is a cache hit in the same
    folder, not a second bill with its image in a second folder."""
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    monkeypatch.chdir(tmp_path / "first")
    client = xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir="out", cache=True)
    made = client.generate("a lighthouse")
    monkeypatch.chdir(tmp_path / "second")
    again = client.generate("a lighthouse")
    assert again.cached and again.paths == made.paths and made.paths[0].is_absolute()
    assert emu.stats.billed_calls == 1
    assert not (tmp_path / "second" / "out").exists()
    assert client.history()[0].paths[0].exists()
    client.close()


def test_the_journal_keeps_paths_relative_to_its_folder(emu: Emulator, tmp_path: Path) -> None:
    """Moving the output folder keeps every saved result findable."""
    client = xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=tmp_path / "before")
    client.generate("a fox")
    client.close()
    (tmp_path / "before").rename(tmp_path / "after")
    moved = xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=tmp_path / "after")
    [result] = moved.history()
    assert result.paths[0].parent == tmp_path / "after" and result.paths[0].exists()
    moved.close()


@pytest.mark.parametrize("replacement", [b"not an image at all", "another picture"])
def test_a_cached_file_that_was_replaced_is_made_again(
    emu: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, replacement: bytes | str
) -> None:
    client = xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=tmp_path, cache=True)
    first = client.generate("a lighthouse")
    other = client.generate("a different picture", cache=False)
    path = first.paths[0]
    path.write_bytes(replacement if isinstance(replacement, bytes) else other.paths[0].read_bytes())
    with caplog.at_level("WARNING", logger="xenodia_jupyter"):
        again = client.generate("a lighthouse")
    assert not again.cached and emu.stats.billed_calls == 3
    assert "changed since it was saved" in caplog.text
    assert client.generate("a lighthouse").cached  # the new file is the cache's from now on
    client.close()


def test_the_cache_keeps_one_apis_pictures_from_another(make_emulator, tmp_path: Path) -> None:
    here, there = make_emulator(), make_emulator()
    with xj.Client(api_key=here.api_key, base_url=here.base_url, output_dir=tmp_path, cache=True) as client:
        client.generate("a lighthouse")
    with xj.Client(api_key=there.api_key, base_url=there.base_url, output_dir=tmp_path, cache=True) as client:
        result = client.generate("a lighthouse")
    assert not result.cached and here.stats.billed_calls == 1 and there.stats.billed_calls == 1


def test_a_resend_is_the_same_bytes_and_never_pays_twice(emu: Emulator, tmp_path: Path) -> None:
    """trust_idempotency with a multipart body, against a server that compares
    raw bodies for a key: the first POST is billed and its answer lost; the
    resend (same key) must be byte-identical, so the server replays the task
    instead of answering 409, and the image is saved.  One bill."""
    emu.state.idempotency_compares = "bytes"
    reference = tmp_path / "shape.png"
    from PIL import Image

    Image.new("RGB", (64, 48), "orange").save(reference)
    client = xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=tmp_path / "out", trust_idempotency=True)
    emu.inject("generate", "drop")
    result = client.generate("from a file", references=[reference])
    assert result.paths[0].exists()
    assert emu.stats.generate_posts == 2 and emu.stats.billed_calls == 1 and emu.stats.idempotent_replays == 1
    client.close()


def test_a_409_for_our_own_resend_keeps_the_item_paid_and_recoverable(emu: Emulator, tmp_path: Path) -> None:
    """If a resend is ever answered 409 (the key was used), the first send
    arrived: the item is journaled as unknown, never as refused, so a resumed
    job asks again with the same key instead of paying under a new one."""
    emu.state.idempotency_compares = "bytes"
    client = xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=tmp_path / "out", trust_idempotency=True)
    reference = tmp_path / "shape.png"
    from PIL import Image

    Image.new("RGB", (64, 48), "orange").save(reference)
    request = client.prepare("a fox", references=[reference])
    from xenodia_jupyter.wire.transport import Transport

    # A client whose resend is not the same bytes (as httpx's fresh boundary made it before).
    original = Transport._post_once
    boundaries = iter(["first-boundary-0001", "other-boundary-0002"])

    async def differing(self: Transport, body: object, headers: dict[str, str], deadline: float | None) -> object:
        changed = {**headers, "Content-Type": f"multipart/form-data; boundary={next(boundaries)}"}
        return await original(self, body, changed, deadline)  # type: ignore[arg-type]

    Transport._post_once = differing  # type: ignore[method-assign,assignment]
    try:
        emu.inject("generate", "drop")
        first = client.generate_many(["a fox"], references=[reference], job="kept", progress=False)
    finally:
        Transport._post_once = original  # type: ignore[method-assign]
    assert isinstance(first[0], xj.APIConnectionError) and "first send arrived" in str(first[0])
    [entry] = client.store.journal.entries()
    assert entry.state.value == "unknown"
    # Resuming asks again under the same key, never a new one: whatever the server
    # answers, the item is not paid for twice and stays journaled as possibly paid.
    again = client.generate_many(["a fox"], references=[reference], job="kept", progress=False)
    assert isinstance(again[0], xj.APIConnectionError) and "first send of this item arrived" in str(again[0])
    assert emu.stats.billed_calls == 1
    assert [e.state.value for e in client.store.journal.entries()] == ["unknown"]
    assert request.price_usd == 0.07
    client.close()


class _Unreadable:
    name = "camera-roll.png"

    def read(self, size: int = -1) -> bytes:
        raise RuntimeError("the camera disconnected")


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        (_Unreadable(), "references[0] (camera-roll.png) cannot be read (RuntimeError: the camera disconnected)"),
        ("http://example.com:abc/photo.png", "has a port that is not a number"),
    ],
    ids=["read-raises", "port-abc"],
)
def test_odd_references_are_refused_by_name_before_sending(emu: Emulator, client: xj.Client, reference: object, words: str) -> None:
    with pytest.raises(xj.InvalidRequestError) as info:
        client.generate("x", references=[reference])
    assert info.value.field == "references" and words in str(info.value)
    assert emu.stats.generate_posts == 0


def test_an_output_dir_that_is_a_file_is_refused_first(tmp_path: Path) -> None:
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    with pytest.raises(xj.InvalidRequestError) as info:
        xj.Client(api_key="k", output_dir=taken)
    assert info.value.field == "output_dir" and "is a file" in str(info.value)
    assert taken.read_text() == "mine"


def test_a_job_name_with_a_lone_surrogate_is_refused_by_name(emu: Emulator, client: xj.Client) -> None:
    with pytest.raises(xj.InvalidRequestError) as info:
        client.generate_many(["a", "b"], job="bad \ud800 name", progress=False)
    assert info.value.field == "job" and "UTF-8" in str(info.value)
    assert emu.stats.generate_posts == 0


def test_recover_after_the_urls_expired_says_nothing_more_can_be_done(emu: Emulator, tmp_path: Path) -> None:
    client = xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=tmp_path, timeout=10)
    emu.inject("download", "status", status=404, count=10)
    with pytest.raises(xj.NotFoundError):
        client.generate("expires at once")
    emu.expire_results()
    [report] = client.recover()
    assert isinstance(report, xj.NotFoundError) and report.task_id and report.task_id in str(report)
    assert "nothing more can be done" in str(report) and "recover()" not in str(report)
    assert "X-Amz-Signature" not in str(report)
    client.close()


@pytest.mark.parametrize("base_url", ["127.0.0.1:8765", "localhost:8765/v1", "ftp://api.example.com"])
def test_a_base_url_without_http_is_refused_before_anything_is_sent(base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(xj.InvalidRequestError) as info:
        xj.Client(api_key="k", base_url=base_url)
    assert info.value.field == "base_url" and "nothing was sent" in str(info.value)
    assert "billed" not in str(info.value) and "recover" not in str(info.value)
    monkeypatch.setenv("XENODIA_BASE_URL", base_url)
    with pytest.raises(xj.InvalidRequestError, match="http://"):
        xj.Client(api_key="k")
