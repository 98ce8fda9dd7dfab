"""The wire format: request bodies, task envelopes, error bodies, discovery.
Property tests make sure any answer becomes a typed value or a typed error."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import xenodia_jupyter as xj
from xenodia_jupyter.wire import protocol
from xenodia_jupyter.wire.rules import ModelInfo

ENVELOPE = {
    "task_id": "task_123",
    "object": "task",
    "request_id": "req_abc",
    "model": "gpt-image-2",
    "type": "image",
    "state": "success",
    "request": {},
    "result": {"created": 1760000100, "data": [{"url": "https://cdn.example.com/generated.png"}]},
    "error": {},
    "progress": 100,
    "poll_url": "/v1/tasks/task_123",
    "recommended_poll_interval_ms": 2000,
    "eta_hint_seconds": 30,
    "billing": {
        "status": "committed",
        "reserve_amount_micro_usdc": 70000,
        "actual_amount_micro_usdc": 70000,
        "released_amount_micro_usdc": 0,
    },
    "created_at": 1760000000,
    "updated_at": 1760000030,
    "completed_at": 1760000100,
}


def test_the_documented_envelope_parses_fully() -> None:
    task = protocol.parse_task(ENVELOPE)
    assert task.task_id == "task_123" and task.state == "success" and task.done and task.succeeded
    assert task.urls == ["https://cdn.example.com/generated.png"]
    assert task.poll_interval_s == 2.0 and task.eta_s == 30
    assert task.cost_micro_usdc == 70000 and task.request_id == "req_abc"


def test_optional_fields_may_be_missing() -> None:
    task = protocol.parse_task({"task_id": "t", "state": "queuing"})
    assert task.poll_interval_s is None and task.cost_micro_usdc is None and task.request_id is None
    assert not task.done


def test_an_unknown_state_is_not_done() -> None:
    assert not protocol.parse_task({"task_id": "t", "state": "paused"}).done


def test_older_200_answers_are_a_finished_task_without_id() -> None:
    task = protocol.parse_generation(200, {"created": 1, "data": [{"url": "https://x/1.png"}, {"url": "https://x/2.png"}]})
    assert task.task_id is None and task.succeeded and len(task.urls) == 2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
envelope_like = st.fixed_dictionaries(
    {},
    optional={k: json_values for k in ENVELOPE} | {"state": st.sampled_from(["waiting", "success", "fail", "odd", 3])},
)


@given(st.one_of(json_values, envelope_like))
def test_any_body_parses_or_raises_a_connection_error(body: object) -> None:
    try:
        task = protocol.parse_task(body)
    except xj.APIConnectionError:
        return
    assert isinstance(task.task_id, str) and task.task_id
    assert task.progress is None or 0 <= task.progress <= 100
    assert all(isinstance(u, str) for u in task.urls)
    assert task.poll_interval_s is None or task.poll_interval_s > 0


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        (b'{"error": "bad_request", "message": "prompt: required", "type": "x", "code": "invalid_parameter"}',
         "prompt: required", "invalid_parameter"),
        (b'{"error": {"message": "nested words", "code": "insufficient_balance"}}', "nested words", "insufficient_balance"),
        (b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", "502 Bad Gateway", None),
        (b"", "upstream generation failed", None),
        (b"plain words", "plain words", None),
    ],
)
def test_error_bodies_of_every_shape(body: bytes, message: str, code: str | None) -> None:
    error = protocol.error_from_response(502, {"x-request-id": "req_9"}, body, task_id="task_1")
    assert isinstance(error, xj.UpstreamError)
    assert error.message == message and error.code == code
    assert error.request_id == "req_9" and error.task_id == "task_1"
    assert "task_1" in str(error) and "req_9" in str(error)


@given(st.integers(min_value=400, max_value=599), st.binary(max_size=200))
def test_any_error_answer_is_a_typed_error_with_a_message(status: int, body: bytes) -> None:
    error = protocol.error_from_response(status, {}, body)
    assert isinstance(error, xj.APIError)
    assert error.status_code == status and error.message.strip()
    expected = {401: xj.AuthenticationError, 402: xj.PaymentRequiredError, 429: xj.RateLimitError}
    if status in expected:
        assert isinstance(error, expected[status])
    elif status >= 500:
        assert isinstance(error, xj.UpstreamError)


def test_the_key_is_scrubbed_from_server_text() -> None:
    error = protocol.error_from_response(401, {}, b'{"message": "bad key sk-secret-123"}', secret="sk-secret-123")
    assert "sk-secret-123" not in str(error)


def test_retry_after_seconds_and_dates() -> None:
    assert protocol.parse_retry_after("3") == 3
    assert protocol.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert protocol.parse_retry_after("soon") is None


@pytest.mark.parametrize(
    ("poll_url", "expected"),
    [
        (None, "http://api.test:8000/v1/tasks/t1"),
        ("/v1/tasks/t1", "http://api.test:8000/v1/tasks/t1"),
        ("http://api.test:8000/v1/tasks/t1?x=1", "http://api.test:8000/v1/tasks/t1?x=1"),
        ("http://cdn.test/v1/tasks/t1", "http://api.test:8000/v1/tasks/t1"),
        ("http://api.test:9000/v1/tasks/t1", "http://api.test:8000/v1/tasks/t1"),
        ("https://api.test:8000/v1/tasks/t1", "http://api.test:8000/v1/tasks/t1"),
    ],
)
def test_poll_url_is_resolved_and_never_leaves_the_origin(poll_url: str | None, expected: str) -> None:
    assert protocol.resolve_poll_url("http://api.test:8000", "t1", poll_url) == expected


def test_generation_body_is_json_with_urls_or_multipart_with_files() -> None:
    body = protocol.build_generation_body("p", aspect_ratio="16:9", resolution=None, image_urls=["https://x/a.png"])
    assert body.json == {
        "model": "gpt-image-2", "prompt": "p", "response_format": "url", "aspect_ratio": "16:9",
        "async": True, "image_input": ["https://x/a.png"],
    }
    body = protocol.build_generation_body("p", aspect_ratio=None, resolution="2K", image_files=[("a.png", b"x", "image/png")])
    assert body.json is None and body.data == {
        "model": "gpt-image-2", "prompt": "p", "response_format": "url", "resolution": "2K", "async": "true",
    }
    assert body.files == [("image", ("a.png", b"x", "image/png"))]
    assert "output_format" not in json.dumps(body.data)


def test_discovery_item_and_bare_list() -> None:
    item = {
        "id": "gpt-image-2",
        "capabilities": {
            "pricing": {"mode": "resolution", "tiers": [
                {"id": "1k_2k", "price_micro_usdc": 70000}, {"id": "4k", "price_micro_usdc": 120000}]},
            "parameters": [{"name": "aspect_ratio", "enum": ["1:1", "16:9"]}, {"name": "resolution", "enum": ["1K", "4K"]}],
            "reference_input": {"max_items": 8},
        },
    }
    info = ModelInfo(**protocol.parse_models([item]))
    assert info.aspect_ratios == ("1:1", "16:9") and info.resolutions == ("1K", "4K") and info.max_references == 8
    assert info.price_usd_for("4K") == pytest.approx(0.12) and info.price_usd_for("2K") == pytest.approx(0.07)
    with pytest.raises(xj.APIConnectionError):
        protocol.parse_models({"object": "list", "data": [{"id": "other"}]})


@pytest.mark.parametrize("status", [403, 404, 405])
def test_an_html_refusal_from_something_that_is_not_the_api_names_the_base_url(status: int) -> None:
    page = b"<html><body><h1>404 : Not Found</h1><p>You are lost.</p></body></html>"
    error = protocol.error_from_response(status, {}, page)
    assert "XENODIA_BASE_URL" in str(error)
    flat = protocol.error_from_response(status, {}, b'{"error": "not_found", "message": "unknown task"}')
    assert "XENODIA_BASE_URL" not in str(flat)  # the API's own JSON answer: nothing to suspect
