"""The request cache: an identical request answered from the output folder,
with no request to the API, when asked for."""

from __future__ import annotations

from collections.abc import Callable

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator


def test_the_cache_is_off_by_default(emu: Emulator, client: xj.Client) -> None:
    client.generate("twice")
    again = client.generate("twice")
    assert not again.cached and emu.stats.billed_calls == 2


def test_an_identical_request_is_served_from_the_folder(emu: Emulator, make_client: Callable[..., xj.Client]) -> None:
    from PIL import Image

    sketch = Image.new("RGB", (32, 32), "teal")
    client = make_client(cache=True)
    first = client.generate("cached", references=[sketch], aspect_ratio="16:9")
    posts = emu.stats.generate_posts
    again = make_client(cache=True).generate("cached", references=[sketch.copy()], aspect_ratio="16:9")
    assert again.cached and again.cost_usd == 0.0 and again.paths == first.paths
    assert emu.stats.generate_posts == posts, "a cached result sent a request"
    other = client.generate("cached", references=[sketch], aspect_ratio="4:3")  # another request: paid
    assert not other.cached and emu.stats.billed_calls == 2


def test_a_cached_result_whose_files_were_deleted_is_made_again(emu: Emulator, client: xj.Client) -> None:
    first = client.generate("deleted", cache=True)
    for path in first.paths:
        path.unlink()
    again = client.generate("deleted", cache=True)
    assert not again.cached and again.paths[0].exists() and emu.stats.billed_calls == 2


def test_generate_many_uses_the_cache_per_prompt(emu: Emulator, client: xj.Client) -> None:
    client.generate_many(["a", "b"], cache=True)
    results = client.generate_many(["a", "b", "c"], cache=True)
    assert [r.cached for r in results] == [True, True, False]
    assert emu.stats.billed_calls == 3
