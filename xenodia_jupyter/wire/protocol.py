"""What goes over the wire: request bodies out, envelopes and errors in.

Pure: no I/O.  The client feeds raw answers (status, headers, bytes) in here and
gets back typed values or typed errors; every quirk of the documented and
observed formats (flat or nested error bodies, HTML pages, bare lists, missing
optional fields) is handled in this one place.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from ..errors import APIError, APIResponseError, RateLimitError, error_class_for_status, redact
from .rules import MODEL, PriceTier

TERMINAL_STATES = frozenset({"success", "fail"})

GENERATIONS_PATH = "/v1/images/generations"
MODELS_PATH = "/v1/models"


def task_path(task_id: str) -> str:
    return f"/v1/tasks/{quote(task_id, safe='')}"


# Requests ----------------------------------------------------------------------


@dataclass
class RequestBody:
    """Keyword arguments for httpx: either `json`, or `data` plus `files`."""

    json: dict[str, Any] | None = None
    data: dict[str, str] | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None

    def as_httpx_kwargs(self) -> dict[str, Any]:
        if self.json is not None:
            return {"json": self.json}
        return {"data": self.data, "files": self.files}

    def content_headers(self, key: str | None) -> dict[str, str]:
        """A multipart body's boundary, derived from the Idempotency-Key: httpx
        would draw a new one for each send, and a resend must be the same bytes
        (a server that compares bodies answers a different one with 409)."""
        if self.json is not None or not key:
            return {}
        boundary = "xenodia-" + hashlib.sha256(key.encode()).hexdigest()[:32]
        return {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def build_generation_body(
    prompt: str,
    *,
    aspect_ratio: str | None,
    resolution: str | None,
    image_urls: Sequence[str] = (),
    image_files: Sequence[tuple[str, bytes, str]] = (),
) -> RequestBody:
    """The generation request.  Always asks for a task (`async`): the task id is
    then known at once, so a paid result can be picked up again if we die while
    waiting.  Servers that always answer with tasks ignore the flag.

    URLs and files are not mixed in one body: the client turns URL references
    into files first when both are given (see client.py), so `image_urls` and
    `image_files` never arrive here together.
    """
    fields: dict[str, Any] = {"model": MODEL, "prompt": prompt, "response_format": "url"}
    if aspect_ratio is not None:
        fields["aspect_ratio"] = aspect_ratio
    if resolution is not None:
        fields["resolution"] = resolution
    if image_files:
        if image_urls:
            raise ValueError("URL and file references must not be mixed in one body")
        form = {k: str(v) for k, v in fields.items()}
        form["async"] = "true"
        return RequestBody(data=form, files=[("image", f) for f in image_files])
    fields["async"] = True
    if image_urls:
        fields["image_input"] = list(image_urls)
    return RequestBody(json=fields)


# Responses -----------------------------------------------------------------------


@dataclass
class Task:
    """One generation as the server last described it."""

    task_id: str | None
    state: str
    progress: int | None = None
    urls: list[str] = field(default_factory=list)
    error: dict[str, Any] = field(default_factory=dict)
    poll_url: str | None = None
    poll_interval_s: float | None = None
    eta_s: float | None = None
    request_id: str | None = None
    cost_micro_usdc: int | None = None
    billing_status: str | None = None

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.state == "success"


def _as_int(value: object) -> int | None:
    """A whole number from a field a server may fill with anything (1e999, NaN, "7")."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    return None


def _result_urls(result: object) -> list[str]:
    if not isinstance(result, Mapping):
        return []
    data = result.get("data")
    if not isinstance(data, list):
        return []
    return [item["url"] for item in data if isinstance(item, Mapping) and isinstance(item.get("url"), str)]


