"""A disk that fills up while a paid task is in flight, on a real file system
(a small tmpfs mounted for the test): the task id must survive in the error
when nothing can be written, and everything must work again once there is
space."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"this machine cannot mount a tmpfs for the test: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write until the disk is full; returns the filler to delete to free it."""
    filler = disk / "filler"
    with open(filler, "wb") as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()
    return filler


def test_the_task_id_survives_a_full_disk_in_the_error(small_disk: Path, emu: Emulator) -> None:
    out = small_disk / "out"
    client = xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=out, timeout=30)
    client.generate("warm the journal up")  # the journal exists and has room for a row
    emu.inject("generate", "delay", delay=1.5)  # the POST's answer comes late...
    filler: list[Path] = []
    # ...and the disk fills up while it is on its way (after the row was written).
    threading.Timer(0.7, lambda: filler.append(fill(small_disk))).start()
    with pytest.raises(xj.StorageError) as info:
        client.generate("a paid image on a full disk")
    error = info.value
    assert error.task_id and error.task_id in str(error)
    assert f"client.retrieve({error.task_id!r})" in str(error)
    assert emu.stats.billed_calls == 2
    while not filler:
        time.sleep(0.05)
    os.unlink(filler[0])  # space again
    saved = client.retrieve(error.task_id)
    assert saved.paths[0].exists() and emu.stats.billed_calls == 2  # collected, not paid again
    assert all(not isinstance(item, Exception) for item in client.recover())
    client.close()


def test_a_batch_whose_image_did_not_fit_is_recovered_once_there_is_space(small_disk: Path, emu: Emulator) -> None:
    out = small_disk / "out"
    client = xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=out, timeout=30)
    client.generate("warm the journal up")
    filler = fill(small_disk)
    os.truncate(filler, max(0, filler.stat().st_size - 96 * 1024))  # room for journal rows, not for an image
    results = client.generate_many(["one", "two", "three"], concurrency=1, resolution="2K", progress=False)
    assert any(isinstance(r, xj.StorageError) for r in results), results
    os.unlink(filler)
    recovered = client.recover()
    assert recovered and all(not isinstance(item, Exception) for item in recovered), recovered
    # A task whose id no file could hold is collected from its error, as the error says.
    for item in results:
        if isinstance(item, xj.StorageError) and item.task_id and "client.retrieve(" in str(item):
            client.retrieve(item.task_id)
    # Every call that was billed is saved now; the ones refused for want of journal room were never sent.
    assert len(list(out.glob("*.png"))) == emu.stats.billed_calls
    refused = [r for r in results if isinstance(r, xj.StorageError) and not r.task_id]
    assert all("nothing was sent" in str(r) for r in refused)
    assert [p for p in out.iterdir() if p.name.endswith(".part")] == []
    client.close()
