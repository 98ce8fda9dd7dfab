"""A hostile server and a careless user: a paid task id is never lost, every
call ends by its deadline, bodies are read with a cap, and the key never shows.

Most of these talk to the emulator over loopback.  Answers the emulator will
not give (a 201 envelope, 100,000-deep JSON, a body that echoes the key) come
from a small hostile ASGI app reached through `httpx.ASGITransport`, the seam
httpx provides for in-process servers.
"""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.store.entries import JournalState
from xenodia_jupyter.store.journal import Journal

KEY = "hardening-secret-key-3c9d"


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "orange").save(buf, "PNG")
    return buf.getvalue()


class Hostile:
    """An ASGI server whose POST answer is whatever the test says; polls answer
    success with one image on the same origin."""

    def __init__(self, post: Callable[[dict[str, Any]], tuple[int, bytes]], task_id: str = "task_h1") -> None:
        self.post = post
        self.task_id = task_id
        self.posts = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        while (await receive()).get("more_body"):
            pass
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        if scope["method"] == "POST":
            self.posts += 1
            status, body = self.post(headers)
        elif scope["path"].startswith("/v1/tasks/"):
            status, body = 200, json.dumps(
                {"task_id": self.task_id, "state": "success", "progress": 100,
                 "result": {"data": [{"url": "http://hostile.test/img.png"}]}}
            ).encode()
        elif scope["path"] == "/img.png":
            status, body = 200, _png()
        else:
            status, body = 404, b"{}"
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def hostile_client(tmp_path: Path, app: Hostile, **options: Any) -> xj.Client:
    return xj.Client(
        api_key=KEY, base_url="http://hostile.test", output_dir=tmp_path / "out",
        transport=httpx.ASGITransport(app=app), **options,
    )


def envelope(**fields: Any) -> bytes:
    return json.dumps({"task_id": "task_h1", "state": "waiting", **fields}).encode()


# A paid task id is never lost ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "task_id"),
    [
        (201, envelope(), "task_h1"),
        (202, json.dumps({"task_id": "task_h1"}).encode(), "task_h1"),  # no state
        (202, b"[" * 100_000 + b"]" * 100_000, None),  # 100k-deep JSON
        (202, b'{"task_id": "task_h1", "state": ', None),  # cut short
    ],
    ids=["201", "no-state", "deep-json", "truncated"],
)
def test_an_odd_answer_to_the_post_is_typed_and_keeps_the_task_id(
    tmp_path: Path, status: int, body: bytes, task_id: str | None
) -> None:
    app = Hostile(lambda _h: (status, body))
    with hostile_client(tmp_path, app) as client:
        with pytest.raises(xj.APIResponseError) as info:
            client.generate("odd answer")
        assert app.posts == 1, "a POST that may have been billed was repeated"
        (entry,) = client.store.journal.entries()
        assert entry.state == JournalState.UNKNOWN and entry.task_id == task_id
        assert info.value.task_id == task_id
        if task_id:  # paid and findable: recover() finishes it without a POST
            (recovered,) = client.recover(timeout=10)
            assert isinstance(recovered, xj.GenerationResult) and app.posts == 1


def test_impossible_numbers_and_a_bad_poll_port_are_survived(tmp_path: Path) -> None:
    body = envelope(eta_hint_seconds=1e999, progress=float("inf"), recommended_poll_interval_ms=-1,
                    poll_url="http://hostile.test:99999/v1/tasks/task_h1", billing={"actual_amount_micro_usdc": float("nan")})
    app = Hostile(lambda _h: (202, body.replace(b"Infinity", b"1e999").replace(b"NaN", b'"NaN"')))
    with hostile_client(tmp_path, app) as client:
        result = client.generate("impossible numbers")
    assert result.paths[0].exists()


def test_file_names_from_long_task_ids_stay_short(tmp_path: Path) -> None:
    long_id = "task_" + "x/" * 150
    app = Hostile(lambda _h: (202, envelope(task_id=long_id)), task_id=long_id)
    with hostile_client(tmp_path, app) as client:
        result = client.generate("a very long id")
    assert len(result.paths[0].name.encode()) < 200 and result.paths[0].parent == tmp_path / "out"


