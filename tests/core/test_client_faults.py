"""Faults, each against the emulator over real HTTP: every error status, bodies of
every shape, dropped and slow connections, failed and stuck tasks, broken result
files.  Each ends in a typed error or in success, and a billed POST is never
repeated unless the rules allow it."""

from __future__ import annotations

import socket

import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.store.entries import JournalState

SECRET = "xenodia-test-secret-key-0123456789"


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, xj.APIError),
        (401, xj.AuthenticationError),
        (402, xj.PaymentRequiredError),
        (429, xj.RateLimitError),
        (500, xj.UpstreamError),
        (502, xj.UpstreamError),
        (503, xj.UpstreamError),
    ],
)
def test_each_error_status_on_the_post_is_typed_and_not_repeated(
    client: xj.Client, emu: Emulator, status: int, error_class: type[xj.APIError]
) -> None:
    emu.inject("generate", "status", status=status)
    with pytest.raises(error_class) as caught:
        client.generate("refused")
    error = caught.value
    assert type(error) is error_class
    assert error.status_code == status
    assert error.message and error.message in str(error)
    assert emu.stats.generate_posts == 1
    assert emu.stats.billed_calls == 0
    entry = client.store.journal.entries()[0]
    assert entry.state == JournalState.REFUSED


@pytest.mark.parametrize("kind", ["nested", "html", "empty"])
def test_error_bodies_of_every_shape_become_readable_errors(client: xj.Client, emu: Emulator, kind: str) -> None:
    emu.inject("generate", kind, status=402)
    with pytest.raises(xj.PaymentRequiredError) as caught:
        client.generate("no money")
    message = caught.value.message
    assert message.strip()
    assert "<" not in message, "HTML must be reduced to its text"


def test_flat_error_envelope_keeps_code_and_message(client: xj.Client, emu: Emulator) -> None:
    emu.inject("generate", "status", status=402)
    with pytest.raises(xj.PaymentRequiredError) as caught:
        client.generate("no money")
    assert caught.value.code


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_with_retry_after_are_retried_once_billed_once(
    client: xj.Client, emu: Emulator, status: int
) -> None:
    emu.inject("generate", "status", status=status, retry_after=0.1)
    result = client.generate("try again later")
    assert result.paths[0].exists()
    assert emu.stats.generate_posts == 2
    assert emu.stats.billed_calls == 1


def test_429_without_retry_after_is_not_retried(client: xj.Client, emu: Emulator) -> None:
    emu.inject("generate", "status", status=429)
    with pytest.raises(xj.RateLimitError) as caught:
        client.generate("slow down")
    assert caught.value.retry_after is None
    assert emu.stats.generate_posts == 1


def test_rate_limit_error_carries_retry_after(make_client, emu: Emulator) -> None:  # type: ignore[no-untyped-def]
    client = make_client(max_retries=0)
    emu.inject("generate", "status", status=429, retry_after=7)
    with pytest.raises(xj.RateLimitError) as caught:
        client.generate("slow down")
    assert caught.value.retry_after == pytest.approx(7)


def test_connection_refused_is_retried_then_reported(make_client) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{port}", max_retries=1)
    with pytest.raises(xj.APIConnectionError, match="could not reach"):
        client.generate("nobody home")


def test_connection_dropped_after_the_post_is_not_repeated(client: xj.Client, emu: Emulator) -> None:
    emu.inject("generate", "drop")
    with pytest.raises(xj.APIConnectionError, match="not repeated"):
        client.generate("dropped")
    assert emu.stats.generate_posts == 1
    assert emu.stats.billed_calls == 1
    assert client.store.journal.entries()[0].state == JournalState.UNKNOWN


def test_read_timeout_on_the_post_is_not_repeated(make_client, emu: Emulator) -> None:  # type: ignore[no-untyped-def]
    client = make_client(request_timeout=0.3)
    emu.inject("generate", "delay", delay=1.5)
    with pytest.raises(xj.APIConnectionError, match="may have been accepted"):
        client.generate("slow server")
    assert emu.stats.generate_posts == 1


@pytest.mark.parametrize("kind", ["status", "drop", "malformed", "html", "empty"])
def test_a_failing_poll_is_retried(client: xj.Client, emu: Emulator, kind: str) -> None:
    emu.inject("poll", kind, status=502, count=2)
    result = client.generate("flaky polls")
    assert result.paths[0].exists()
    assert emu.stats.generate_posts == 1


