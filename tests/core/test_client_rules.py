"""Every case of the bad-input corpus, replayed through `Client.generate` against
the emulator: each is refused with an error naming the field and the rule, and
nothing at all reaches the server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
from bad_inputs import BAD_INPUTS, BadInput  # noqa: E402


@pytest.fixture(scope="module")
def shared_emu() -> Emulator:
    with Emulator(latency=0.01) as emu:
        yield emu  # type: ignore[misc]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c.id for c in BAD_INPUTS])
def test_bad_input_is_refused_before_anything_is_sent(case: BadInput, shared_emu: Emulator, tmp_path: Path) -> None:
    shared_emu.reset()
    kwargs = case.generate_kwargs(tmp_path)
    prompt = kwargs.pop("prompt")
    with xj.Client(api_key=shared_emu.api_key, base_url=shared_emu.base_url, output_dir=tmp_path / "out") as client:
        with pytest.raises(xj.InvalidRequestError) as caught:
            client.generate(prompt, **kwargs)
        assert not client.store.journal.entries()
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.field.startswith(case.field.split("[")[0]), (error.field, case.field)
    assert case.message_contains.lower() in str(error).lower()
    assert shared_emu.stats.generate_posts == 0
    assert [r.path for r in shared_emu.requests if r.path != "/v1/models"] == []


def test_the_corpus_is_large_and_covers_every_kind() -> None:
    assert len(BAD_INPUTS) >= 40
    assert {c.kind for c in BAD_INPUTS} == {"reference", "prompt", "option"}