def test_a_journal_locked_while_the_post_is_in_flight_keeps_the_task_id(
    emu: Emulator, make_client: Callable[..., xj.Client], tmp_path: Path
) -> None:
    client = make_client()
    client.generate("a first one, before the lock")
    client.store.journal.busy_timeout_s = 0.2
    client.store.journal.close()  # reopen with the short busy timeout
    journal_path = client.store.journal.path
    emu.reset()
    emu.inject("generate", "delay", delay=1.0)
    holder = sqlite3.connect(journal_path, timeout=5, isolation_level=None, check_same_thread=False)

    def lock_during_the_post() -> None:
        deadline = time.monotonic() + 20
        while emu.stats.generate_posts == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        holder.execute("BEGIN EXCLUSIVE")

    locker = threading.Thread(target=lock_during_the_post)
    locker.start()
    try:
        with pytest.raises(xj.StorageError) as info:
            client.generate("while the journal is locked")
    finally:
        locker.join()
        holder.execute("ROLLBACK")
        holder.close()
    task_id = info.value.task_id
    assert task_id and task_id in str(info.value) and "fallback" in str(info.value)
    assert client.store.journal.fallback_path.exists()
    client.store.journal.close()
    (recovered,) = client.recover(timeout=30)  # the fallback is folded back in, then finished
    assert isinstance(recovered, xj.GenerationResult) and recovered.task_id == task_id
    assert not client.store.journal.fallback_path.exists()
    assert emu.stats.generate_posts == 1 and emu.stats.billed_calls == 1


def test_a_journal_from_a_newer_version_is_refused_before_sending(emu: Emulator, make_client: Callable[..., xj.Client], tmp_path: Path) -> None:
    path = tmp_path / "outputs" / "journal.sqlite3"
    Journal(path).entries()
    path.parent.mkdir(parents=True, exist_ok=True)
    Journal(path)._connection()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    client = make_client()
    with pytest.raises(xj.StorageError, match="newer xenodia-jupyter"):
        client.generate("not with this journal")
    assert emu.stats.generate_posts == 0


def test_a_damaged_journal_is_refused_before_sending_and_says_how_to_move_it(
    emu: Emulator, make_client: Callable[..., xj.Client], tmp_path: Path
) -> None:
    path = tmp_path / "outputs" / "journal.sqlite3"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    client = make_client()
    for call in (lambda: client.generate("no"), client.history, client.recover):
        with pytest.raises(xj.StorageError) as info:
            call()
        assert "mv " in str(info.value) and str(path) in str(info.value)
    assert emu.stats.generate_posts == 0


def test_an_older_journal_without_request_id_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE generations (id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL,"
                 " base_url TEXT NOT NULL, prompt TEXT NOT NULL, params TEXT NOT NULL, refs TEXT NOT NULL,"
                 " state TEXT NOT NULL, task_id TEXT)")
    conn.close()
    journal = Journal(path)
    entry = journal.begin(base_url="http://x", prompt="p", params={}, refs=[])
    journal.update(entry, task_id="task_m", request_id="req_m", state=JournalState.ACCEPTED)
    (row,) = journal.entries()
    assert row.request_id == "req_m" and row.recoverable
    journal.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] >= 2