def test_a_poll_429_honours_retry_after(client: xj.Client, emu: Emulator) -> None:
    emu.inject("poll", "status", status=429, retry_after=0.05, count=2)
    assert client.generate("rate limited polls").paths


def test_an_unknown_task_is_not_found_with_its_id(client: xj.Client) -> None:
    with pytest.raises(xj.NotFoundError) as caught:
        client.retrieve("task_does_not_exist", timeout=5)
    assert caught.value.status_code == 404
    assert caught.value.task_id == "task_does_not_exist"


def test_a_failed_task_raises_with_the_servers_reason(client: xj.Client, emu: Emulator) -> None:
    emu.next_task("fail")
    with pytest.raises(xj.GenerationFailedError) as caught:
        client.generate("doomed")
    assert caught.value.task_id.startswith("task_")
    assert "upstream model error" in str(caught.value)
    assert client.store.journal.entries()[0].state == "fail"
    assert client.spent_usd == 0  # the billing block said the reserve was released


@pytest.mark.parametrize(("outcome", "state"), [("stuck", "generating"), ("unknown_state", "paused")])
def test_a_task_that_never_ends_times_out_with_its_id(
    make_emulator, make_client, outcome: str, state: str
) -> None:  # type: ignore[no-untyped-def]
    emu = make_emulator(latency=0.05, poll_interval_ms=20)
    client = make_client(base_url=emu.base_url)
    emu.next_task(outcome)
    with pytest.raises(xj.TaskTimeoutError) as caught:
        client.generate("forever", timeout=0.5)
    assert caught.value.last_state == state
    assert caught.value.task_id in str(caught.value)
    assert not list(client.store.root.glob("*.png"))


def test_an_expired_result_url_is_reported_and_recover_gets_fresh_ones(
    client: xj.Client, emu: Emulator
) -> None:
    emu.inject("download", "status", status=404)
    with pytest.raises(xj.NotFoundError, match="recover"):
        client.generate("expired")
    recovered = client.recover()
    assert isinstance(recovered[0], xj.GenerationResult) and recovered[0].paths[0].exists()
    assert emu.stats.generate_posts == 1


@pytest.mark.parametrize(("kind", "match"), [("malformed", "did not return an image"), ("truncated", "truncated")])
def test_a_broken_result_file_is_never_saved(client: xj.Client, emu: Emulator, kind: str, match: str) -> None:
    emu.inject("download", kind, count=10)
    with pytest.raises(xj.APIConnectionError, match=match):
        client.generate("broken file")
    assert not list(client.store.root.glob("*.png"))


def test_a_result_larger_than_the_cap_is_refused(make_client, emu: Emulator) -> None:  # type: ignore[no-untyped-def]
    client = make_client(max_download_bytes=10_000)
    with pytest.raises(xj.APIConnectionError, match="cap"):
        client.generate("too big")


def test_a_dropped_download_is_retried(client: xj.Client, emu: Emulator) -> None:
    emu.inject("download", "drop")
    assert client.generate("flaky cdn").paths[0].exists()


def test_a_wrong_key_is_an_authentication_error_that_does_not_contain_the_key(make_emulator, make_client) -> None:  # type: ignore[no-untyped-def]
    emu = make_emulator(api_key="the-right-key")
    client = make_client(base_url=emu.base_url, api_key=SECRET)
    with pytest.raises(xj.AuthenticationError) as caught:
        client.generate("wrong key")
    assert caught.value.status_code == 401
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    assert SECRET not in repr(client)


def test_a_malformed_answer_to_the_post_is_not_repeated(client: xj.Client, emu: Emulator) -> None:
    emu.inject("generate", "malformed")
    with pytest.raises(xj.APIConnectionError, match="not JSON"):
        client.generate("garbled")
    assert emu.stats.generate_posts == 1
    assert client.store.journal.entries()[0].state == JournalState.UNKNOWN


def test_a_slow_poll_times_out_and_is_retried(make_client, emu: Emulator) -> None:  # type: ignore[no-untyped-def]
    client = make_client(request_timeout=0.3)
    emu.inject("poll", "delay", delay=1.0)
    result = client.generate("slow poll")
    assert result.paths[0].exists()
    assert emu.stats.generate_posts == 1 and emu.stats.polls >= 2