def parse_task(body: object) -> Task:
    """A task envelope (the 202 body and every poll answer)."""
    if not isinstance(body, Mapping):
        raise APIResponseError(f"expected a task object, got {type(body).__name__}")
    task_id = body.get("task_id") or body.get("id")
    state = body.get("state") or body.get("status")
    if not isinstance(task_id, str) or not task_id.strip():
        raise APIResponseError("the task envelope has no task_id")
    if not isinstance(state, str):
        # The task exists (and may be billed): keep its id so that it can be recovered.
        raise APIResponseError(f"task {task_id} came without a state", task_id=task_id)
    billing = body.get("billing") if isinstance(body.get("billing"), Mapping) else {}
    assert isinstance(billing, Mapping)
    cost = _as_int(billing.get("actual_amount_micro_usdc"))
    interval_ms = _as_int(body.get("recommended_poll_interval_ms"))
    progress = _as_int(body.get("progress"))
    error = body.get("error")
    return Task(
        task_id=task_id,
        state=state.lower(),
        progress=max(0, min(100, progress)) if progress is not None else None,
        urls=_result_urls(body.get("result")),
        error=dict(error) if isinstance(error, Mapping) else ({"message": error} if isinstance(error, str) else {}),
        poll_url=body.get("poll_url") if isinstance(body.get("poll_url"), str) else None,
        poll_interval_s=interval_ms / 1000 if interval_ms and interval_ms > 0 else None,
        eta_s=_as_int(body.get("eta_hint_seconds")),
        request_id=body.get("request_id") if isinstance(body.get("request_id"), str) else None,
        cost_micro_usdc=cost,
        billing_status=billing.get("status") if isinstance(billing.get("status"), str) else None,
    )


def parse_generation(status_code: int, body: object) -> Task:
    """The answer to a generation POST: a 202 task, or (older API) 200 with `data`."""
    if status_code == 200 and isinstance(body, Mapping) and "data" in body and "task_id" not in body:
        urls = _result_urls(body)
        if not urls:
            raise APIResponseError("the server answered 200 without any image URL")
        return Task(task_id=None, state="success", progress=100, urls=urls)
    return parse_task(body)


def decode_json(content: bytes, what: str) -> Any:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested 100,000 deep
        snippet = content[:60].decode("utf-8", "replace")
        raise APIResponseError(f"{what}: the server answered with a body that is not JSON ({snippet!r})") from None


def resolve_poll_url(base_url: str, task_id: str, poll_url: str | None) -> str:
    """Where to poll.  A relative `poll_url` is resolved against the base; one that
    points at another origin is ignored (the key is never sent elsewhere)."""
    default = urljoin(base_url + "/", task_path(task_id).lstrip("/"))
    if not poll_url:
        return default
    resolved = urljoin(base_url + "/", poll_url)
    return resolved if same_origin(resolved, base_url) else default


