"""`python -m xenodia_jupyter check-live`, whose comparisons must be right the
day someone runs it against the real API: tested against the emulator (which
follows the contract: no difference) and against recorded odd answers."""

from __future__ import annotations

import os
import subprocess
import sys

from xenodia_jupyter.client.live_check import check_live, envelope_differences, header_notes, model_differences
from xenodia_jupyter.emulator import Emulator


def test_against_the_emulator_only_the_facts_are_reported(emu: Emulator) -> None:
    lines = check_live(emu.base_url, emu.api_key, spend=True, timeout_s=30)
    text = "\n".join(lines)
    assert "not in the contract" not in text and "the contract says" not in text, text
    assert "POST /v1/images/generations: HTTP 202" in text
    assert "states seen:" in text and "success" in text
    assert "result URL: host 127.0.0.1, query names ['X-Amz-Expires', 'X-Amz-Signature'], lifetime 3600" in text
    assert "X-Amz-Signature=" not in text and emu.api_key not in text  # names, never the signature or the key
    assert emu.stats.billed_calls == 1


def test_without_yes_nothing_is_spent(emu: Emulator) -> None:
    lines = check_live(emu.base_url, emu.api_key, spend=False)
    assert emu.stats.generate_posts == 0 and any("--yes" in line for line in lines)


def test_odd_answers_are_named_field_by_field() -> None:
    odd = {
        "task_id": "task_1", "state": "paused", "progress": "50%", "poll_url": "https://elsewhere.example/v1/tasks/task_1?sig=s3cret",
        "billing": {"status": "committed", "credits": 3}, "priority": "high",
    }
    notes = envelope_differences(odd)
    assert "task.state: 'paused' is not one of the documented states" in notes
    assert "task.progress: a string, the contract says int or float" in notes
    assert "task.billing.credits: not in the contract (number)" in notes
    assert "task.priority: not in the contract (string)" in notes
    assert any("absolute" in n and "s3cret" not in n for n in notes)
    catalogue = {"data": [{"id": "gpt-image-2", "enabled": "yes", "capabilities": {"pricing": {"mode": "per_token"}, "seed": True}}]}
    notes = model_differences(catalogue)
    assert "model.enabled: a string, the contract says bool" in notes
    assert "model.capabilities.seed: not in the contract" in notes
    assert any("per_token" in n for n in notes)
    assert model_differences([]) == ["/v1/models: no item with id 'gpt-image-2'"]
    assert header_notes({"Retry-After": "3", "X-RateLimit-Remaining": "9", "Server": "x"}, "POST") == [
        "POST header Retry-After: 3", "POST header X-RateLimit-Remaining: 9"
    ]


def test_the_command_prints_the_price_first_and_needs_yes_to_spend(emu: Emulator) -> None:
    env = {**os.environ, "XENODIA_BASE_URL": emu.base_url, "XENODIA_API_KEY": emu.api_key}
    shown = subprocess.run([sys.executable, "-m", "xenodia_jupyter", "check-live"], capture_output=True, text=True,
                           env=env, timeout=60, check=False)
    assert shown.returncode == 0 and shown.stdout.startswith("This calls model discovery (free).")
    assert emu.stats.generate_posts == 0
