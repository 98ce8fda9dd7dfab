"""Load: 500 generations at concurrency 50 against the emulator with about 5% of
requests spoiled.  Every generation is accounted for (saved, or a typed error
in its place and in the journal), and nothing is left open."""

from __future__ import annotations

import gc
import os
import resource
from pathlib import Path

import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator

FAULTS = [
    ("generate", "status", {"status": 502}),  # refused: a typed error, not billed
    ("generate", "status", {"status": 429, "retry_after": 0.05}),  # retried once, billed once
    ("poll", "drop", {}),
    ("poll", "status", {"status": 503}),
    ("poll", "malformed", {}),
    ("download", "drop", {}),
    ("download", "status", {"status": 500}),
]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_500_generations_at_concurrency_50_with_faults_are_all_accounted_for(tmp_path: Path) -> None:
    gc.collect()
    fds_before, rss_before = _open_fds(), _rss_mb()
    with Emulator(latency=0.05, poll_interval_ms=20) as emu:
        emu.inject_randomly(0.05, FAULTS, seed=7)
        with xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=tmp_path) as client:
            prompts = [f"load {i}" for i in range(500)]
            results = client.generate_many(prompts, concurrency=50)
            entries = {e.prompt: e for e in client.store.journal.entries()}
        spoiled = emu.state.random_faults
        stats = emu.stats

    assert len(results) == 500
    saved = [r for r in results if isinstance(r, xj.GenerationResult)]
    failed = [r for r in results if isinstance(r, xj.XenodiaError)]
    assert len(saved) + len(failed) == 500
    assert spoiled >= 10, "the faults were really injected"
    assert len(saved) >= 450
    for prompt, item in zip(prompts, results, strict=True):
        entry = entries[prompt]
        if isinstance(item, xj.GenerationResult):
            assert item.prompt == prompt and item.paths[0].exists()
            assert entry.state == "saved"
        else:
            assert entry.error, f"{prompt}: the error must be journaled"
    # A POST is repeated only after a 429 with Retry-After: never billed twice.
    assert stats.billed_calls <= 500
    assert stats.billed_calls == sum(1 for e in entries.values() if e.task_id)
    assert stats.max_in_flight <= 50

    gc.collect()
    assert _open_fds() <= fds_before + 3, "file descriptors or sockets were left open"
    assert _rss_mb() - rss_before < 400, "memory grew without bound"
    assert not list(tmp_path.glob(".*.part")), "no half-written file is left behind"
