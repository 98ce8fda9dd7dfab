"""The emulator's two Starlette apps: the API origin and the CDN origin.

API origin (`create_app`)::

    GET  /v1/models                  public model discovery
    POST /v1/images/generations      JSON or multipart; 202 task envelope (or 200 in sync mode)
    GET  /v1/tasks/{task_id}         the task envelope, state computed from elapsed time

CDN origin (`create_cdn_app`)::

    GET  /files/{task_id}/{n}.png    the rendered result (rendered once, on first download)
    GET  /refs/{name}                small sample references (sample.png, .jpg, .webp, .gif), on both origins

Both share one `EmulatorState`.  Every handler first takes the route's queued
fault, if any: "status", "nested", "html", "empty" and "malformed" replace
the answer (a generation is then NOT billed); "truncated", "drop" and "delay"
mangle the real answer (a generation IS billed first, as a real server would).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import InvalidRequestError
from ..wire.rules import (
    ASPECT_RATIOS,
    MAX_REFERENCE_BYTES,
    MAX_REFERENCES,
    MODEL,
    PRICE_MICRO_USDC,
    RESOLUTIONS,
    check_parameters,
    check_prompt,
    check_reference_bytes,
    check_reference_count,
    check_reference_url,
    check_unknown_options,
    sniff_mime,
)
from .render import render_image, sample_reference
from .state import EmulatorState, Fault, RecordedRequest, Task, new_request_id

__all__ = ["create_app", "create_cdn_app", "model_item", "EmulatedDrop"]

SCALAR_FIELDS = ("model", "prompt", "aspect_ratio", "resolution", "response_format", "async")
FILE_FIELDS = ("image", "image[]", "image_input[]", "image_input")
URL_FIELDS = ("image_input", "image_input[]")
FORM_PART_LIMIT = MAX_REFERENCE_BYTES + 1024 * 1024  # room for a 30 MiB part and its headers
FORM_MAX_FILES = 64  # more than MAX_REFERENCES, so the count rule (not the parser) answers

_ERRORS: dict[int, tuple[str, str, str]] = {
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
_OWN_FILE = re.compile(r"^/files/(?P<task_id>[^/]+)/(?P<index>\d+)\.png$")
_OWN_REF = re.compile(r"^/refs/(?P<name>[^/]+)$")


class EmulatedDrop(Exception):
    """Raised mid-response on purpose so the server drops the connection (fault "drop")."""


# Responses -----------------------------------------------------------------------


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The documented flat error envelope."""
    error, kind, default_code = _ERRORS.get(status, ("error", "api_error", "error"))
    body = {"error": error, "message": message, "type": kind, "code": code or default_code}
    return JSONResponse(body, status_code=status, headers={"X-Request-Id": new_request_id(), **(headers or {})})


def invalid_request(exc: InvalidRequestError) -> JSONResponse:
    return error_response(400, f"{exc.field}: {exc.message}")


