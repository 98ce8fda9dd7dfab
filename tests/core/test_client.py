"""The client over real HTTP on loopback against the emulator: the happy paths,
both response modes, references, discovery, retrieve, batches and the budget."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from PIL import Image

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator


def test_generate_saves_a_real_image_with_its_prompt_beside_it(client: xj.Client, emu: Emulator) -> None:
    result = client.generate("a red bicycle", aspect_ratio="16:9", resolution="2K")

    assert isinstance(result, xj.GenerationResult)
    assert result.task_id and result.task_id.startswith("task_")
    assert result.image.size == (2048, 1152)
    assert result.images[0] is result.image
    assert len(result.urls) == 1 and result.urls[0].startswith(emu.cdn_url)
    assert result.paths[0].exists() and result.paths[0].suffix == ".png"
    meta = json.loads(result.paths[0].with_suffix(".json").read_text())
    assert meta["prompt"] == "a red bicycle"
    assert meta["aspect_ratio"] == "16:9" and meta["resolution"] == "2K"
    assert meta["task_id"] == result.task_id
    assert result.cost_usd == pytest.approx(0.07)
    assert emu.stats.billed_calls == 1
    assert emu.stats.downloads == 1
    assert emu.stats.auth_on_cdn == 0


def test_default_size_is_what_the_server_chooses(client: xj.Client) -> None:
    result = client.generate("a square by default")
    assert result.image.size == (1024, 1024)


def test_the_first_display_keeps_its_thumbnail_beside_the_image(client: xj.Client) -> None:
    result = client.generate("thumbs", aspect_ratio="16:9", resolution="4K")
    thumb = result.paths[0].with_suffix(".thumb.jpg")
    assert not thumb.exists(), "nothing is made before it is shown"
    shown = result.thumbnail()
    assert thumb.exists() and thumb.stat().st_size < 30_000
    assert shown == thumb.read_bytes()
    with Image.open(thumb) as im:
        assert im.format == "JPEG" and max(im.size) == 256
    thumb.write_bytes(b"\xff\xd8\xff marker")  # a later display reads the file, it does not decode again
    assert result.thumbnail() == b"\xff\xd8\xff marker"
    assert result.thumbnail(size=64) != thumb.read_bytes()  # other sizes come from the image itself
    assert result.image.size == (3840, 2160)


def test_images_are_opened_lazily(client: xj.Client) -> None:
    result = client.generate("lazy")
    image = result.image
    assert image.size == (1024, 1024)
    assert getattr(image, "_im", None) is None, "pixels were decoded before anyone touched them"
    assert image.getpixel((0, 0)) is not None


def test_sync_mode_server_works_too(make_emulator, make_client) -> None:  # type: ignore[no-untyped-def]
    emu = make_emulator(mode="sync")
    client = make_client(base_url=emu.base_url)
    result = client.generate("an older server", aspect_ratio="4:3")
    assert result.image.size == (1024, 768)
    assert emu.last_generation["async"] is True
    assert emu.stats.billed_calls == 1


def test_a_server_that_always_answers_200_with_urls_works(make_emulator, make_client) -> None:  # type: ignore[no-untyped-def]
    emu = make_emulator(mode="sync-only")
    client = make_client(base_url=emu.base_url)
    seen: list[str] = []
    result = client.generate("the oldest server", aspect_ratio="9:16", on_progress=lambda t: seen.append(t.state))
    assert result.task_id is None
    assert result.image.size == (576, 1024)
    assert seen == ["success"]
    assert emu.stats.polls == 0


def test_urls_from_a_200_answer_are_journaled_and_recovered(make_emulator, make_client) -> None:  # type: ignore[no-untyped-def]
    emu = make_emulator(mode="sync-only")
    client = make_client(base_url=emu.base_url)
    emu.inject("download", "status", status=500, count=10)
    with pytest.raises(xj.UpstreamError, match="recover"):
        client.generate("download later")
    emu.reset()
    recovered = client.recover()
    assert [r.prompt for r in recovered] == ["download later"]
    assert recovered[0].paths[0].exists()
    assert emu.stats.generate_posts == 0


def test_progress_rises_through_the_documented_states(make_emulator, make_client) -> None:  # type: ignore[no-untyped-def]
    emu = make_emulator(latency=0.6, poll_interval_ms=30)
    client = make_client(base_url=emu.base_url)
    seen: list[tuple[str, int | None]] = []
    client.generate("watch it", on_progress=lambda task: seen.append((task.state, task.progress)))

    states = [s for s, _ in seen]
    assert states[-1] == "success"
    assert "generating" in states
    order = ["waiting", "queuing", "generating", "success"]
    assert [order.index(s) for s in states] == sorted(order.index(s) for s in states)
    progress = [p for _, p in seen if p is not None]
    assert progress == sorted(progress) and progress[-1] == 100
    assert emu.stats.polls >= 3


@pytest.mark.parametrize("poll_url", ["relative", "absolute", "foreign"])
def test_polls_follow_poll_url_but_never_send_the_key_elsewhere(make_emulator, make_client, poll_url: str) -> None:  # type: ignore[no-untyped-def]
    emu = make_emulator(poll_url=poll_url)
    client = make_client(base_url=emu.base_url)
    result = client.generate("where do I poll")
    assert result.paths[0].exists()
    assert emu.stats.auth_on_cdn == 0
    cdn_requests = [r for r in emu.requests if r.origin == "cdn"]
    assert cdn_requests and not any(r.has_authorization for r in cdn_requests)
    api_polls = [r for r in emu.requests if r.origin == "api" and r.path.startswith("/v1/tasks/")]
    assert api_polls and all(r.has_authorization for r in api_polls)


# References ------------------------------------------------------------------------


def test_url_references_go_in_image_input_as_json(client: xj.Client, emu: Emulator) -> None:
    url = emu.cdn_url + "/refs/sample.png"
    client.generate("use this", references=[url])
    assert emu.last_generation["transport"] == "json"
    assert emu.last_generation["image_input"] == [url]
    assert emu.last_generation["files"] == []


def test_local_references_are_uploaded_as_image_parts(client: xj.Client, emu: Emulator, tmp_path: Path) -> None:
    jpeg = tmp_path / "photo.png"  # a JPEG with the wrong extension
    Image.new("RGB", (40, 30), "orange").save(jpeg, "JPEG")
    pil = Image.new("RGBA", (32, 32), (0, 128, 255, 100))
    client.generate("compose these", references=[jpeg, pil, jpeg.read_bytes()])

    gen = emu.last_generation
    assert gen["transport"] == "multipart"
    files = gen["files"]
    assert [f["field"] for f in files] == ["image"] * 3
    assert [f["content_type"] for f in files] == ["image/jpeg", "image/png", "image/jpeg"]
    assert files[0]["filename"].endswith(".jpg")
    assert files[0]["size"] == jpeg.stat().st_size
    assert gen["fields"]["model"] == "gpt-image-2"


def test_mixed_urls_and_files_upload_everything_as_files(client: xj.Client, emu: Emulator) -> None:
    url = emu.cdn_url + "/refs/sample.webp"
    client.generate("mixed", references=[Image.new("RGB", (16, 16), "red"), url])
    gen = emu.last_generation
    assert gen["transport"] == "multipart"
    assert gen["image_input"] == []
    assert [f["content_type"] for f in gen["files"]] == ["image/png", "image/webp"]
    assert emu.stats.auth_on_cdn == 0


def test_a_mixed_url_that_is_not_an_accepted_image_is_refused_before_the_post(
    client: xj.Client, emu: Emulator
) -> None:
    with pytest.raises(xj.InvalidRequestError, match="GIF"):
        client.generate("mixed", references=[Image.new("RGB", (8, 8)), emu.cdn_url + "/refs/sample.gif"])
    assert emu.stats.generate_posts == 0


def test_an_earlier_result_is_a_reference(client: xj.Client, emu: Emulator) -> None:
    first = client.generate("first")
    client.generate("second, from the first", references=first)
    files = emu.last_generation["files"]
    assert len(files) == 1 and files[0]["size"] == first.paths[0].stat().st_size


# Discovery ----------------------------------------------------------------------------


def test_model_reads_discovery_once_without_a_key(emu: Emulator, make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(api_key="")
    info = client.model()
    assert info.from_discovery
    assert info.aspect_ratios == ("auto", "1:1", "9:16", "16:9", "4:3", "3:4")
    assert info.resolutions == ("1K", "2K", "4K")
    assert info.max_references == 16
    assert info.price_usd == pytest.approx(0.07)
    assert client.model() is info
    assert emu.stats.model_requests == 1
    assert not any(r.has_authorization for r in emu.requests)


def test_model_falls_back_to_the_documented_rules(emu: Emulator, client: xj.Client) -> None:
    emu.inject("models", "status", status=500, count=10)
    info = client.model()
    assert not info.from_discovery
    assert info.resolutions == ("1K", "2K", "4K") and info.price_usd == pytest.approx(0.07)
    # generation still works, and still checks the rules
    assert client.generate("without discovery").paths
    with pytest.raises(xj.InvalidRequestError, match="resolution"):
        client.generate("x", aspect_ratio="auto", resolution="2K")


# Retrieve, recover, history ---------------------------------------------------------------


def test_timeout_names_the_task_and_retrieve_finishes_it_without_a_new_post(make_emulator, make_client) -> None:  # type: ignore[no-untyped-def]
    emu = make_emulator(latency=1.0, poll_interval_ms=50)
    client = make_client(base_url=emu.base_url)
    with pytest.raises(xj.TaskTimeoutError) as caught:
        client.generate("slow one", timeout=0.2)
    error = caught.value
    assert isinstance(error, TimeoutError)
    assert error.task_id and error.task_id in str(error)
    assert error.last_state in ("waiting", "queuing", "generating")

    result = client.retrieve(error.task_id, timeout=10)
    assert result.paths[0].exists() and result.prompt == "slow one"
    assert emu.stats.billed_calls == 1 and emu.stats.generate_posts == 1


def test_recover_saves_what_was_paid_for_and_history_lists_it(make_emulator, make_client) -> None:  # type: ignore[no-untyped-def]
    emu = make_emulator(latency=2.0, poll_interval_ms=50)
    client = make_client(base_url=emu.base_url)
    client.model()  # discovery first: on a loaded machine it alone can take 0.1 s
    with pytest.raises(xj.TaskTimeoutError):  # sent, then given up while the task runs
        client.generate("interrupted", timeout=0.5)
    assert client.history() == []

    recovered = client.recover(timeout=10)
    assert len(recovered) == 1 and isinstance(recovered[0], xj.GenerationResult)
    assert recovered[0].paths[0].exists()
    assert client.recover() == []  # nothing left to do
    history = client.history()
    assert [r.prompt for r in history] == ["interrupted"]
    assert emu.stats.generate_posts == 1


def test_history_is_newest_first(client: xj.Client) -> None:
    for prompt in ("one", "two", "three"):
        client.generate(prompt)
    assert [r.prompt for r in client.history()] == ["three", "two", "one"]
    assert [r.prompt for r in client.history(limit=2)] == ["three", "two"]


# Batches ----------------------------------------------------------------------------------


def test_generate_many_keeps_input_order_and_returns_failures_in_place(client: xj.Client, emu: Emulator) -> None:
    prompts = [f"prompt {i}" for i in range(6)]
    emu.next_task("fail", count=1)
    results = client.generate_many(prompts, concurrency=3)

    assert len(results) == 6
    failures = [r for r in results if isinstance(r, xj.XenodiaError)]
    assert len(failures) == 1 and isinstance(failures[0], xj.GenerationFailedError)
    for prompt, item in zip(prompts, results, strict=True):
        if isinstance(item, xj.GenerationResult):
            assert item.prompt == prompt
            assert json.loads(item.paths[0].with_suffix(".json").read_text())["prompt"] == prompt
    assert emu.stats.billed_calls == 6


def test_generate_many_checks_every_prompt_before_sending(client: xj.Client, emu: Emulator) -> None:
    with pytest.raises(xj.InvalidRequestError, match=r"prompts\[2\]"):
        client.generate_many(["ok", "fine", "  "])
    with pytest.raises(xj.InvalidRequestError, match="resolution"):
        client.generate_many(["ok"], aspect_ratio="1:1", resolution="4K")
    assert emu.stats.generate_posts == 0


def test_generate_many_bounds_concurrency(make_emulator, make_client) -> None:  # type: ignore[no-untyped-def]
    emu = make_emulator(latency=0.3, poll_interval_ms=20)
    client = make_client(base_url=emu.base_url)
    results = client.generate_many([f"p{i}" for i in range(6)], concurrency=2)
    assert all(isinstance(r, xj.GenerationResult) for r in results)
    assert emu.stats.max_in_flight <= 2


# Budget -------------------------------------------------------------------------------------


def test_budget_refuses_the_call_that_would_pass_it(make_client, emu: Emulator) -> None:  # type: ignore[no-untyped-def]
    client = make_client(budget_usd=0.10)
    client.generate("first")
    with pytest.raises(xj.BudgetExceededError) as caught:
        client.generate("second")
    message = str(caught.value)
    assert "budget_usd" in message and "$0.07" in message and "$0.10" in message
    assert isinstance(caught.value, xj.InvalidRequestError)
    assert emu.stats.generate_posts == 1
    assert client.spent_usd == pytest.approx(0.07)


def test_a_refused_call_is_not_counted_against_the_budget(make_client, emu: Emulator) -> None:  # type: ignore[no-untyped-def]
    client = make_client(budget_usd=0.07)
    emu.inject("generate", "status", status=502)
    with pytest.raises(xj.UpstreamError):
        client.generate("refused")
    assert client.spent_usd == 0
    assert client.generate("now it fits").paths


# The async client ---------------------------------------------------------------------------


def test_async_client_runs_calls_concurrently(emu: Emulator, tmp_path: Path) -> None:
    async def main() -> list[xj.GenerationResult]:
        async with xj.AsyncClient(api_key=emu.api_key, base_url=emu.base_url, output_dir=tmp_path) as aclient:
            return await asyncio.gather(*(aclient.generate(f"async {i}") for i in range(3)))

    results = asyncio.run(main())
    assert [r.prompt for r in results] == ["async 0", "async 1", "async 2"]
    assert all(r.paths[0].exists() for r in results)


def test_environment_configures_the_module_level_functions(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XENODIA_API_KEY", emu.api_key)
    monkeypatch.setenv("XENODIA_BASE_URL", emu.base_url)
    result = xj.generate("from the environment")
    assert result.paths[0].exists()
    assert [r.prompt for r in xj.history()] == ["from the environment"]
    first = xj.default_client()
    assert xj.default_client() is first


def test_without_a_key_nothing_is_sent(make_client, emu: Emulator) -> None:  # type: ignore[no-untyped-def]
    client = make_client(api_key="")
    with pytest.raises(xj.InvalidRequestError, match="XENODIA_API_KEY"):
        client.generate("no key")
    assert emu.stats.generate_posts == 0
