"""Nothing paid is lost: the journal is written before the POST, survives a killed
process and concurrent writers, and files are never half-written."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.store.journal import Journal
from xenodia_jupyter.store.outputs import OutputStore
from xenodia_jupyter.wire.protocol import public_url


def test_the_journal_records_every_step_but_never_the_bytes(client: xj.Client, tmp_path: Path) -> None:
    big = Image.effect_noise((1024, 1024), 64).convert("RGB")
    result = client.generate("journaled", references=[big], aspect_ratio="4:3")
    [entry] = client.store.journal.entries()
    assert entry.prompt == "journaled"
    assert entry.params == {"model": "gpt-image-2", "aspect_ratio": "4:3", "resolution": None}
    assert len(entry.refs) == 1 and len(entry.refs[0]["digest"]) == 64 and "PIL" in entry.refs[0]["source"]
    assert entry.task_id == result.task_id
    assert entry.urls == [public_url(u) for u in result.urls]  # saved: kept without the URL's signature
    assert entry.paths == result.paths and entry.state == "saved"
    assert entry.cost_usd == pytest.approx(0.07)
    assert client.store.journal.path.stat().st_size < 200_000, "reference bytes must not be journaled"


def test_the_entry_exists_before_the_request_is_sent(client: xj.Client, emu: Emulator) -> None:
    emu.inject("generate", "delay", delay=1.0)
    import threading

    seen: list[str] = []

    def look() -> None:
        deadline = time.monotonic() + 5
        while emu.stats.generate_posts == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.extend(e.state for e in Journal(client.store.journal.path).entries())

    watcher = threading.Thread(target=look)
    watcher.start()
    client.generate("watched")
    watcher.join()
    assert seen == ["sending"]


def test_a_process_killed_after_the_post_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Emulator(latency=2.0, poll_interval_ms=50) as emu:
        script = textwrap.dedent(
            f"""
            import xenodia_jupyter as xj
            xj.Client(api_key={emu.api_key!r}, base_url={emu.base_url!r}, output_dir={str(out)!r}).generate("doomed process")
            """
        )
        child = subprocess.Popen([sys.executable, "-c", script])
        deadline = time.monotonic() + 30
        while emu.stats.billed_calls == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL
        assert not list(out.glob("*.png"))

        with xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=out) as client:
            recovered = client.recover(timeout=20)
            assert [r.prompt for r in recovered] == ["doomed process"]
            assert recovered[0].paths[0].exists()
            assert client.recover() == []
        assert emu.stats.generate_posts == 1 and emu.stats.billed_calls == 1


_WRITER = """
import sys
from pathlib import Path
from xenodia_jupyter.store.journal import Journal
journal = Journal(Path(sys.argv[1]))
for i in range(150):
    entry = journal.begin(base_url="http://x", prompt=f"{sys.argv[2]}-{i}", params={}, refs=[])
    journal.update(entry, task_id=f"task_{sys.argv[2]}_{i}", state="generating")
    journal.update(entry, state="saved", paths=[Path(f"/tmp/{i}.png")], cost_usd=0.07)
"""


def test_concurrent_writers_in_several_processes_do_not_corrupt_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name]) for name in ("a", "b", "c")]
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    entries = Journal(path).entries()
    assert len(entries) == 450
    assert all(e.state == "saved" and e.task_id for e in entries)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_failed_write_leaves_no_file_that_looks_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = OutputStore(tmp_path)

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        store.save_image(b"\x89PNG\r\n\x1a\n" + b"x" * 100, "image/png", stem="half", meta={})
    assert list(tmp_path.iterdir()) == []


def test_history_shows_a_thumbnail_grid(client: xj.Client) -> None:
    client.generate("first")
    client.generate("second")
    page = client.history()._repr_html_()
    assert page.count("data:image/jpeg;base64,") == 2
    assert page.index("second") < page.index("first")
