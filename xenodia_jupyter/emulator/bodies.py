"""The bodies the emulator answers with: errors, the model item, task envelopes."""

from __future__ import annotations

import hashlib
import math
from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

from .contract import ASPECT_RATIOS, MAX_REFERENCES, MODEL, PRICE_MICRO_USDC, RESOLUTIONS
from .state import EmulatedTask, EmulatorState, new_request_id

__all__ = [
    "ERRORS",
    "UNKNOWN_ERROR",
    "billing",
    "envelope",
    "error_response",
    "model_item",
    "poll_url",
    "result_url",
    "status_phrase",
]

ERRORS: dict[int, tuple[str, str, str]] = {
    # status: (error, type, code)
    400: ("bad_request", "invalid_request_error", "invalid_parameter"),
    401: ("unauthorized", "authentication_error", "invalid_api_key"),
    402: ("payment_required", "billing_error", "insufficient_balance"),
    404: ("not_found", "not_found_error", "not_found"),
    409: ("conflict", "invalid_request_error", "idempotency_conflict"),
    405: ("method_not_allowed", "invalid_request_error", "method_not_allowed"),
    429: ("rate_limited", "rate_limit_error", "rate_limit_exceeded"),
    500: ("internal_error", "api_error", "internal_error"),
    502: ("upstream_error", "upstream_error", "upstream_error"),
    503: ("unavailable", "api_error", "service_unavailable"),
    504: ("timeout", "upstream_error", "upstream_timeout"),
}
UNKNOWN_ERROR = ("error", "api_error", "error")


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The documented flat error envelope."""
    error, kind, default_code = ERRORS.get(status, UNKNOWN_ERROR)
    body = {"error": error, "message": message, "type": kind, "code": code or default_code}
    return JSONResponse(body, status_code=status, headers={"X-Request-Id": new_request_id(), **(headers or {})})


def model_item() -> dict[str, Any]:
    """The gpt-image-2 item of `GET /v1/models`, as the contract shows it."""
    return {
        "id": MODEL,
        "object": "model",
        "name": MODEL,
        "owned_by": "openai",
        "modalities": ["image"],
        "capabilities": {
            "async_supported": True,
            "request_mode": ["task"],
            "pricing": {
                "mode": "per_call",
                "tiers": [
                    {"id": "default", "label": "Per call", "unit": "image", "price_micro_usdc": PRICE_MICRO_USDC}
                ],
            },
            "parameters": [
                {"name": "aspect_ratio", "enum": list(ASPECT_RATIOS)},
                {"name": "resolution", "enum": list(RESOLUTIONS)},
            ],
            "reference_input": {"supported": True, "transport": ["url", "multipart_file"], "max_items": MAX_REFERENCES},
        },
        "enabled": True,
    }


def result_url(state: EmulatorState, task: EmulatedTask) -> str:
    """Signed, as a real CDN's are: what must never be kept or shared is in the query."""
    signature = hashlib.sha256(f"{state.api_key}:{task.id}".encode()).hexdigest()[:32]
    return f"{state.cdn_url}/files/{task.id}/0.png?X-Amz-Expires=3600&X-Amz-Signature={signature}"


def poll_url(state: EmulatorState, task: EmulatedTask) -> str:
    path = f"/v1/tasks/{task.id}"
    if state.poll_url == "absolute":
        return state.base_url + path
    if state.poll_url == "foreign":
        return state.cdn_url + path
    return path


def billing(state_name: str) -> dict[str, Any]:
    """The billing block: reserved while running, committed on success, released on failure."""
    reserve = PRICE_MICRO_USDC
    if state_name == "success":
        return _billing("committed", reserve, actual=reserve, released=0)
    if state_name == "fail":
        return _billing("released", reserve, actual=0, released=reserve)
    return _billing("reserved", reserve, actual=0, released=0)


def _billing(status: str, reserve: int, *, actual: int, released: int) -> dict[str, Any]:
    return {
        "status": status,
        "reserve_amount_micro_usdc": reserve,
        "actual_amount_micro_usdc": actual,
        "released_amount_micro_usdc": released,
    }


def envelope(state: EmulatorState, task: EmulatedTask, elapsed: float) -> dict[str, Any]:
    """The task envelope after `elapsed` seconds."""
    phase = task.phase(elapsed)
    created = int(task.created_unix)
    body: dict[str, Any] = {
        "task_id": task.id,
        "object": "task",
        "request_id": task.request_id,
        "model": MODEL,
        "type": "image",
        "state": phase.state,
        "request": task.snapshot,
        "result": {},
        "error": {},
        "progress": phase.progress,
        "poll_url": poll_url(state, task),
        "recommended_poll_interval_ms": state.poll_interval_ms_for(task, elapsed),
        "eta_hint_seconds": max(0, math.ceil(task.latency - elapsed)),
        "billing": billing(phase.state),
        "created_at": created,
        "updated_at": int(task.created_unix + phase.updated_offset),
    }
    if phase.terminal:
        completed = int(task.created_unix + task.latency)
        body["completed_at"] = completed
        if phase.state == "success":
            body["result"] = {"created": completed, "data": [{"url": result_url(state, task)}]}
        else:
            body["error"] = task.error or {"code": "generation_failed", "message": "upstream model error (emulated)"}
    return body