class DroppedResponse(Response):
    """Sends the start of `inner` and half its body, then breaks the connection."""

    def __init__(self, inner: Response) -> None:
        super().__init__(inner.body, status_code=inner.status_code)
        self.raw_headers = list(inner.raw_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        half = bytes(self.body[: max(1, len(self.body) // 2)])
        await send({"type": "http.response.body", "body": half, "more_body": True})
        raise EmulatedDrop("connection dropped mid-response (emulated fault)")


def truncated(inner: Response) -> Response:
    """`inner` with only the first half of its body, and a Content-Length that matches it."""
    cut = bytes(inner.body[: len(inner.body) // 2])
    response = Response(cut, status_code=inner.status_code)
    response.raw_headers = [(k, v) for k, v in inner.raw_headers if k != b"content-length"]
    response.raw_headers.append((b"content-length", str(len(cut)).encode()))
    return response


def fault_replacement(fault: Fault, route: str) -> Response | None:
    """The answer that replaces the real one, or None when the fault mangles the real answer."""
    headers = {} if fault.retry_after is None else {"Retry-After": _header_number(fault.retry_after)}
    status = fault.status
    phrase = _phrase(status)
    message = f"{phrase} (emulated fault)"
    if fault.kind == "status":
        return error_response(status, message, headers=headers)
    if fault.kind == "nested":
        _, kind, code = _ERRORS.get(status, ("error", "api_error", "error"))
        return JSONResponse({"error": {"message": message, "code": code, "type": kind}}, status, headers=headers)
    if fault.kind == "html":
        page = f"<html><head><title>{status} {phrase}</title></head><body><h1>{status} {phrase}</h1><hr><p>gateway</p></body></html>"
        return HTMLResponse(page, status, headers=headers)
    if fault.kind == "empty":
        return Response(b"", status, headers=headers)
    if fault.kind == "malformed":
        if route == "download":
            return Response(b"this is not an image " * 64, 200, media_type="image/png")
        return Response(b'{"task_id": "task_', 202 if route == "generate" else 200, media_type="application/json")
    return None


async def apply_fault(fault: Fault | None, response: Response) -> Response:
    """Mangle a real answer: "delay" waits, "truncated" cuts it, "drop" breaks the connection."""
    if fault is None:
        return response
    if fault.kind == "delay":
        await asyncio.sleep(fault.delay)
    elif fault.kind == "truncated":
        return truncated(response)
    elif fault.kind == "drop":
        return DroppedResponse(response)
    return response


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _header_number(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# Shapes ------------------------------------------------------------------------------


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


def result_url(state: EmulatorState, task: Task) -> str:
    return f"{state.cdn_url}/files/{task.id}/0.png"


def poll_url(state: EmulatorState, task: Task) -> str:
    path = f"/v1/tasks/{task.id}"
    if state.poll_url == "absolute":
        return state.base_url + path
    if state.poll_url == "foreign":
        return state.cdn_url + path
    return path


def billing(state_name: str) -> dict[str, Any]:
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


def envelope(state: EmulatorState, task: Task, elapsed: float) -> dict[str, Any]:
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
            body["error"] = {"code": "generation_failed", "message": "upstream model error (emulated)"}
    return body


# Reading a generation request ----------------------------------------------------------


@dataclass
class Upload:
    part: str  # the form field it came under
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)


@dataclass
class Generation:
    """A generation request as received, before and after validation."""

    transport: str  # "json" | "multipart"
    fields: dict[str, Any] = field(default_factory=dict)
    urls: list[str] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    is_async: bool = False

    def describe(self) -> dict[str, Any]:
        """What `Emulator.last_generation` shows."""
        return {
            "transport": self.transport,
            "fields": dict(self.fields),
            "image_input": list(self.urls),
            "files": [
                {
                    "field": u.part,
                    "filename": u.filename,
                    "content_type": u.content_type,
                    "size": len(u.data),
                    "mime_sniffed": sniff_mime(u.data),
                }
                for u in self.uploads
            ],
            "async": self.is_async,
        }

    def fingerprint(self) -> str:
        """What makes two requests the same for an Idempotency-Key: fields, URLs, file bytes."""
        digest = hashlib.sha256(json.dumps([self.fields, self.urls], sort_keys=True, default=str).encode())
        for upload in self.uploads:
            digest.update(hashlib.sha256(upload.data).digest())
        return digest.hexdigest()

    def snapshot(self) -> dict[str, Any]:
        """The envelope's `request`: the scalar fields and references, without file bytes."""
        snap: dict[str, Any] = {k: v for k, v in self.fields.items() if k != "async"}
        if self.urls:
            snap["image_input"] = list(self.urls)
        if self.uploads:
            snap["images"] = [
                {"filename": u.filename, "content_type": u.content_type, "size": len(u.data)} for u in self.uploads
            ]
        return snap


async def read_generation(request: Request) -> Generation:
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        return await _read_multipart(request)
    if content_type.lower().startswith("application/x-www-form-urlencoded"):
        raise InvalidRequestError(
            "body", "a url-encoded form is not accepted; send application/json or multipart/form-data"
        )
    return await _read_json(request)


async def _read_json(request: Request) -> Generation:
    try:
        data = json.loads(await request.body())
    except ValueError:
        raise InvalidRequestError("body", "is not valid JSON (send application/json or multipart/form-data)") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("body", "must be a JSON object")
    urls = data.pop("image_input", None)
    if urls is None:
        urls = []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise InvalidRequestError("image_input", "must be a list of URL strings")
    return Generation("json", fields=data, urls=urls)


async def _read_multipart(request: Request) -> Generation:
    try:
        form = await request.form(max_files=FORM_MAX_FILES, max_part_size=FORM_PART_LIMIT)
    except (HTTPException, MultiPartException) as exc:
        detail = exc.detail if isinstance(exc, HTTPException) else exc.message
        raise InvalidRequestError("body", f"is not valid multipart/form-data ({detail})") from None
    gen = Generation("multipart")
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key not in FILE_FIELDS:
                    raise InvalidRequestError(
                        key, "unexpected file part; upload references under image, image[] or image_input[]"
                    )
                gen.uploads.append(Upload(key, value.filename, value.content_type, await value.read()))
            elif key in URL_FIELDS:
                gen.urls.append(value)
            elif key in FILE_FIELDS:
                raise InvalidRequestError(key, "must be a file part; send reference URLs as image_input")
            elif key in gen.fields:
                raise InvalidRequestError(key, "is given more than once")
            else:
                gen.fields[key] = value
    finally:
        await form.close()
    return gen


@contextlib.contextmanager
def wire_field(name: str) -> Iterator[None]:
    """Report a reference rule under the request field it concerns."""
    try:
        yield
    except InvalidRequestError as exc:
        if exc.field != "references":
            raise
        raise InvalidRequestError(name, exc.message) from None


def validate(gen: Generation) -> None:
    """Apply the contract's rules (rules.py) in order; raise on the first one broken."""
    for name in ("model", "prompt"):
        if name not in gen.fields:
            raise InvalidRequestError(name, "is required")
    check_unknown_options({k: v for k, v in gen.fields.items() if k not in SCALAR_FIELDS})
    check_parameters(
        model=gen.fields["model"],
        aspect_ratio=gen.fields.get("aspect_ratio"),
        resolution=gen.fields.get("resolution"),
        response_format=gen.fields.get("response_format", "url"),
    )
    check_prompt(gen.fields["prompt"])
    gen.is_async = parse_async(gen.fields.get("async", False))
    with wire_field(gen.uploads[0].part if gen.uploads else "image_input"):
        check_reference_count(len(gen.urls) + len(gen.uploads))
    with wire_field("image_input"):
        for url in gen.urls:
            check_reference_url(url)
    for number, upload in enumerate(gen.uploads, 1):
        with wire_field(upload.part):
            check_reference_bytes(upload.data, repr(upload.filename) if upload.filename else f"file #{number}")


def parse_async(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0", ""):
        return value.strip().lower() in ("true", "1")
    raise InvalidRequestError("async", f"{value!r} is not a boolean (use true or false)")


# Files of the CDN origin ---------------------------------------------------------------


def start_render(state: EmulatorState, task: Task) -> asyncio.Future[bytes]:
    """Render the task's PNG in a worker thread (once), kept in a small cache."""
    if task.render is None:
        task.render = asyncio.ensure_future(
            run_in_threadpool(render_image, task.prompt, task.aspect_ratio, task.resolution, task.references)
        )
    state.keep_render(task)
    return task.render


async def result_png(state: EmulatorState, task: Task) -> bytes:
    """The task's PNG: started halfway through the task, now if that has not come yet, or again if evicted."""
    render = start_render(state, task)
    return render.result() if render.done() else await asyncio.shield(render)


async def own_cdn_bytes(state: EmulatorState, path: str) -> bytes | None:
    """What our own CDN origin would answer for `path`, or None (404)."""
    if match := _OWN_REF.match(path):
        sample = sample_reference(match["name"])
        return sample[0] if sample else None
    if match := _OWN_FILE.match(path):
        task = state.tasks.get(match["task_id"])
        if task is None or match["index"] != "0" or not state.result_available(task):
            return None
        return await result_png(state, task)
    return None


async def fetch_own_references(state: EmulatorState, urls: list[str]) -> list[bytes]:
    """Fetch the image_input URLs that point at our CDN origin; other hosts are only recorded."""
    cdn = urlsplit(state.cdn_url)
    fetched: list[bytes] = []
    for url in urls:
        parts = urlsplit(url)
        if (parts.scheme, parts.hostname, parts.port) != (cdn.scheme, cdn.hostname, cdn.port):
            continue
        data = await own_cdn_bytes(state, parts.path)
        if data is None:
            raise InvalidRequestError("image_input", f"{url} could not be fetched (404 Not Found)")
        with wire_field("image_input"):
            check_reference_bytes(data, url)
        state.stats.reference_downloads += 1
        fetched.append(data)
    return fetched


# Handlers: API origin --------------------------------------------------------------------


def _state(request: Request) -> EmulatorState:
    return cast(EmulatorState, request.app.state.emulator)


def unauthorized(request: Request, state: EmulatorState) -> Response | None:
    """A 401 answer when the bearer key is missing, empty or (when one is configured) wrong."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return error_response(401, "missing API key: send the header Authorization: Bearer <key>")
    if state.api_key is not None and not hmac.compare_digest(token.encode(), state.api_key.encode()):
        return error_response(401, "invalid API key")
    return None


async def list_models(request: Request) -> Response:
    state = _state(request)
    state.stats.model_requests += 1
    fault = state.take_fault("models")
    if fault and (replaced := fault_replacement(fault, "models")):
        return replaced
    return await apply_fault(fault, JSONResponse({"object": "list", "data": [model_item()]}))


async def create_generation(request: Request) -> Response:
    state = _state(request)
    state.stats.generate_posts += 1
    fault = state.take_fault("generate")
    if fault and (replaced := fault_replacement(fault, "generate")):
        return replaced
    if denied := unauthorized(request, state):
        return denied
    try:
        gen = await read_generation(request)
        validate(gen)
        fetched = await fetch_own_references(state, gen.urls)
    except InvalidRequestError as exc:
        return invalid_request(exc)
    key = request.headers.get("idempotency-key")
    if key:  # as Xenodia's billing governance page documents it
        earlier = state.replay(key, gen.fingerprint())
        if isinstance(earlier, str):
            return error_response(
                409, "this Idempotency-Key was used with a different request", code="idempotency_conflict"
            )
        if earlier is not None:
            return await apply_fault(fault, JSONResponse(envelope(state, earlier, earlier.elapsed()), status_code=202))
    task = state.create_task(
        prompt=gen.fields["prompt"],
        aspect_ratio=gen.fields.get("aspect_ratio"),
        resolution=gen.fields.get("resolution"),
        snapshot=gen.snapshot(),
        references=[u.data for u in gen.uploads] + fetched,
    )
    if key:
        state.remember(key, gen.fingerprint(), task)
    state.last_generation = gen.describe()
    if task.outcome == "success":
        # Like a real server, have the file ready when the task succeeds: render it
        # halfway through, away from the burst of answers around creation and end.
        asyncio.get_running_loop().call_later(task.latency / 2, start_render, state, task)
    if state.mode == "sync-only" or (state.mode == "sync" and not gen.is_async):
        return await apply_fault(fault, await sync_answer(state, task))
    return await apply_fault(fault, JSONResponse(envelope(state, task, 0.0), status_code=202))


async def sync_answer(state: EmulatorState, task: Task) -> Response:
    """Older behaviour: hold the request for `latency` seconds, then answer with the URLs."""
    await asyncio.sleep(state.latency)
    phase = task.phase(math.inf)  # where it ends: the wait above covered the latency
    if phase.state == "success":
        return JSONResponse({"created": int(time.time()), "data": [{"url": result_url(state, task)}]})
    if phase.state == "fail":
        return error_response(502, "upstream model error (emulated)", code="generation_failed")
    return error_response(504, "generation did not finish in time (emulated)")


async def get_task(request: Request) -> Response:
    state = _state(request)
    state.stats.polls += 1
    fault = state.take_fault("poll")
    if fault and (replaced := fault_replacement(fault, "poll")):
        return replaced
    if denied := unauthorized(request, state):
        return denied
    task = state.tasks.get(request.path_params["task_id"])
    if task is None:
        return error_response(404, f"task {request.path_params['task_id']!r} not found", code="task_not_found")
    return await apply_fault(fault, JSONResponse(envelope(state, task, task.elapsed())))


# Handlers: CDN origin ------------------------------------------------------------------------


async def get_file(request: Request) -> Response:
    state = _state(request)
    state.stats.downloads += 1
    fault = state.take_fault("download")
    if fault and (replaced := fault_replacement(fault, "download")):
        return replaced
    task = state.tasks.get(request.path_params["task_id"])
    if task is None or request.path_params["index"] != 0 or not state.result_available(task):
        return error_response(404, "file not found or expired")
    png = await result_png(state, task)
    return await apply_fault(fault, Response(png, media_type="image/png"))


async def get_reference(request: Request) -> Response:
    sample = sample_reference(request.path_params["name"])
    if sample is None:
        return error_response(404, "no such sample reference")
    data, media_type = sample
    return Response(data, media_type=media_type)


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return error_response(status, f"{request.method} {request.url.path}: {_phrase(status)}")


# Apps ----------------------------------------------------------------------------------------------


class Recorder:
    """ASGI middleware: records every request (origin, method, path, Authorization present)."""

    def __init__(self, app: ASGIApp, state: EmulatorState, origin: Literal["api", "cdn"]) -> None:
        self.app = app
        self.state = state
        self.origin = origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            has_auth = any(name == b"authorization" for name, _ in scope["headers"])
            self.state.record(RecordedRequest(self.origin, scope["method"], scope["path"], has_auth))
        await self.app(scope, receive, send)


def _app(state: EmulatorState, origin: Literal["api", "cdn"], routes: list[Route]) -> Starlette:
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Recorder, state=state, origin=origin)],
        exception_handlers={HTTPException: http_error},
    )
    app.state.emulator = state
    return app


def create_app(state: EmulatorState | None = None) -> Starlette:
    """The API origin.  Usable in-process through `httpx.ASGITransport(app=create_app(state))`."""
    routes = [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/images/generations", create_generation, methods=["POST"]),
        Route("/v1/tasks/{task_id}", get_task, methods=["GET"]),
        # The sample references, here too: a notebook that knows only the base URL can use them.
        Route("/refs/{name}", get_reference, methods=["GET"]),
    ]
    return _app(state or EmulatorState(), "api", routes)


def create_cdn_app(state: EmulatorState) -> Starlette:
    """The CDN origin that serves result files (it knows no API routes and wants no key)."""
    routes = [
        Route("/files/{task_id}/{index:int}.png", get_file, methods=["GET"]),
        Route("/refs/{name}", get_reference, methods=["GET"]),
    ]
    return _app(state, "cdn", routes)
