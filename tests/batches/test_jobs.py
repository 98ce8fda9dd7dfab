"""Named jobs: journaled before the first POST, resumed by the same call,
refused when the items differ; and a job killed mid-way finishes with every
image saved and each billed once."""

from __future__ import annotations

import os
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

PROMPTS = [f"item {i}" for i in range(5)]


def test_running_a_job_again_sends_nothing(emu: Emulator, client: xj.Client) -> None:
    first = client.generate_many(PROMPTS, job="again", concurrency=2)
    posts = emu.stats.generate_posts
    second = client.generate_many(PROMPTS, job="again", concurrency=2)
    assert emu.stats.generate_posts == posts == 5
    assert [r.paths for r in second] == [r.paths for r in first]


def test_only_the_items_never_billed_are_sent_again(emu: Emulator, client: xj.Client) -> None:
    emu.inject("generate", "status", status=402)  # the first POST is refused: nothing billed
    first = client.generate_many(PROMPTS, job="partial", concurrency=1)
    assert isinstance(first[0], xj.PaymentRequiredError)
    second = client.generate_many(PROMPTS, job="partial", concurrency=1)
    assert all(isinstance(r, xj.GenerationResult) for r in second)
    assert emu.stats.generate_posts == 6 and emu.stats.billed_calls == 5


def test_a_job_asked_for_other_items_is_refused_saying_what_differs(emu: Emulator, client: xj.Client) -> None:
    client.generate_many(PROMPTS, job="fixed")
    with pytest.raises(xj.InvalidRequestError, match=r"job.*item 3 differs"):
        client.generate_many([*PROMPTS[:3], "another", PROMPTS[4]], job="fixed")
    with pytest.raises(xj.InvalidRequestError, match="5 items, this call 2"):
        client.generate_many(PROMPTS[:2], job="fixed")
    with pytest.raises(xj.InvalidRequestError, match="job"):
        client.generate_many(PROMPTS, job="fixed", aspect_ratio="16:9")
    assert emu.stats.generate_posts == 5


def test_jobs_lists_counts_and_spend(emu: Emulator, client: xj.Client) -> None:
    emu.inject("generate", "status", status=402)
    client.generate_many(PROMPTS, job="counted", concurrency=1)
    (summary,) = client.jobs()
    assert summary["name"] == "counted" and summary["size"] == 5
    assert (summary["saved"], summary["failed"], summary["never_sent"]) == (4, 1, 0)
    assert summary["spent_usd"] == pytest.approx(0.28)
    assert "counted" in repr(client.jobs())


JOB_SCRIPT = """
import sys
import xenodia_jupyter as xj
client = xj.Client(trust_idempotency=True)
results = client.generate_many([f"row {i}" for i in range(200)], job="killed", concurrency=20, timeout=120)
print(sum(isinstance(r, xj.GenerationResult) for r in results))
"""


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_job_killed_midway_ends_with_every_image_billed_once(
    make_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    emu = make_emulator(latency=0.3)
    env = {
        **os.environ,
        "XENODIA_API_KEY": emu.api_key,
        "XENODIA_BASE_URL": emu.base_url,
        "XENODIA_OUTPUT_DIR": str(tmp_path / "out"),
    }
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(JOB_SCRIPT))
    first = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while emu.stats.billed_calls < 60 and time.monotonic() < deadline:
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert 0 < emu.stats.billed_calls < 200, "the kill did not land mid-job"
    second = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=200)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.strip() == "200"
    assert emu.stats.billed_calls == 200
    assert len(list((tmp_path / "out").glob("*.png"))) == 200
