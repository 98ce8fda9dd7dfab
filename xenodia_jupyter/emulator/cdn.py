"""The CDN origin: result files (rendered once, on demand) and sample references.

    GET  /files/{task_id}/{n}.png    the rendered result
    GET  /refs/{name}                small sample references (sample.png, .jpg, .webp, .gif)

`fetch_own_references` is how the API origin reads `image_input` URLs that
point here; URLs on other hosts are only recorded.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from .bodies import error_response
from .checks import RequestRejected, check_reference_bytes
from .faults import apply_fault, fault_replacement
from .render import render_image, sample_reference
from .state import EmulatedTask, EmulatorState, state_of

__all__ = ["fetch_own_references", "get_file", "get_reference", "result_png", "start_render"]

_OWN_FILE = re.compile(r"^/files/(?P<task_id>[^/]+)/(?P<index>\d+)\.png$")
_OWN_REF = re.compile(r"^/refs/(?P<name>[^/]+)$")


def start_render(state: EmulatorState, task: EmulatedTask) -> asyncio.Future[bytes]:
    """Render the task's PNG in a worker thread (once), kept in a small cache."""
    if task.render is None:
        task.render = asyncio.ensure_future(
            run_in_threadpool(render_image, task.prompt, task.aspect_ratio, task.resolution, task.references)
        )
    state.keep_render(task)
    return task.render


async def result_png(state: EmulatorState, task: EmulatedTask) -> bytes:
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
    """Fetch the image_input URLs that point at our CDN origin and check their bytes."""
    cdn = urlsplit(state.cdn_url)
    fetched: list[bytes] = []
    for url in urls:
        parts = urlsplit(url)
        if (parts.scheme, parts.hostname, parts.port) != (cdn.scheme, cdn.hostname, cdn.port):
            continue
        data = await own_cdn_bytes(state, parts.path)
        if data is None:
            raise RequestRejected("image_input", f"{url} could not be fetched (404 Not Found)")
        check_reference_bytes(data, url, "image_input")
        state.stats.reference_downloads += 1
        fetched.append(data)
    return fetched


async def get_file(request: Request) -> Response:
    state = state_of(request)
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
