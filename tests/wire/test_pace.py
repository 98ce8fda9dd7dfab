"""One pace for a client: a POST rate, a cap on tasks in flight, and a pause
the server asks for that every pending POST honours."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator


def test_a_rate_that_leaves_no_turn_before_the_deadline_sends_nothing_more(
    emu: Emulator, make_client: Callable[..., xj.Client]
) -> None:
    client = make_client(max_requests_per_minute=6)  # one POST every 10 s
    results = client.generate_many(["first", "second", "third"], concurrency=3, timeout=4)
    sent = [r for r in results if isinstance(r, xj.GenerationResult)]
    refused = [r for r in results if isinstance(r, xj.RateLimitError)]
    assert len(sent) == 1 and len(refused) == 2
    assert emu.stats.generate_posts == 1


def test_max_in_flight_caps_the_tasks_the_server_holds(emu: Emulator, make_client: Callable[..., xj.Client]) -> None:
    emu.state.latency = 0.2
    client = make_client(max_in_flight=2)
    results = client.generate_many([f"p{i}" for i in range(6)], concurrency=6)
    assert all(isinstance(r, xj.GenerationResult) for r in results)
    assert emu.stats.max_in_flight <= 2


def test_a_retry_after_pauses_every_pending_post(emu: Emulator, client: xj.Client) -> None:
    emu.inject("generate", "status", status=429, retry_after=30)
    results = client.generate_many(["a", "b", "c"], concurrency=1, timeout=5)
    assert all(isinstance(r, xj.RateLimitError) for r in results)
    assert emu.stats.generate_posts == 1, "the others were sent although the server asked everyone to wait"


@pytest.mark.parametrize(("name", "bad"), [("max_requests_per_minute", 0), ("max_in_flight", 0), ("max_in_flight", 1.5)])
def test_pace_settings_are_checked(make_client: Callable[..., xj.Client], name: str, bad: object) -> None:
    with pytest.raises(xj.InvalidRequestError, match=name):
        make_client(**{name: bad})


def test_a_retry_after_holds_back_posts_whose_turn_was_already_booked(
    emu: Emulator, make_client: Callable[..., xj.Client]
) -> None:
    client = make_client(max_requests_per_minute=300)  # one POST per 200 ms: 8 turns booked at once
    emu.inject("generate", "status", status=429, retry_after=2)
    results = client.generate_many([f"a gull, {i}" for i in range(8)], concurrency=8, timeout=60)
    assert all(isinstance(r, xj.GenerationResult) for r in results)
    posts = sorted(r.at for r in emu.requests if r.method == "POST" and r.path.endswith("/generations"))
    assert len(posts) == 9
    during_pause = [t for t in posts[1:] if t < posts[0] + 1.5]
    assert len(during_pause) <= 1, f"{len(during_pause)} POSTs went out while the server asked for a pause"