def test_an_output_dir_that_is_a_file_is_a_typed_error(emu: Emulator, make_client: Callable[..., xj.Client], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    client = make_client(output_dir=blocker / "out")
    with pytest.raises(xj.StorageError):
        client.generate("nowhere to write")
    assert emu.stats.generate_posts == 0


# One odd answer sinks nothing ---------------------------------------------------------------------


def test_one_odd_item_does_not_sink_a_batch(tmp_path: Path) -> None:
    answers = iter([(202, envelope(task_id="task_a")), (202, b"not json"), (202, envelope(task_id="task_c"))])
    lock = threading.Lock()

    def post(_headers: dict[str, Any]) -> tuple[int, bytes]:
        with lock:
            return next(answers)

    app = Hostile(post)
    with hostile_client(tmp_path, app) as client:
        results = client.generate_many(["a", "b", "c"], concurrency=1)
    assert [type(r).__name__ for r in results] == ["GenerationResult", "APIResponseError", "GenerationResult"]


# Every call ends by its deadline --------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_slow_poll_ends_at_the_callers_deadline(emu: Emulator, make_client: Callable[..., xj.Client]) -> None:
    emu.inject("poll", "delay", delay=25, count=5)
    client = make_client(request_timeout=60)
    with pytest.raises(xj.TaskTimeoutError) as info:
        client.generate("slow polls", timeout=1.5)
    assert info.value.task_id


@pytest.mark.timeout(30)
def test_a_slow_post_answer_ends_at_the_callers_deadline(emu: Emulator, make_client: Callable[..., xj.Client]) -> None:
    emu.inject("generate", "delay", delay=25)
    client = make_client(request_timeout=60)
    with pytest.raises(xj.APIConnectionError, match="may have been"):
        client.generate("slow answer", timeout=1.5)
    assert emu.stats.generate_posts == 1


def test_a_retry_after_longer_than_the_time_left_ends_the_call_at_once(emu: Emulator, client: xj.Client) -> None:
    emu.inject("generate", "status", status=429, retry_after=60)
    with pytest.raises(xj.RateLimitError) as info:
        client.generate("come back in a minute", timeout=5)
    assert info.value.retry_after == 60 and emu.stats.generate_posts == 1


# The key never shows ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [KEY + "\n", " " + KEY, KEY[:5] + "\x07" + KEY[5:], KEY + "é"])
def test_a_key_that_cannot_be_a_header_is_refused_without_showing_it(key: str, tmp_path: Path) -> None:
    with pytest.raises(xj.InvalidRequestError) as info:
        xj.Client(api_key=key, output_dir=tmp_path)
    assert info.value.field == "api_key"
    assert key.strip() not in str(info.value) and key.strip() not in repr(info.value)


def test_server_text_that_echoes_the_key_is_redacted(tmp_path: Path) -> None:
    app = Hostile(lambda headers: (202, ("<html>" + headers.get("authorization", "") + "</html>").encode()))
    with hostile_client(tmp_path, app) as client:
        with pytest.raises(xj.APIResponseError) as info:
            client.generate("echo")
        shown = "".join(traceback.format_exception(info.value))
        assert KEY not in shown
        journal = (tmp_path / "out" / "journal.sqlite3").read_bytes()
    assert KEY.encode() not in journal


def test_the_key_is_in_no_local_variable_of_a_traceback(tmp_path: Path) -> None:
    app = Hostile(lambda _h: (500, b'{"message": "boom"}'))
    with hostile_client(tmp_path, app) as client, pytest.raises(xj.UpstreamError) as info:
        client.generate("show me your locals")
    text = "".join(traceback.TracebackException.from_exception(info.value, capture_locals=True).format())
    assert "generate" in text and KEY not in text


def test_recover_reports_a_post_that_never_got_its_answer(emu: Emulator, make_client: Callable[..., xj.Client]) -> None:
    client = make_client()
    journal = client.store.journal
    entry = journal.begin(base_url=emu.base_url, prompt="killed mid-POST", params={}, refs=[])
    journal.close()
    conn = sqlite3.connect(journal.path)
    conn.execute("UPDATE generations SET created_at = created_at - 3600 WHERE id = ?", (entry,))
    conn.commit()
    conn.close()
    (report,) = client.recover()
    assert isinstance(report, xj.APIConnectionError)
    assert "outcome unknown, may have been billed" in str(report) and "killed mid-POST" in str(report)
    assert list(client.recover()) == []  # reported once
    assert emu.stats.generate_posts == 0


def test_ratings_are_journaled_and_survive_a_reopen(emu: Emulator, make_client: Callable[..., xj.Client]) -> None:
    client = make_client()
    result = client.generate("rate me")
    client.store.journal.rate(result.journal_id, 1)
    client.store.journal.close()
    (entry,) = client.store.journal.entries()
    assert entry.rating == 1
    with pytest.raises(ValueError, match="rating"):
        client.store.journal.rate(result.journal_id, 5)


def test_a_batch_shows_its_failures_in_place(emu: Emulator, client: xj.Client) -> None:
    emu.inject("generate", "status", status=402)
    results = client.generate_many(["refused", "fine"], concurrency=1)
    page = results._repr_html_()
    assert page.count("xenodia-failed") == 1 and "[0] PaymentRequiredError" in page
    assert page.index("xenodia-failed") < page.index("data:image/jpeg;base64,")  # in its place, first
    assert "[0] PaymentRequiredError" in repr(results)


# Two clients (or processes), one folder -------------------------------------------------------------


def _downloads(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.origin == "cdn" and r.path.startswith("/files/"))


def test_recover_leaves_the_live_task_of_another_client_alone(emu: Emulator, make_client: Callable[..., xj.Client]) -> None:
    emu.state.latency = 1.5
    working, recovering = make_client(), make_client()
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(working.generate("live elsewhere")))
    worker.start()
    deadline = time.monotonic() + 30
    while emu.stats.billed_calls == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list(recovering.recover(timeout=10)) == []  # claimed by the other client
    worker.join()
    assert isinstance(done[0], xj.GenerationResult)
    assert _downloads(emu) == 1