def public_url(url: str) -> str:
    """A URL as it may be kept or shared: scheme, host and path, never the query
    string, fragment or userinfo (signatures, tokens, passwords live there);
    when anything was taken out, a digest of the whole URL tells two apart.

        public_url("https://cdn/x.png?X-Amz-Signature=abc")  -> "https://cdn/x.png#sha256=5d1e..."
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a URL we can take apart: keep none of it
        return "#sha256=" + hashlib.sha256(url.encode("utf-8", "replace")).hexdigest()[:16]
    if ":" in host:
        host = f"[{host}]"
    kept = f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else parts.path
    if kept == url:
        return url
    return kept + "#sha256=" + hashlib.sha256(url.encode("utf-8", "replace")).hexdigest()[:16]


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    default_port = {"http": 80, "https": 443}
    try:
        ports = (pa.port or default_port.get(pa.scheme), pb.port or default_port.get(pb.scheme))
    except ValueError:  # a port that is not a number, or out of range: not our origin
        return False
    return pa.scheme == pb.scheme and pa.hostname == pb.hostname and ports[0] == ports[1]


# Errors ---------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")


def _html_text(text: str) -> str:
    title = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
    if title and title.group(1).strip():
        return " ".join(title.group(1).split())
    return " ".join(_TAG.sub(" ", text).split())[:200]


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        import time

        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def error_from_response(
    status_code: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    task_id: str | None = None,
    secret: str | None = None,
) -> APIError:
    """Turn an error answer (flat, nested, HTML or empty body) into a typed error."""
    message, code, request_id = "", None, None
    text = content.decode("utf-8", "replace").strip()
    body: Any = None
    if text:
        try:
            body = json.loads(text)
        except ValueError:
            body = None
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping):  # nested: {"error": {"message": ..., "code": ...}}
            message = str(inner.get("message") or "")
            code = inner.get("code") or inner.get("type")
            request_id = inner.get("request_id")
        else:  # flat: {"error": "bad_request", "message": ..., "code": ...}
            message = str(body.get("message") or body.get("detail") or "")
            code = body.get("code") or (inner if isinstance(inner, str) else None)
            if isinstance(inner, str) and not message:
                message = inner
        request_id = request_id or body.get("request_id")
        task_id = task_id or (body.get("task_id") if isinstance(body.get("task_id"), str) else None)
    elif text:
        message = _html_text(text) if "<" in text[:200] else text[:200]
    if not message:
        message = _default_message(status_code)
    if status_code in (403, 404, 405) and not isinstance(body, Mapping):
        # Not the API's JSON: most likely another server at that address (JupyterLab's own port, say).
        message += " (this answer is not the API's: check that XENODIA_BASE_URL points at the API)"
    request_id = request_id or headers.get("x-request-id")
    kwargs: dict[str, Any] = {
        "status_code": status_code,
        "code": str(code) if code else None,
        "request_id": str(request_id) if request_id else None,
        "task_id": task_id,
    }
    cls = error_class_for_status(status_code)
    message = redact(message, secret)
    if cls is RateLimitError:
        return RateLimitError(message, retry_after=parse_retry_after(headers.get("retry-after")), **kwargs)
    return cls(message, **kwargs)


def _default_message(status_code: int) -> str:
    return {
        400: "the request was refused as invalid",
        401: "the API key is missing or was refused (set XENODIA_API_KEY)",
        402: "payment required: the account balance is too low for this call",
        404: "not found (unknown task, or the result has expired)",
        429: "rate limited: too many requests",
        502: "upstream generation failed",
        503: "the service is unavailable",
    }.get(status_code, f"the server answered HTTP {status_code} with no explanation")


# Model discovery -----------------------------------------------------------------


def parse_models(body: object, model_id: str = MODEL) -> dict[str, Any]:
    """The discovery item for `model_id`, as keyword arguments for `ModelInfo`."""
    items = body.get("data") if isinstance(body, Mapping) else body
    if not isinstance(items, list):
        raise APIResponseError("model discovery answered without a list of models")
    item = next((m for m in items if isinstance(m, Mapping) and m.get("id") == model_id), None)
    if item is None:
        raise APIResponseError(f"model discovery does not list {model_id}")
    caps: Mapping[str, Any] = item["capabilities"] if isinstance(item.get("capabilities"), Mapping) else {}
    found: dict[str, Any] = {"id": model_id, "from_discovery": True, "raw": dict(item)}
    for param in caps.get("parameters") or []:
        if isinstance(param, Mapping) and isinstance(param.get("enum"), list):
            values = tuple(str(v) for v in param["enum"])
            if param.get("name") == "aspect_ratio" and values:
                found["aspect_ratios"] = values
            elif param.get("name") == "resolution" and values:
                found["resolutions"] = values
    refs = caps.get("reference_input")
    if isinstance(refs, Mapping) and _as_int(refs.get("max_items")):
        found["max_references"] = _as_int(refs.get("max_items"))
    pricing = caps.get("pricing")
    if isinstance(pricing, Mapping):
        tiers = tuple(
            PriceTier(str(t.get("id", "")), price, str(t.get("label", "")))
            for t in pricing.get("tiers") or []
            if isinstance(t, Mapping) and (price := _as_int(t.get("price_micro_usdc"))) is not None
        )
        if tiers:
            found["tiers"] = tiers
            found["pricing_mode"] = str(pricing.get("mode") or "per_call")
    return found
