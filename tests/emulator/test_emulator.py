"""The emulator against the contract (xenodia-api.md), over real HTTP on loopback.

Most tests share one running emulator (reset before each test); the ones that
need other settings start their own.  Time-based task states are tested
without waiting by moving a task's creation time into the past.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from xenodia_jupyter.emulator import Emulator, EmulatorState, create_app
from xenodia_jupyter.emulator.app import create_cdn_app, model_item
from xenodia_jupyter.emulator.render import prompt_colours, render_image, sample_reference
from xenodia_jupyter.wire import rules

REPO = Path(__file__).resolve().parents[2]
GOOD = {"model": "gpt-image-2", "prompt": "a red bicycle"}
CURL_PROMPT = "Use the uploaded reference as the product shape."
CURL_EXAMPLE = """\
curl -X POST "$XENODIA_BASE_URL/v1/images/generations" \\
  -H "Authorization: Bearer $XENODIA_API_KEY" \\
  -F "model=gpt-image-2" -F "prompt=Use the uploaded reference as the product shape." \\
  -F "response_format=url" -F "image=@./reference.png"
"""  # verbatim from xenodia-api.md


# Fixtures and helpers ----------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[Emulator]:
    with Emulator(latency=0.2) as emu:
        yield emu


@pytest.fixture
def emulator(shared_emulator: Emulator) -> Emulator:
    shared_emulator.reset()
    return shared_emulator


@pytest.fixture
def make_emu() -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def make(**options: Any) -> Emulator:
        emu = Emulator(**options).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


def api_client(emu: Emulator, key: str | None = "default", **kw: Any) -> httpx.Client:
    headers = {} if key is None else {"Authorization": f"Bearer {emu.api_key if key == 'default' else key}"}
    return httpx.Client(base_url=emu.base_url, headers=headers, timeout=kw.pop("timeout", 30), **kw)


@pytest.fixture
def api(emulator: Emulator) -> Iterator[httpx.Client]:
    with api_client(emulator) as client:
        yield client


def png(size: tuple[int, int] = (16, 16), colour: str = "red", fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def post(client: httpx.Client, **fields: Any) -> httpx.Response:
    return client.post("/v1/images/generations", json={**GOOD, **fields})


def wait_done(client: httpx.Client, task_id: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/v1/tasks/{task_id}").json()
        if body["state"] in ("success", "fail"):
            return body
        assert time.monotonic() < deadline, f"task {task_id} still {body['state']}"
        time.sleep(0.01)


def age(emu: Emulator, task_id: str, seconds: float) -> None:
    """Pretend the task was created `seconds` earlier."""
    emu.state.tasks[task_id].created_mono -= seconds


def finished_task(emu: Emulator, client: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = post(client, **fields)
    assert response.status_code == 202, response.text
    age(emu, response.json()["task_id"], 100)
    return client.get(f"/v1/tasks/{response.json()['task_id']}").json()


def assert_flat_error(response: httpx.Response, status: int, error: str, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "type", "code"}
    assert body["error"] == error
    if field is not None:
        assert body["message"].startswith(f"{field}: "), body["message"]
        assert body["type"] == "invalid_request_error" and body["code"] == "invalid_parameter"
    return body


def count_pixels(image: Image.Image, wanted: Callable[[tuple[int, ...]], bool]) -> int:
    colours = image.convert("RGB").getcolors(1 << 24) or []
    return sum(n for n, colour in colours if isinstance(colour, tuple) and wanted(colour))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Discovery and auth --------------------------------------------------------------------------


def test_models_is_public_and_serves_the_contract_item(emulator: Emulator) -> None:
    response = httpx.get(emulator.base_url + "/v1/models")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list" and len(body["data"]) == 1
    item = body["data"][0]
    assert item["id"] == "gpt-image-2" and item["enabled"] is True
    caps = item["capabilities"]
    assert caps["pricing"] == {
        "mode": "per_call",
        "tiers": [{"id": "default", "label": "Per call", "unit": "image", "price_micro_usdc": 70000}],
    }
    assert caps["parameters"] == [
        {"name": "aspect_ratio", "enum": ["auto", "1:1", "9:16", "16:9", "4:3", "3:4"]},
        {"name": "resolution", "enum": ["1K", "2K", "4K"]},
    ]
    assert caps["reference_input"] == {"supported": True, "transport": ["url", "multipart_file"], "max_items": 16}
    assert emulator.stats.model_requests == 1
    assert emulator.requests[-1].has_authorization is False


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "abc"])
def test_generation_without_a_bearer_key_is_401(emulator: Emulator, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = httpx.post(emulator.base_url + "/v1/images/generations", json=GOOD, headers=headers)
    assert_flat_error(response, 401, "unauthorized")
    assert emulator.stats.generate_posts == 1 and emulator.stats.billed_calls == 0


def test_any_key_works_when_none_is_configured(emulator: Emulator) -> None:
    assert emulator.api_key == "emulator-test-key"
    with api_client(emulator, key="whatever-you-like") as client:
        assert post(client).status_code == 202


def test_a_configured_key_is_the_only_one_accepted(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(api_key="the-right-key")
    assert emu.api_key == "the-right-key"
    with api_client(emu, key="the-wrong-key") as wrong, api_client(emu) as right:
        body = assert_flat_error(post(wrong), 401, "unauthorized")
        assert "the-wrong-key" not in body["message"]
        accepted = post(right)
        assert accepted.status_code == 202
        assert wrong.get(accepted.json()["poll_url"]).status_code == 401
        assert right.get(accepted.json()["poll_url"]).status_code == 200
    assert emu.stats.billed_calls == 1


def test_polls_need_a_key(emulator: Emulator, api: httpx.Client) -> None:
    task_id = post(api).json()["task_id"]
    assert_flat_error(httpx.get(f"{emulator.base_url}/v1/tasks/{task_id}"), 401, "unauthorized")


# Generation requests: transports ------------------------------------------------------------------


def test_the_documented_curl_example_works_verbatim(emulator: Emulator, tmp_path: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed (the httpx twin of this test still runs)")
    (tmp_path / "reference.png").write_bytes(png())
    command = CURL_EXAMPLE
    env = {**os.environ, "XENODIA_BASE_URL": emulator.base_url, "XENODIA_API_KEY": emulator.api_key}
    done = subprocess.run(["sh", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["state"] == "waiting" and body["task_id"].startswith("task_")
    generation = emulator.last_generation
    assert generation is not None and generation["transport"] == "multipart"
    assert generation["fields"] == {"model": "gpt-image-2", "prompt": CURL_PROMPT, "response_format": "url"}
    [upload] = generation["files"]
    assert upload["field"] == "image" and upload["filename"] == "reference.png"
    assert upload["content_type"] == "image/png" and upload["mime_sniffed"] == "image/png"
    assert upload["size"] == len(png())


def test_the_curl_example_as_httpx_sends_it(emulator: Emulator, api: httpx.Client) -> None:
    response = api.post(
        "/v1/images/generations",
        data={"model": "gpt-image-2", "prompt": CURL_PROMPT, "response_format": "url"},
        files={"image": ("reference.png", png(), "image/png")},
    )
    assert response.status_code == 202, response.text
    assert response.json()["request"]["images"] == [
        {"filename": "reference.png", "content_type": "image/png", "size": len(png())}
    ]
    assert emulator.stats.billed_calls == 1


@pytest.mark.parametrize("field", ["image", "image[]", "image_input[]"])
def test_files_are_accepted_under_each_documented_field_name(emulator: Emulator, api: httpx.Client, field: str) -> None:
    files = [(field, ("a.jpg", png(fmt="JPEG"), "image/jpeg")), (field, ("b.webp", png(fmt="WEBP"), "image/webp"))]
    response = api.post("/v1/images/generations", data=GOOD, files=files)
    assert response.status_code == 202, response.text
    generation = emulator.last_generation
    assert generation is not None
    assert [(f["field"], f["mime_sniffed"]) for f in generation["files"]] == [
        (field, "image/jpeg"),
        (field, "image/webp"),
    ]


def test_json_with_image_input_records_foreign_urls_and_fetches_its_own(emulator: Emulator, api: httpx.Client) -> None:
    own = emulator.cdn_url + "/refs/sample.jpg"
    response = post(api, image_input=["https://example.com/shoe.png", own], aspect_ratio="4:3")
    assert response.status_code == 202, response.text
    generation = emulator.last_generation
    assert generation is not None
    assert generation["transport"] == "json" and generation["files"] == []
    assert generation["image_input"] == ["https://example.com/shoe.png", own]
    assert generation["fields"] == {**GOOD, "aspect_ratio": "4:3"}
    assert emulator.stats.reference_downloads == 1
    assert response.json()["request"]["image_input"] == generation["image_input"]


def test_references_from_our_cdn_are_composited_and_foreign_ones_are_not(emulator: Emulator, api: httpx.Client) -> None:
    def render(**fields: Any) -> bytes:
        return httpx.get(finished_task(emulator, api, **fields)["result"]["data"][0]["url"]).content

    plain = render()
    assert render(image_input=["https://example.com/a.png"]) == plain
    assert render(image_input=[emulator.cdn_url + "/refs/sample.png"]) != plain


def test_multipart_may_mix_url_fields_and_files(emulator: Emulator, api: httpx.Client) -> None:
    data = {**GOOD, "image_input[]": "https://example.com/a.png"}
    response = api.post("/v1/images/generations", data=data, files={"image": ("a.png", png(), "image/png")})
    assert response.status_code == 202, response.text
    generation = emulator.last_generation
    assert generation is not None and generation["image_input"] == ["https://example.com/a.png"]
    assert len(generation["files"]) == 1


def test_an_earlier_result_url_is_fetched_as_a_reference(emulator: Emulator, api: httpx.Client) -> None:
    first = finished_task(emulator, api)
    url = first["result"]["data"][0]["url"]
    assert post(api, image_input=[url]).status_code == 202
    assert emulator.stats.reference_downloads == 1
    emulator.expire_results()
    assert_flat_error(post(api, image_input=[url]), 400, "bad_request", "image_input")


# Generation requests: every rule -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": "gpt-image-1"}, "model"),
        ({"model": None}, "model"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({"aspect_ratio": "2:1"}, "aspect_ratio"),
        ({"resolution": "8K"}, "resolution"),
        ({"aspect_ratio": "auto", "resolution": "2K"}, "resolution"),
        ({"aspect_ratio": "1:1", "resolution": "4K"}, "resolution"),
        ({"response_format": "b64_json"}, "response_format"),
        ({"output_format": "png"}, "output_format"),
        ({"n": 2}, "n"),
        ({"async": "maybe"}, "async"),
        ({"image_input": "https://example.com/a.png"}, "image_input"),
        ({"image_input": [f"https://example.com/{i}.png" for i in range(17)]}, "image_input"),
        ({"image_input": ["ftp://example.com/a.png"]}, "image_input"),
        ({"image_input": ["https://user:pw@example.com/a.png"]}, "image_input"),
    ],
)
def test_each_rule_is_a_400_naming_the_field(emulator: Emulator, api: httpx.Client, change: dict, field: str) -> None:
    body = {**GOOD, **change}
    response = api.post("/v1/images/generations", json={k: v for k, v in body.items() if v is not None})
    assert_flat_error(response, 400, "bad_request", field)
    assert emulator.stats.generate_posts == 1 and emulator.stats.billed_calls == 0
    assert emulator.last_generation is None


@pytest.mark.parametrize("missing", ["model", "prompt"])
def test_required_fields(api: httpx.Client, missing: str) -> None:
    body = {k: v for k, v in GOOD.items() if k != missing}
    assert_flat_error(api.post("/v1/images/generations", json=body), 400, "bad_request", missing)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b""])
def test_a_body_that_is_not_a_json_object_is_a_400(api: httpx.Client, raw: bytes) -> None:
    response = api.post("/v1/images/generations", content=raw, headers={"Content-Type": "application/json"})
    assert_flat_error(response, 400, "bad_request", "body")


def test_every_aspect_and_resolution_pair_follows_the_rules() -> None:
    async def main() -> None:
        transport = httpx.ASGITransport(app=create_app(EmulatorState(latency=0)))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers={"Authorization": "Bearer k"}
        ) as c:
            for aspect in (*rules.ASPECT_RATIOS, None):
                for resolution in (*rules.RESOLUTIONS, None):
                    fields = {k: v for k, v in (("aspect_ratio", aspect), ("resolution", resolution)) if v}
                    response = await c.post("/v1/images/generations", json={**GOOD, **fields})
                    problem = rules.combination_problem(aspect, resolution)
                    assert response.status_code == (400 if problem else 202), (aspect, resolution)

    asyncio.run(main())


def test_a_gif_is_refused_by_its_bytes_whatever_its_name(api: httpx.Client) -> None:
    response = api.post(
        "/v1/images/generations", data=GOOD, files={"image[]": ("fake.png", png(fmt="GIF"), "image/png")}
    )
    body = assert_flat_error(response, 400, "bad_request", "image[]")
    assert "GIF" in body["message"]


def test_a_url_reference_on_our_cdn_is_checked_by_its_bytes(emulator: Emulator, api: httpx.Client) -> None:
    body = assert_flat_error(
        post(api, image_input=[emulator.cdn_url + "/refs/sample.gif"]), 400, "bad_request", "image_input"
    )
    assert "GIF" in body["message"]


def test_files_up_to_30_mib_are_accepted_and_one_byte_more_is_not(emulator: Emulator, api: httpx.Client) -> None:
    head = b"\x89PNG\r\n\x1a\n"
    exact = head + bytes(rules.MAX_REFERENCE_BYTES - len(head))
    response = api.post("/v1/images/generations", data=GOOD, files={"image": ("big.png", exact, "image/png")})
    assert response.status_code == 202, response.text
    generation = emulator.last_generation
    assert generation is not None and generation["files"][0]["size"] == rules.MAX_REFERENCE_BYTES
    emulator.state.tasks[response.json()["task_id"]].references.clear()  # do not keep 30 MiB around
    response = api.post("/v1/images/generations", data=GOOD, files={"image": ("big.png", exact + b"\0", "image/png")})
    body = assert_flat_error(response, 400, "bad_request", "image")
    assert "31,457,281 bytes" in body["message"]
    assert emulator.stats.billed_calls == 1


def test_large_form_fields_reach_the_rules_not_the_parser_limit(api: httpx.Client) -> None:
    data = {**GOOD, "prompt": "x" * 2_000_000}  # Starlette's default part limit is 1 MiB
    response = api.post("/v1/images/generations", data=data, files={"image": ("a.png", png(), "image/png")})
    body = assert_flat_error(response, 400, "bad_request", "prompt")
    assert "2,000,000 characters" in body["message"]


def test_at_most_16_references_counting_urls_and_files(emulator: Emulator, api: httpx.Client) -> None:
    def send(urls: int, files: int) -> httpx.Response:
        data = {**GOOD, "image_input[]": [f"https://example.com/{i}.png" for i in range(urls)]}
        parts = [("image", (f"{i}.png", png((4, 4)), "image/png")) for i in range(files)]
        return api.post("/v1/images/generations", data=data, files=parts)

    assert send(10, 6).status_code == 202
    assert_flat_error(send(10, 7), 400, "bad_request", "image")
    assert emulator.stats.billed_calls == 1


def test_a_stray_file_field_or_a_text_image_field_is_a_400(api: httpx.Client) -> None:
    stray = api.post("/v1/images/generations", data=GOOD, files={"file": ("a.png", png(), "image/png")})
    assert_flat_error(stray, 400, "bad_request", "file")
    data = {**GOOD, "image": "https://example.com/a.png"}
    text = api.post("/v1/images/generations", data=data, files={"image[]": ("a.png", png(), "image/png")})
    assert_flat_error(text, 400, "bad_request", "image")
    urlencoded = api.post("/v1/images/generations", data=GOOD)
    assert_flat_error(urlencoded, 400, "bad_request", "body")


def test_async_form_values(emulator: Emulator, api: httpx.Client) -> None:
    for value, expected in (("true", True), ("1", True), ("false", False), ("0", False)):
        response = api.post(
            "/v1/images/generations", data={**GOOD, "async": value}, files={"image": ("a.png", png(), "image/png")}
        )
        assert response.status_code == 202
        assert emulator.last_generation is not None and emulator.last_generation["async"] is expected


# Tasks ------------------------------------------------------------------------------------------------


def test_the_202_envelope_has_every_documented_field(emulator: Emulator, api: httpx.Client) -> None:
    response = post(api, aspect_ratio="16:9", resolution="2K")
    assert response.status_code == 202
    body = response.json()
    assert body["task_id"].startswith("task_") and body["request_id"].startswith("req_")
    assert {k: body[k] for k in ("object", "model", "type", "state", "result", "error", "progress")} == {
        "object": "task",
        "model": "gpt-image-2",
        "type": "image",
        "state": "waiting",
        "result": {},
        "error": {},
        "progress": 0,
    }
    assert body["request"] == {**GOOD, "aspect_ratio": "16:9", "resolution": "2K"}
    assert body["poll_url"] == f"/v1/tasks/{body['task_id']}"
    assert body["recommended_poll_interval_ms"] == 20  # latency 0.2 s / 10
    assert isinstance(body["eta_hint_seconds"], int)
    assert body["billing"] == {
        "status": "reserved",
        "reserve_amount_micro_usdc": 70000,
        "actual_amount_micro_usdc": 0,
        "released_amount_micro_usdc": 0,
    }
    assert abs(body["created_at"] - time.time()) < 60 and body["updated_at"] >= body["created_at"]
    assert "completed_at" not in body


def test_state_is_a_function_of_elapsed_time(emulator: Emulator, api: httpx.Client) -> None:
    task_id = post(api).json()["task_id"]
    task = emulator.state.tasks[task_id]
    latency = task.latency
    seen = [task.phase(f * latency) for f in (0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 0.99, 1.0, 5)]
    assert [p.state for p in seen] == ["waiting"] * 2 + ["queuing"] * 2 + ["generating"] * 4 + ["success"] * 2
    progress = [p.progress for p in seen]
    assert progress == sorted(progress) and progress[-1] == 100
    assert all(1 <= p.progress <= 99 for p in seen if p.state == "generating")
    assert seen[4].progress < seen[7].progress


def test_a_live_task_rises_to_success_with_the_billing_committed(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(latency=1.0)
    with api_client(emu) as client:
        task_id = post(client).json()["task_id"]
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["state"] != "success":
            seen.append(client.get(f"/v1/tasks/{task_id}").json())
            assert len(seen) < 2000
            time.sleep(0.02)
    order = ["waiting", "queuing", "generating", "success"]
    states = [order.index(s["state"]) for s in seen]
    assert states == sorted(states) and "generating" in {s["state"] for s in seen}
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress) and len(set(progress)) > 3
    final = seen[-1]
    assert final["progress"] == 100 and final["error"] == {}
    assert final["billing"] == {
        "status": "committed",
        "reserve_amount_micro_usdc": 70000,
        "actual_amount_micro_usdc": 70000,
        "released_amount_micro_usdc": 0,
    }
    assert final["completed_at"] >= final["created_at"]
    [item] = final["result"]["data"]
    assert item["url"].startswith(f"{emu.cdn_url}/files/{task_id}/0.png?")  # signed, as a CDN's are
    assert "X-Amz-Signature=" in item["url"]
    assert final["result"]["created"] == final["completed_at"]
    assert emu.stats.polls == len(seen)


def test_with_latency_zero_the_first_poll_is_success() -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        transport = httpx.ASGITransport(app=create_app(EmulatorState(latency=0)))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers={"Authorization": "Bearer k"}
        ) as c:
            created = (await c.post("/v1/images/generations", json=GOOD)).json()
            return created, (await c.get(created["poll_url"])).json()

    created, polled = asyncio.run(main())
    assert created["state"] == "waiting" and polled["state"] == "success"


def test_a_failed_task_releases_its_reserve(emulator: Emulator, api: httpx.Client) -> None:
    emulator.next_task("fail")
    failed = finished_task(emulator, api)
    assert failed["state"] == "fail" and failed["result"] == {}
    assert failed["error"] == {"code": "generation_failed", "message": "upstream model error (emulated)"}
    assert failed["billing"]["status"] == "released"
    assert failed["billing"]["actual_amount_micro_usdc"] == 0
    assert failed["billing"]["released_amount_micro_usdc"] == 70000
    assert "completed_at" in failed
    assert finished_task(emulator, api)["state"] == "success"  # only the next one failed


@pytest.mark.parametrize(("outcome", "state"), [("stuck", "generating"), ("unknown_state", "paused")])
def test_tasks_that_never_end(emulator: Emulator, api: httpx.Client, outcome: str, state: str) -> None:
    emulator.next_task(outcome, count=2)
    for _ in range(2):
        body = finished_task(emulator, api)  # aged far past its latency
        assert body["state"] == state and body["progress"] < 100
        assert body["result"] == {} and "completed_at" not in body
    assert finished_task(emulator, api)["state"] == "success"


@pytest.mark.parametrize("outcome", ["stuck", "unknown_state", "fail", "success"])
def test_every_outcome_works_with_latency_zero(outcome: str) -> None:
    state = EmulatorState(latency=0)
    state.next_task(outcome)
    task = state.create_task(prompt="p", aspect_ratio=None, resolution=None, snapshot={}, references=[])
    assert task.phase(0.0).state == "waiting"
    later = task.phase(1.0)
    expected = {"stuck": "generating", "unknown_state": "paused", "fail": "fail", "success": "success"}
    assert later.state == expected[outcome] and 0 <= later.progress <= 100


def test_an_unknown_task_is_a_404(api: httpx.Client) -> None:
    assert_flat_error(api.get("/v1/tasks/task_nope"), 404, "not_found")


def test_poll_interval_and_poll_url_settings(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(poll_interval_ms=123, poll_url="absolute", latency=100)
    with api_client(emu) as client:
        body = post(client).json()
    assert body["recommended_poll_interval_ms"] == 123
    assert body["poll_url"] == f"{emu.base_url}/v1/tasks/{body['task_id']}"
    assert body["eta_hint_seconds"] == 100
    assert EmulatorState(latency=100).recommended_poll_interval_ms == 2000
    assert EmulatorState(latency=0).recommended_poll_interval_ms == 20
    assert EmulatorState(latency=5).recommended_poll_interval_ms == 500


def test_the_recommended_interval_shrinks_to_the_time_left(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(latency=1.0)
    with api_client(emu) as client:
        task = emu.state.tasks[post(client).json()["task_id"]]
    advice = {elapsed: emu.state.poll_interval_ms_for(task, elapsed) for elapsed in (0, 0.5, 0.9, 0.95, 0.99, 1.0, 3)}
    # the usual tenth of the latency, then the time left, never under 20 ms
    assert advice == {0: 100, 0.5: 100, 0.9: 100, 0.95: 50, 0.99: 20, 1.0: 20, 3: 20}
    for outcome in ("stuck", "unknown_state"):  # no end in sight: the usual interval
        emu.state.next_task(outcome)
        with api_client(emu) as client:
            never = emu.state.tasks[post(client).json()["task_id"]]
        assert emu.state.poll_interval_ms_for(never, 0.95) == 100
    fixed = make_emu(latency=1.0, poll_interval_ms=300)
    with api_client(fixed) as client:
        pinned = fixed.state.tasks[post(client).json()["task_id"]]
    assert fixed.state.poll_interval_ms_for(pinned, 0.95) == 300  # a fixed setting is kept as it is


def test_following_the_advice_sees_success_soon_after_it_is_ready(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(latency=0.5)
    with api_client(emu) as client:
        body = post(client).json()
        polls = 0
        while body["state"] != "success":
            time.sleep(body["recommended_poll_interval_ms"] / 1000)
            body = client.get(f"/v1/tasks/{body['task_id']}").json()
            polls += 1
            assert polls < 100
    task = emu.state.tasks[body["task_id"]]
    # usual interval 50 ms over 0.5 s: about ten polls, and the last one lands just after the end
    assert 5 <= polls <= 15
    assert task.elapsed() >= task.latency


def test_a_foreign_poll_url_is_a_trap_on_the_cdn(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(poll_url="foreign")
    with api_client(emu) as client:
        body = post(client).json()
        assert body["poll_url"] == f"{emu.cdn_url}/v1/tasks/{body['task_id']}"
        assert_flat_error(client.get(body["poll_url"]), 404, "not_found")
    assert emu.stats.auth_on_cdn == 1
    assert emu.requests[-1].origin == "cdn" and emu.requests[-1].has_authorization


# Sync mode ---------------------------------------------------------------------------------------------


def test_sync_mode_answers_200_with_urls_unless_async(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(mode="sync", latency=0.05)
    with api_client(emu) as client:
        response = post(client, aspect_ratio="3:4")
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"created", "data"} and isinstance(body["created"], int)
        image = Image.open(io.BytesIO(httpx.get(body["data"][0]["url"]).content))
        assert image.size == (768, 1024)
        assert emu.last_generation is not None and emu.last_generation["async"] is False

        envelope = post(client, **{"async": True})
        assert envelope.status_code == 202 and envelope.json()["state"] == "waiting"
        form = client.post(
            "/v1/images/generations", data={**GOOD, "async": "true"}, files={"image": ("a.png", png(), "image/png")}
        )
        assert form.status_code == 202 and form.json()["object"] == "task"

        emu.next_task("fail")
        assert_flat_error(post(client), 502, "upstream_error")
    assert emu.stats.billed_calls == 4


# Result files -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aspect", "resolution", "size"),
    [
        ("16:9", "4K", (3840, 2160)),
        ("1:1", "2K", (2048, 2048)),
        ("9:16", "1K", (576, 1024)),
        ("4:3", "2K", (2048, 1536)),
        ("auto", "1K", (1024, 1024)),
        (None, None, (1024, 1024)),
    ],
)
def test_result_files_are_real_pngs_of_the_asked_size(
    emulator: Emulator, api: httpx.Client, aspect: str | None, resolution: str | None, size: tuple[int, int]
) -> None:
    fields = {k: v for k, v in (("aspect_ratio", aspect), ("resolution", resolution)) if v}
    url = finished_task(emulator, api, **fields)["result"]["data"][0]["url"]
    assert url.startswith(emulator.cdn_url + "/files/")
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert int(response.headers["content-length"]) == len(response.content)
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size == size == rules.image_size(aspect, resolution)
    image.load()
    assert emulator.stats.downloads == 1 and emulator.stats.auth_on_cdn == 0


def test_a_file_is_rendered_once_and_served_again(emulator: Emulator, api: httpx.Client) -> None:
    url = finished_task(emulator, api)["result"]["data"][0]["url"]
    first, second = httpx.get(url), httpx.get(url)
    assert first.content == second.content
    assert emulator.stats.downloads == 2


def test_old_renders_leave_the_cache_and_render_again_the_same(
    emulator: Emulator, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("xenodia_jupyter.emulator.state.RENDER_CACHE", 1)
    # One task at a time: a second task's render, finishing late on a loaded machine,
    # must not evict the first before the test has looked at it.
    first = finished_task(emulator, api, prompt="one")
    first_png = httpx.get(first["result"]["data"][0]["url"]).content
    assert emulator.state.tasks[first["task_id"]].render is not None
    second = finished_task(emulator, api, prompt="two")
    httpx.get(second["result"]["data"][0]["url"])
    assert emulator.state.tasks[first["task_id"]].render is None
    assert httpx.get(first["result"]["data"][0]["url"]).content == first_png


def test_files_are_404_before_success_and_for_unknown_tasks(emulator: Emulator, api: httpx.Client) -> None:
    body = post(api).json()
    assert_flat_error(httpx.get(f"{emulator.cdn_url}/files/{body['task_id']}/0.png"), 404, "not_found")
    assert_flat_error(httpx.get(f"{emulator.cdn_url}/files/task_nope/0.png"), 404, "not_found")
    age(emulator, body["task_id"], 100)
    assert httpx.get(f"{emulator.cdn_url}/files/{body['task_id']}/1.png").status_code == 404


def test_expire_results_turns_every_issued_url_into_404(emulator: Emulator, api: httpx.Client) -> None:
    old = finished_task(emulator, api)["result"]["data"][0]["url"]
    assert httpx.get(old).status_code == 200
    emulator.expire_results()
    assert_flat_error(httpx.get(old), 404, "not_found")
    new = finished_task(emulator, api)["result"]["data"][0]["url"]
    assert httpx.get(new).status_code == 200


def test_result_ttl_expires_files_after_completion() -> None:
    state = EmulatorState(latency=0, result_ttl=30)

    async def main() -> tuple[int, int]:
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(state)), base_url="http://api")
        cdn = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_cdn_app(state)), base_url="http://cdn")
        async with api, cdn:
            created = (
                await api.post("/v1/images/generations", json=GOOD, headers={"Authorization": "Bearer k"})
            ).json()
            path = f"/files/{created['task_id']}/0.png"
            fresh = (await cdn.get(path)).status_code
            state.tasks[created["task_id"]].created_mono -= 31
            return fresh, (await cdn.get(path)).status_code

    assert asyncio.run(main()) == (200, 404)


@pytest.mark.parametrize(
    ("name", "mime"), [("sample.png", "image/png"), ("sample.jpg", "image/jpeg"), ("sample.webp", "image/webp")]
)
def test_sample_references_have_the_right_type(emulator: Emulator, name: str, mime: str) -> None:
    response = httpx.get(f"{emulator.cdn_url}/refs/{name}")
    assert response.status_code == 200 and response.headers["content-type"] == mime
    assert rules.sniff_mime(response.content) == mime
    assert Image.open(io.BytesIO(response.content)).size == (64, 64)


def test_the_sample_gif_is_a_gif(emulator: Emulator) -> None:
    response = httpx.get(f"{emulator.cdn_url}/refs/sample.gif")
    assert response.content.startswith(b"GIF8") and rules.sniff_mime(response.content) is None
    assert httpx.get(f"{emulator.cdn_url}/refs/nothing.png").status_code == 404


# The renderer --------------------------------------------------------------------------------------------


def test_render_composites_references_and_colours_by_prompt() -> None:
    plain = Image.open(io.BytesIO(render_image("a prompt", "4:3", "1K", [])))
    with_ref = Image.open(io.BytesIO(render_image("a prompt", "4:3", "1K", [png((32, 32), "#00ff00"), b"junk"])))
    assert plain.size == with_ref.size == (1024, 768)
    assert count_pixels(with_ref, lambda px: px == (0, 255, 0)) > 1000, "the reference thumbnail is missing"
    assert count_pixels(plain, lambda px: px == (0, 255, 0)) == 0
    assert prompt_colours("a prompt") != prompt_colours("another prompt")
    assert plain.convert("RGB").getpixel((5, 5)) != Image.open(
        io.BytesIO(render_image("another prompt", "4:3", "1K", []))
    ).convert("RGB").getpixel((5, 5))


def test_render_draws_the_prompt() -> None:
    blank = Image.open(io.BytesIO(render_image(" ", "1:1", "1K", []))).convert("RGB")
    text = Image.open(io.BytesIO(render_image("HELLO WORLD " * 40, "1:1", "1K", []))).convert("RGB")
    middle = (0, 300, 1024, 700)
    assert count_pixels(text.crop(middle), lambda px: min(px) > 240) > 2000
    assert count_pixels(blank.crop(middle), lambda px: min(px) > 240) == 0


def test_sample_reference_is_cached_and_unknown_names_are_none() -> None:
    sample = sample_reference("sample.png")
    assert sample is not None and sample is sample_reference("sample.png")
    assert sample_reference("../etc/passwd") is None
    assert model_item()["capabilities"]["reference_input"]["max_items"] == rules.MAX_REFERENCES


# Faults -----------------------------------------------------------------------------------------------


ROUTES = ("generate", "poll", "models", "download")


def hit(client: httpx.Client, route: str, target: dict[str, str], timeout: float = 30) -> httpx.Response:
    """One request on `route`; downloads go without the key, as a client must send them."""
    if route == "generate":
        return client.post("/v1/images/generations", json=GOOD, timeout=timeout)
    if route == "poll":
        return client.get(f"/v1/tasks/{target['task_id']}", timeout=timeout)
    if route == "models":
        return client.get("/v1/models", timeout=timeout)
    return httpx.get(target["url"], timeout=timeout)


@pytest.fixture
def target(emulator: Emulator, api: httpx.Client) -> dict[str, str]:
    """A finished task (for poll and download faults); counters are reset afterwards."""
    done = finished_task(emulator, api)
    emulator.reset()
    return {"task_id": done["task_id"], "url": done["result"]["data"][0]["url"]}


def normal(route: str, response: httpx.Response) -> None:
    assert response.status_code == (202 if route == "generate" else 200), response.text
    if route == "download":
        Image.open(io.BytesIO(response.content)).load()
    else:
        response.json()


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("status", [429, 503])
def test_status_fault_with_retry_after_then_normal(
    emulator: Emulator, api: httpx.Client, target: dict[str, str], route: str, status: int
) -> None:
    emulator.inject(route, "status", status=status, retry_after=3)
    faulted = hit(api, route, target)
    assert_flat_error(faulted, status, {429: "rate_limited", 503: "unavailable"}[status])
    assert faulted.headers["retry-after"] == "3"
    normal(route, hit(api, route, target))
    assert emulator.stats.billed_calls == (1 if route == "generate" else 0)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, "bad_request"),
        (401, "unauthorized"),
        (402, "payment_required"),
        (404, "not_found"),
        (500, "internal_error"),
        (502, "upstream_error"),
    ],
)
def test_status_fault_names_each_status(emulator: Emulator, api: httpx.Client, status: int, error: str) -> None:
    emulator.inject("generate", "status", status=status)
    assert "retry-after" not in assert_flat_error(post(api), status, error)
    assert emulator.stats.generate_posts == 1 and emulator.stats.billed_calls == 0


@pytest.mark.parametrize("route", ROUTES)
def test_nested_html_and_empty_error_bodies(
    emulator: Emulator, api: httpx.Client, target: dict[str, str], route: str
) -> None:
    emulator.inject(route, "nested", status=402)
    emulator.inject(route, "html", status=502)
    emulator.inject(route, "empty", status=503)
    nested = hit(api, route, target)
    assert nested.status_code == 402
    assert set(nested.json()["error"]) == {"message", "code", "type"}
    html = hit(api, route, target)
    assert html.status_code == 502 and html.headers["content-type"].startswith("text/html")
    assert html.text.lstrip().startswith("<html")
    empty = hit(api, route, target)
    assert empty.status_code == 503 and empty.content == b""
    normal(route, hit(api, route, target))
    assert emulator.stats.billed_calls == (1 if route == "generate" else 0)


@pytest.mark.parametrize("route", ROUTES)
def test_malformed_bodies(emulator: Emulator, api: httpx.Client, target: dict[str, str], route: str) -> None:
    emulator.inject(route, "malformed")
    response = hit(api, route, target)
    assert response.status_code == {"generate": 202}.get(route, 200)
    if route == "download":
        assert response.headers["content-type"] == "image/png"
        with pytest.raises(Exception):  # noqa: B017 - Pillow raises UnidentifiedImageError
            Image.open(io.BytesIO(response.content)).load()
    else:
        with pytest.raises(json.JSONDecodeError):
            response.json()
    assert emulator.stats.billed_calls == 0


@pytest.mark.parametrize("route", ROUTES)
def test_truncated_bodies_have_a_matching_length(
    emulator: Emulator, api: httpx.Client, target: dict[str, str], route: str
) -> None:
    whole = hit(api, route, target)
    emulator.inject(route, "truncated")
    response = hit(api, route, target)
    assert int(response.headers["content-length"]) == len(response.content) == len(whole.content) // 2
    if route == "download":
        with pytest.raises(OSError):
            Image.open(io.BytesIO(response.content)).load()
    else:
        with pytest.raises(json.JSONDecodeError):
            response.json()
    assert emulator.stats.billed_calls == (2 if route == "generate" else 0)


@pytest.mark.parametrize("route", ROUTES)
def test_drop_breaks_the_connection_mid_response(
    emulator: Emulator, api: httpx.Client, target: dict[str, str], route: str
) -> None:
    emulator.inject(route, "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        hit(api, route, target)
    normal(route, hit(api, route, target))
    assert emulator.stats.billed_calls == (2 if route == "generate" else 0)


@pytest.mark.parametrize("route", ROUTES)
def test_delay_holds_the_answer(emulator: Emulator, api: httpx.Client, target: dict[str, str], route: str) -> None:
    emulator.inject(route, "delay", delay=3)
    with pytest.raises(httpx.ReadTimeout):
        hit(api, route, target, timeout=0.3)
    normal(route, hit(api, route, target))
    assert emulator.stats.billed_calls == (2 if route == "generate" else 0)


def test_faults_apply_count_times_in_order(emulator: Emulator, api: httpx.Client) -> None:
    emulator.inject("models", "status", status=500, count=2)
    emulator.inject("models", "status", status=429)
    assert [api.get("/v1/models").status_code for _ in range(4)] == [500, 500, 429, 200]


def test_reset_clears_faults_outcomes_counters_and_requests(emulator: Emulator, api: httpx.Client) -> None:
    emulator.inject("models", "status", status=500)
    emulator.next_task("fail")
    api.get("/v1/models")
    emulator.inject("models", "status", status=500)
    emulator.reset()
    assert emulator.requests == [] and emulator.stats.model_requests == 0 and emulator.last_generation is None
    assert api.get("/v1/models").status_code == 200
    assert finished_task(emulator, api)["state"] == "success"


def test_bad_fault_arguments_are_refused(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="route"):
        emulator.inject("upload", "status")
    with pytest.raises(ValueError, match="kind"):
        emulator.inject("generate", "explode")
    with pytest.raises(ValueError, match="outcome"):
        emulator.next_task("maybe")


# Counters and recorded requests ---------------------------------------------------------------------------


def test_counters_and_recorded_requests_follow_a_whole_generation(emulator: Emulator, api: httpx.Client) -> None:
    api.get("/v1/models")
    created = post(api).json()
    api.get(created["poll_url"])
    age(emulator, created["task_id"], 100)
    url = api.get(created["poll_url"]).json()["result"]["data"][0]["url"]
    httpx.get(url)
    httpx.get(url, headers={"Authorization": "Bearer leaked"})
    stats = emulator.stats
    assert stats.model_requests == 1 and stats.generate_posts == 1 and stats.billed_calls == 1
    assert stats.polls == 2 and stats.downloads == 2
    assert stats.auth_on_cdn == 1 and stats.reference_downloads == 0
    assert [(r.origin, r.method, r.has_authorization) for r in emulator.requests] == [
        ("api", "GET", True),
        ("api", "POST", True),
        ("api", "GET", True),
        ("api", "GET", True),
        ("cdn", "GET", False),
        ("cdn", "GET", True),
    ]
    assert emulator.requests[1].path == "/v1/images/generations"


def test_max_in_flight_counts_unfinished_tasks(emulator: Emulator, api: httpx.Client) -> None:
    post(api)
    post(api)
    assert emulator.stats.max_in_flight == 2

    def create(state: EmulatorState) -> None:
        state.create_task(prompt="p", aspect_ratio=None, resolution=None, snapshot={}, references=[])

    quick, slow = EmulatorState(latency=0), EmulatorState(latency=100)
    for _ in range(3):
        create(quick)
        create(slow)
    assert (quick.stats.max_in_flight, slow.stats.max_in_flight) == (1, 3)
    quick.next_task("stuck")
    create(quick)
    create(quick)
    assert quick.stats.max_in_flight == 2  # a stuck task never finishes


def test_in_process_app_serves_the_same_api() -> None:
    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            return [
                (await c.get("/v1/models")).status_code,
                (await c.post("/v1/images/generations", json=GOOD)).status_code,
                (await c.post("/v1/images/generations", json=GOOD, headers={"Authorization": "Bearer k"})).status_code,
            ]

    assert asyncio.run(main()) == [200, 401, 202]


# Lifecycle ----------------------------------------------------------------------------------------------


def test_stop_leaves_no_thread_and_no_listening_socket() -> None:
    before = set(threading.enumerate())
    emu = Emulator(latency=0)
    with emu, api_client(emu) as client:
        assert emu.running and len(set(threading.enumerate()) - before) == 1
        created = post(client, resolution="2K").json()
        url = client.get(created["poll_url"]).json()["result"]["data"][0]["url"]
        assert httpx.get(url).status_code == 200  # rendered in a worker thread
        client.post("/v1/images/generations", data=GOOD, files={"image": ("a.png", png(), "image/png")})
        ports = [int(u.rsplit(":", 1)[1]) for u in (emu.base_url, emu.cdn_url)]
    assert not emu.running
    assert set(threading.enumerate()) - before == set()
    for port in ports:
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    emu.stop()  # a second stop is harmless


def test_a_busy_port_is_an_error_at_start() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError):
            Emulator(port=busy.getsockname()[1]).start()


def test_the_cli_serves_until_terminated(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "xenodia_jupyter.emulator", "--port", str(port), "--latency", "0.1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.communicate()
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the CLI did not start"
                time.sleep(0.1)
        assert response.json()["data"][0]["id"] == "gpt-image-2"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer k"}) as client:
            assert post(client).status_code == 202
    finally:
        process.terminate()
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert f"http://127.0.0.1:{port}" in out and "CDN URL:  http://127.0.0.1:" in out


def test_a_failed_task_can_say_what_a_test_asks_it_to(make_emulator) -> None:  # type: ignore[no-untyped-def]
    import xenodia_jupyter as xj

    emu = make_emulator()
    emu.next_task("fail", error={"code": "content_policy", "message": "the prompt was refused by policy"})
    with xj.Client(api_key=emu.api_key, base_url=emu.base_url) as client, pytest.raises(xj.GenerationFailedError) as info:
        client.generate("something refused")
    assert "the prompt was refused by policy" in str(info.value) and info.value.error["code"] == "content_policy"
    with pytest.raises(ValueError, match="goes with outcome 'fail'"):
        emu.next_task("success", error={"message": "x"})