def test_two_concurrent_recovers_download_an_orphan_once(emu: Emulator, make_client: Callable[..., xj.Client]) -> None:
    emu.state.latency = 0.8
    with pytest.raises(xj.TaskTimeoutError):
        make_client().generate("orphaned", timeout=0.2)
    first, second = make_client(), make_client()
    found: list[list[object]] = []
    threads = [threading.Thread(target=lambda c=c: found.append(list(c.recover(timeout=10)))) for c in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recovered = [item for items in found for item in items]
    assert len(recovered) == 1 and isinstance(recovered[0], xj.GenerationResult)
    assert _downloads(emu) == 1


def test_recover_sweeps_the_debris_of_an_interrupted_save(emu: Emulator, client: xj.Client) -> None:
    import os

    client.generate("makes the folder")
    root = client.store.root
    old, fresh = root / ".old.png.1234.part", root / ".fresh.png.5678.part"
    old.write_bytes(b"half an image")
    fresh.write_bytes(b"a save in progress")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    client.recover()
    assert not old.exists() and fresh.exists()


# Memory is bounded -------------------------------------------------------------------------------------


def test_a_huge_result_is_saved_but_never_decoded(tmp_path: Path) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (12000, 12000)).save(buf, "PNG")  # about 150 KB on disk, 144 megapixels decoded
    huge = buf.getvalue()

    class HugeResult(Hostile):
        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["path"] == "/img.png":
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": huge})
                return
            await super().__call__(scope, receive, send)

    with hostile_client(tmp_path, HugeResult(lambda _h: (202, envelope()))) as client:
        result = client.generate("too many pixels")
    saved = result.paths[0].read_bytes()
    assert saved[: len(huge) - 12] == huge[:-12]  # paid for: kept as it came (plus its provenance chunk)
    with pytest.raises(xj.APIResponseError, match="megapixels"):
        result.thumbnail()
    with pytest.raises(xj.APIResponseError, match="megapixels"):
        _ = result.image


def test_saving_again_after_a_crash_replaces_the_orphan_file(emu: Emulator, client: xj.Client) -> None:
    result = client.generate("saved twice")
    journal = client.store.journal
    journal.update(result.journal_id, state=JournalState.SUCCEEDED)  # as if killed after the write, before the journal
    (again,) = client.recover(timeout=10)
    assert again.paths == result.paths
    assert len(list(client.store.root.glob("*.png"))) == 1
