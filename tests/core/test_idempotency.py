"""Idempotency keys: every generation POST carries its journal entry id; the
emulator honours the key as Xenodia documents it; the client resends a POST of
unknown fate only when told the server honours keys."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.store.entries import JournalState


def test_every_generation_post_carries_its_journal_entry_id(emu: Emulator, client: xj.Client) -> None:
    result = client.generate("keyed")
    assert list(emu.state.idempotency) == [result.journal_id]


def _post(emu: Emulator, key: str, prompt: str) -> httpx.Response:
    return httpx.post(
        f"{emu.base_url}/v1/images/generations",
        json={"model": "gpt-image-2", "prompt": prompt},
        headers={"Authorization": f"Bearer {emu.api_key}", "Idempotency-Key": key},
    )


def test_the_emulator_replays_a_key_and_refuses_it_for_another_request(emu: Emulator) -> None:
    first, again = _post(emu, "key-1", "a cat"), _post(emu, "key-1", "a cat")
    assert first.status_code == again.status_code == 202
    assert first.json()["task_id"] == again.json()["task_id"]
    assert emu.stats.billed_calls == 1 and emu.stats.idempotent_replays == 1
    conflict = _post(emu, "key-1", "a dog")
    assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_conflict"
    assert emu.stats.billed_calls == 1


def test_a_409_is_a_typed_error(emu: Emulator, client: xj.Client) -> None:
    emu.inject("generate", "status", status=409)
    with pytest.raises(xj.ConflictError):
        client.generate("conflict")


def test_an_unknown_post_is_not_resent_unless_keys_are_trusted(emu: Emulator, client: xj.Client) -> None:
    emu.inject("generate", "drop")  # the server took the POST (and billed it), then the connection dropped
    with pytest.raises(xj.APIConnectionError, match="may have been"):
        client.generate("dropped")
    assert emu.stats.generate_posts == 1 and emu.stats.billed_calls == 1
    (entry,) = client.store.journal.entries()
    assert entry.state == JournalState.UNKNOWN


def test_with_trusted_keys_an_unknown_post_is_resent_once_and_billed_once(
    emu: Emulator, make_client: Callable[..., xj.Client]
) -> None:
    client = make_client(trust_idempotency=True)
    emu.inject("generate", "drop")
    result = client.generate("dropped, then replayed")
    assert result.paths[0].exists()
    assert emu.stats.generate_posts == 2 and emu.stats.billed_calls == 1 and emu.stats.idempotent_replays == 1
