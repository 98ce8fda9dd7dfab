"""`python -m xenodia_jupyter check-live`: where the real service differs from
the contract page this package and its emulator were built from.

It speaks plain HTTP (httpx, not our client: it checks the contract, not our
reading of it): model discovery (free), then, only with `--yes`, one 1K
generation with a small reference ($0.07), its polls and its download.  It
reports every field the contract does not describe or that has another type,
the states seen, the poll advice, the billing block, the result URL's host
and lifetime, and headers such as `Retry-After` or rate limits: a short text
to paste into a bug report, with the key and URL signatures left out.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from typing import Any

import httpx

from ..wire.protocol import public_url

# What the contract page documents (xenodia-api.md), and of which JSON type.
NUMBER = (int, float)
ENVELOPE: dict[str, tuple[type, ...]] = {
    "task_id": (str,), "object": (str,), "request_id": (str,), "model": (str,), "type": (str,), "state": (str,),
    "request": (dict,), "result": (dict,), "error": (dict, str), "progress": NUMBER, "poll_url": (str,),
    "recommended_poll_interval_ms": NUMBER, "eta_hint_seconds": NUMBER, "billing": (dict,),
    "created_at": NUMBER, "updated_at": NUMBER, "completed_at": NUMBER,
    # named on the page as fields a client may ignore
    "capability_slug": (str,), "capability_version": (str,), "webhook_delivery": (dict, str, type(None)),
}
BILLING: dict[str, tuple[type, ...]] = {
    "status": (str,), "reserve_amount_micro_usdc": NUMBER, "actual_amount_micro_usdc": NUMBER,
    "released_amount_micro_usdc": NUMBER,
}
MODEL_ITEM: dict[str, tuple[type, ...]] = {
    "id": (str,), "object": (str,), "name": (str,), "owned_by": (str,), "modalities": (list,),
    "capabilities": (dict,), "enabled": (bool,),
}
CAPABILITIES = {"async_supported", "request_mode", "pricing", "parameters", "reference_input"}
STATES = {"waiting", "queuing", "generating", "success", "fail"}
HEADERS_OF_NOTE = ("retry-after", "x-request-id", "ratelimit", "x-ratelimit", "idempotency")
PRICE_USD = 0.07


def compare(body: object, documented: Mapping[str, tuple[type, ...]], where: str) -> list[str]:
    """The differences of one JSON object from what the contract documents."""
    if not isinstance(body, Mapping):
        return [f"{where}: a JSON {type(body).__name__}, not an object"]
    notes = []
    for name, value in body.items():
        if name not in documented:
            notes.append(f"{where}.{name}: not in the contract ({_kind(value)})")
        elif value is not None and not isinstance(value, documented[name]):
            wanted = " or ".join(t.__name__ for t in documented[name])
            notes.append(f"{where}.{name}: a {_kind(value)}, the contract says {wanted}")
    return notes


def envelope_differences(body: object, where: str = "task") -> list[str]:
    notes = compare(body, ENVELOPE, where)
    if isinstance(body, Mapping):
        if isinstance(body.get("billing"), Mapping):
            notes += compare(body["billing"], BILLING, f"{where}.billing")
        state = body.get("state")
        if isinstance(state, str) and state not in STATES:
            notes.append(f"{where}.state: {state!r} is not one of the documented states")
        poll = body.get("poll_url")
        if isinstance(poll, str) and "://" in poll:
            notes.append(f"{where}.poll_url: absolute ({public_url(poll)}), the contract shows it relative")
    return notes


def model_differences(body: object) -> list[str]:
    items = body.get("data") if isinstance(body, Mapping) else body
    if not isinstance(items, list):
        return ["/v1/models: neither a list nor {'data': [...]}"]
    ours = [i for i in items if isinstance(i, Mapping) and i.get("id") == "gpt-image-2"]
    if not ours:
        return ["/v1/models: no item with id 'gpt-image-2'"]
    item = ours[0]
    notes = compare(item, MODEL_ITEM, "model")
    capabilities = item.get("capabilities")
    if isinstance(capabilities, Mapping):
        notes += [f"model.capabilities.{k}: not in the contract" for k in capabilities if k not in CAPABILITIES]
        pricing = capabilities.get("pricing")
        if isinstance(pricing, Mapping) and pricing.get("mode") not in ("per_call", "resolution"):
            notes.append(f"model.capabilities.pricing.mode: {pricing.get('mode')!r} (the contract knows per_call, resolution)")
    return notes


def header_notes(headers: Mapping[str, str], where: str) -> list[str]:
    return [
        f"{where} header {name}: {value}"
        for name, value in headers.items()
        if any(name.lower().startswith(prefix) for prefix in HEADERS_OF_NOTE)
    ]


def check_live(base_url: str, api_key: str, *, spend: bool, timeout_s: float = 300.0) -> list[str]:
    """The report's lines.  Without `spend`, model discovery only (free)."""
    lines = [f"check-live against {public_url(base_url)}"]
    with httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0)) as http:
        answer = http.get(f"{base_url}/v1/models")
        lines += [f"GET /v1/models: HTTP {answer.status_code}"] + header_notes(answer.headers, "models")
        lines += model_differences(_json(answer)) if answer.status_code == 200 else []
        if not spend:
            return [*lines, f"(no generation: run again with --yes to spend ${PRICE_USD:.2f} on one 1K image)"]
        auth = {"Authorization": f"Bearer {api_key}"}
        files = [("image", ("reference.png", _reference_png(), "image/png"))]
        form = {"model": "gpt-image-2", "prompt": "A small red square on white (xenodia-jupyter check-live)",
                "resolution": "1K", "aspect_ratio": "1:1", "response_format": "url", "async": "true"}
        answer = http.post(f"{base_url}/v1/images/generations", headers=auth, data=form, files=files)
        body = _json(answer)
        lines += [f"POST /v1/images/generations: HTTP {answer.status_code}"] + header_notes(answer.headers, "POST")
        lines += envelope_differences(body, "POST answer")
        if not isinstance(body, Mapping) or not isinstance(body.get("task_id"), str):
            return [*lines, "no task id in the answer: nothing to poll"]
        states: list[str] = []
        deadline = time.monotonic() + timeout_s
        given = body.get("poll_url")
        poll = given if isinstance(given, str) else f"/v1/tasks/{body['task_id']}"
        # Only a relative poll_url is followed (the key stays on its origin).
        url = f"{base_url}{poll}" if "://" not in poll else f"{base_url}/v1/tasks/{body['task_id']}"
        while time.monotonic() < deadline and body.get("state") not in ("success", "fail"):
            advice = body.get("recommended_poll_interval_ms")
            time.sleep(min(max(float(advice) / 1000 if isinstance(advice, NUMBER) else 2.0, 0.2), 15.0))
            answer = http.get(url, headers=auth)
            body = _json(answer) if answer.status_code == 200 else {}
            states.append(str(body.get("state")))
            lines += envelope_differences(body, "poll answer")
        lines.append(f"states seen: {' -> '.join(dict.fromkeys(states)) or 'none'}")
        lines.append(f"poll advice: recommended_poll_interval_ms={body.get('recommended_poll_interval_ms')!r}, "
                     f"eta_hint_seconds={body.get('eta_hint_seconds')!r}")
        lines.append(f"billing: {body.get('billing')!r}")
        data = body.get("result", {}).get("data") if isinstance(body.get("result"), Mapping) else None
        if isinstance(data, list) and data and isinstance(data[0], Mapping) and isinstance(data[0].get("url"), str):
            lines += _result_url_notes(http, data[0]["url"])
    return [line.replace(api_key, "***") if api_key else line for line in lines]


def _result_url_notes(http: httpx.Client, url: str) -> list[str]:
    parts = httpx.URL(url)
    names = sorted(dict(parts.params).keys())
    lifetime = next((parts.params[n] for n in parts.params if n.lower() in ("x-amz-expires", "expires", "se")), None)
    answer = http.get(url)
    return [
        f"result URL: host {parts.host}, query names {names or 'none'}, lifetime {lifetime or 'not said'}",
        f"result download (no key): HTTP {answer.status_code}, {answer.headers.get('content-type')}, "
        f"{len(answer.content):,} bytes",
    ]


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return {"(not JSON)": answer.text[:120]}


def _kind(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, NUMBER) else type(value).__name__
    )


def _reference_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, "PNG")
    return buffer.getvalue()
