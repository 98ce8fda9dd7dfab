"""Several processes, one output folder: what two kernels running the same
named job at the same moment must never do (send an item twice, die on a raw
database error), tried with real processes started together and 0.4 s apart."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.store.outputs import file_stem

RUN_JOB = textwrap.dedent(
    """
    import json, sys
    import xenodia_jupyter as xj
    base_url, key, folder, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = xj.Client(api_key=key, base_url=base_url, output_dir=folder)
    results = client.generate_many([f"item {i}" for i in range(count)], job="shared", progress=False, timeout=60)
    print(json.dumps([
        {"saved": not isinstance(r, Exception), "error": None if not isinstance(r, Exception) else f"{type(r).__name__}: {r}",
         "paths": [str(p) for p in getattr(r, "paths", [])]}
        for r in results
    ]))
    """
)


@pytest.mark.parametrize("offset_s", [0.0, 0.4, 0.0, 0.4], ids=["together", "0.4s-apart", "together-again", "0.4s-again"])
def test_two_processes_running_one_job_send_each_item_once(make_emulator, tmp_path: Path, offset_s: float) -> None:
    emu: Emulator = make_emulator(latency=0.3)
    items = 24
    args = [sys.executable, "-c", RUN_JOB, emu.base_url, emu.api_key, str(tmp_path / "shared"), str(items)]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(offset_s)
    second = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reports = []
    for process in (first, second):
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-3000:]
        assert "IntegrityError" not in err and "sqlite3" not in err, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert emu.stats.generate_posts == items and emu.stats.billed_calls == items  # each item sent once
    for report in reports:  # both processes end with every item saved (one made it, the other waited for it)
        assert [r["error"] for r in report] == [None] * items
    assert [r["paths"] for r in reports[0]] == [r["paths"] for r in reports[1]]
    assert len(list((tmp_path / "shared").glob("*.png"))) == items


RECOVER_LOOP = textwrap.dedent(
    """
    import sys, time
    import xenodia_jupyter as xj
    base_url, key, folder, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    client = xj.Client(api_key=key, base_url=base_url, output_dir=folder)
    end = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < end:
        client.recover(timeout=30)
        rounds += 1
    print(rounds)
    """
)


def test_recover_in_another_process_never_downloads_an_image_twice(make_emulator, tmp_path: Path) -> None:
    """Three processes generating and a fourth running recover() over and over,
    in one folder: every image is billed once and downloaded once."""
    emu: Emulator = make_emulator(latency=0.4)
    folder = str(tmp_path / "shared")
    makers = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_JOB.replace('job="shared"', f'job="maker-{n}"'), emu.base_url, emu.api_key, folder, "20"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for n in range(3)
    ]
    time.sleep(0.5)
    recoverer = subprocess.Popen(
        [sys.executable, "-c", RECOVER_LOOP, emu.base_url, emu.api_key, folder, "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    for process in [*makers, recoverer]:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-3000:]
    assert int(out.strip().splitlines()[-1]) > 3  # recover() really ran while the makers worked
    assert emu.stats.billed_calls == 60
    assert emu.stats.downloads == 60  # not one image fetched twice


GENERATE_ONE = textwrap.dedent(
    """
    import sys
    import xenodia_jupyter as xj
    base_url, key, folder = sys.argv[1], sys.argv[2], sys.argv[3]
    xj.Client(api_key=key, base_url=base_url, output_dir=folder).generate("killed mid-flight", timeout=120)
    """
)


def _killed_while(emu: Emulator, folder: str, reached: Callable[[], bool]) -> None:
    process = subprocess.Popen([sys.executable, "-c", GENERATE_ONE, emu.base_url, emu.api_key, folder])
    deadline = time.monotonic() + 60
    while not reached() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert reached()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def test_recover_reports_at_once_a_send_whose_process_was_killed(make_emulator, tmp_path: Path) -> None:
    """Killed right after its POST left, before the answer: recover() in a new
    process says so now, not after the 5 minutes a live send may take."""
    emu: Emulator = make_emulator()
    emu.inject("generate", "delay", delay=30)
    folder = str(tmp_path / "out")
    _killed_while(emu, folder, lambda: emu.stats.generate_posts == 1)
    started = time.monotonic()
    with xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=folder) as client:
        [report] = client.recover(timeout=5)
    assert time.monotonic() - started < 10
    assert isinstance(report, xj.APIConnectionError) and "outcome unknown" in str(report)


def test_recover_sweeps_the_part_file_of_a_save_killed_mid_write(make_emulator, tmp_path: Path) -> None:
    emu: Emulator = make_emulator()
    emu.inject("download", "delay", delay=30)
    folder = tmp_path / "out"
    _killed_while(emu, str(folder), lambda: emu.stats.downloads == 1)
    with xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=folder) as client:
        [entry] = client.store.journal.entries()
        name = file_stem(entry.prompt, entry.task_id, 0, entry.created_at) + ".png"
        (folder / f".{name}.1a2b3c4d.part").write_bytes(b"half an image")  # what the kill left
        [result] = client.recover()
    assert result.paths[0].name == name and result.paths[0].exists()
    assert [p.name for p in folder.iterdir() if p.name.endswith(".part")] == []
    assert emu.stats.billed_calls == 1


def test_a_job_item_held_by_another_live_process_is_waited_for_then_taken_over(make_emulator, tmp_path: Path) -> None:
    """A re-run while another process still holds an item's claim (a driver
    killed a moment ago, whose worker lives on) waits for it instead of failing
    at once, says when the claim ends if its own deadline comes first, and takes
    the item over as soon as the holder is gone."""
    emu: Emulator = make_emulator(latency=0.2)
    folder = tmp_path / "out"
    with xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=folder) as client:
        client.generate_many(["held"], job="held", progress=False)
        [entry] = client.store.journal.entries()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        import socket

        from xenodia_jupyter.store.journal import Journal

        journal = Journal(folder / "journal.sqlite3")
        journal.update(entry.id, state="accepted")  # as if its task were still being polled
        owner = f"{socket.gethostname()}:{holder.pid}:other"
        assert journal.claim(entry.id, owner)
        journal.close()
        with xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=folder) as client:
            [waited] = client.generate_many(["held"], job="held", timeout=1.5, progress=False)
        assert isinstance(waited, xj.TaskTimeoutError) and "its claim ends at" in str(waited)
    finally:
        holder.kill()
        holder.wait(10)
    with xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=folder) as client:
        [taken] = client.generate_many(["held"], job="held", timeout=10, progress=False)
    assert isinstance(taken, xj.GenerationResult) and emu.stats.billed_calls == 1


def test_processes_opening_a_new_journal_at_the_same_moment_all_can_use_it(tmp_path: Path) -> None:
    """Two kernels starting on a fresh folder together: one made the table while
    the other added a column to it ('duplicate column name', seen once in a run)."""
    opener = "import sys\nfrom xenodia_jupyter.store.journal import Journal\nJournal(__import__('pathlib').Path(sys.argv[1])).entries()"
    for attempt in range(3):
        path = tmp_path / f"try-{attempt}" / "journal.sqlite3"
        path.parent.mkdir()
        processes = [subprocess.Popen([sys.executable, "-c", opener, str(path)], stderr=subprocess.PIPE, text=True)
                     for _ in range(6)]
        for process in processes:
            _, err = process.communicate(timeout=120)
            assert process.returncode == 0, err[-2000:]
