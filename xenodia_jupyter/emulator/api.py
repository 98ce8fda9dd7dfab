"""The API origin's handlers.

    GET  /v1/models                  public model discovery
    POST /v1/images/generations      JSON or multipart; 202 task envelope (or 200 in sync mode)
    GET  /v1/tasks/{task_id}         the task envelope, state computed from elapsed time

Every handler first takes the route's queued fault, if any (see faults.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .bodies import envelope, error_response, model_item, result_url
from .cdn import fetch_own_references, start_render
from .checks import RequestRejected
from .faults import apply_fault, fault_replacement
from .intake import read_generation, validate
from .state import EmulatedTask, EmulatorState, state_of

__all__ = ["create_generation", "get_task", "list_models"]


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
    state = state_of(request)
    state.stats.model_requests += 1
    fault = state.take_fault("models")
    if fault and (replaced := fault_replacement(fault, "models")):
        return replaced
    return await apply_fault(fault, JSONResponse({"object": "list", "data": [model_item()]}))


async def create_generation(request: Request) -> Response:
    state = state_of(request)
    state.stats.generate_posts += 1
    fault = state.take_fault("generate")
    if fault and (replaced := fault_replacement(fault, "generate")):
        return replaced
    if denied := unauthorized(request, state):
        return denied
    # A server that compares raw bodies for an Idempotency-Key (the default compares the request's content).
    raw = await request.body() if state.idempotency_compares == "bytes" else None
    try:
        gen = await read_generation(request)
        validate(gen)
        fetched = await fetch_own_references(state, gen.urls)
    except RequestRejected as exc:
        return error_response(400, str(exc))
    key = request.headers.get("idempotency-key")
    if key:  # as Xenodia's billing governance page documents it
        fingerprint = hashlib.sha256(raw).hexdigest() if raw is not None else gen.fingerprint()
        earlier = state.replay(key, fingerprint)
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
        references=[f.data for f in gen.files] + fetched,
    )
    if key:
        state.remember(key, fingerprint, task)
    state.last_generation = gen.describe()
    if task.outcome == "success":
        # Like a real server, have the file ready when the task succeeds: render it
        # halfway through, away from the burst of answers around creation and end.
        asyncio.get_running_loop().call_later(task.latency / 2, _render_early, state, task)
    if state.mode == "sync-only" or (state.mode == "sync" and not gen.is_async):
        return await apply_fault(fault, await sync_answer(state, task))
    return await apply_fault(fault, JSONResponse(envelope(state, task, 0.0), status_code=202))


async def sync_answer(state: EmulatorState, task: EmulatedTask) -> Response:
    """Older behaviour: hold the request for `latency` seconds, then answer with the URLs."""
    await asyncio.sleep(state.latency)
    phase = task.phase(math.inf)  # where it ends: the wait above covered the latency
    if phase.state == "success":
        return JSONResponse({"created": int(time.time()), "data": [{"url": result_url(state, task)}]})
    if phase.state == "fail":
        return error_response(502, "upstream model error (emulated)", code="generation_failed")
    return error_response(504, "generation did not finish in time (emulated)")


async def get_task(request: Request) -> Response:
    state = state_of(request)
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


def _render_early(state: EmulatorState, task: EmulatedTask) -> None:
    """The early render, unless the file was asked for already (or was rendered
    and let go since): a late timer must not make an old render look recent."""
    if task.render is None and not task.evicted:
        start_render(state, task)
