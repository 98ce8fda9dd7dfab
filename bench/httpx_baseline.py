"""The "overhead" baseline: the smallest hand-written httpx script that does
what one `Client.generate(prompt)` does on the wire (and, for the batch
benchmark's reference, the same written for asyncio).

One `httpx.Client` (one connection pool); for each prompt: POST the
generation with "async": true, wait the server's
recommended_poll_interval_ms and poll the task until it succeeds, download
the PNG from the result URL (without the key), write it to disk.  No
journal, no checks, no retries.  `run_many`, the batch and job reference,
is what a user's asyncio script must be to get through a batch at
concurrency 200: it also repeats a GET that failed (never the POST).  Also
runnable by hand:

    python bench/httpx_baseline.py BASE_URL OUT_DIR [N]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx


def generate(http: httpx.Client, base_url: str, api_key: str, prompt: str, out: Path) -> Path:
    auth = {"Authorization": f"Bearer {api_key}"}
    response = http.post(
        f"{base_url}/v1/images/generations",
        json={"model": "gpt-image-2", "prompt": prompt, "async": True},
        headers=auth,
    )
    response.raise_for_status()
    task = response.json()
    while task["state"] not in ("success", "fail"):
        time.sleep(task["recommended_poll_interval_ms"] / 1000)
        response = http.get(f"{base_url}/v1/tasks/{task['task_id']}", headers=auth)
        response.raise_for_status()
        task = response.json()
    if task["state"] != "success":
        raise RuntimeError(f"task {task['task_id']} failed: {task['error']}")
    image = http.get(task["result"]["data"][0]["url"])
    image.raise_for_status()
    path = out / f"{task['task_id']}.png"
    path.write_bytes(image.content)
    return path


def run(base_url: str, api_key: str, prompts: list[str], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    with httpx.Client(timeout=120) as http:
        return [generate(http, base_url, api_key, prompt, out) for prompt in prompts]


async def agenerate(http: httpx.AsyncClient, base_url: str, api_key: str, prompt: str, out: Path) -> Path:
    """`generate`, written for asyncio."""
    auth = {"Authorization": f"Bearer {api_key}"}
    response = await http.post(
        f"{base_url}/v1/images/generations",
        json={"model": "gpt-image-2", "prompt": prompt, "async": True},
        headers=auth,
    )
    response.raise_for_status()
    task = response.json()
    while task["state"] not in ("success", "fail"):
        await asyncio.sleep(task["recommended_poll_interval_ms"] / 1000)
        response = await http.get(f"{base_url}/v1/tasks/{task['task_id']}", headers=auth)
        response.raise_for_status()
        task = response.json()
    if task["state"] != "success":
        raise RuntimeError(f"task {task['task_id']} failed: {task['error']}")
    image = await http.get(task["result"]["data"][0]["url"])
    image.raise_for_status()
    path = out / f"{task['task_id']}.png"
    path.write_bytes(image.content)
    return path


GET_ATTEMPTS = 4  # a poll or a download is repeated after a dropped connection or a 5xx (a POST never is)


async def _get(http: httpx.AsyncClient, url: str, **kwargs: object) -> httpx.Response:
    """A GET as a script must send it at concurrency 200: repeated (up to
    GET_ATTEMPTS times, 0.1 s apart) when the connection drops or the server
    answers 5xx.  Without this, `httpx.ReadError` ends a 1,000-item batch now
    and then.  A GET is safe to repeat; the POST is billed, so it is not."""
    for attempt in range(GET_ATTEMPTS):
        try:
            response = await http.get(url, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError:
            if attempt + 1 == GET_ATTEMPTS:
                raise
        else:
            if response.status_code < 500 or attempt + 1 == GET_ATTEMPTS:
                response.raise_for_status()
                return response
        await asyncio.sleep(0.1)
    raise AssertionError("unreachable")


async def agenerate_script(http: httpx.AsyncClient, base_url: str, api_key: str, prompt: str, out: Path) -> Path:
    """What a user's asyncio script must do for one item of a big batch: POST
    once (never again: it is billed), poll at the recommended interval and
    download, repeating a failed GET, and write the file."""
    auth = {"Authorization": f"Bearer {api_key}"}
    response = await http.post(
        f"{base_url}/v1/images/generations",
        json={"model": "gpt-image-2", "prompt": prompt, "async": True},
        headers=auth,
    )
    response.raise_for_status()
    task = response.json()
    while task["state"] not in ("success", "fail"):
        await asyncio.sleep(task["recommended_poll_interval_ms"] / 1000)
        task = (await _get(http, f"{base_url}/v1/tasks/{task['task_id']}", headers=auth)).json()
    if task["state"] != "success":
        raise RuntimeError(f"task {task['task_id']} failed: {task['error']}")
    image = await _get(http, task["result"]["data"][0]["url"])
    path = out / f"{task['task_id']}.png"
    path.write_bytes(image.content)
    return path


def limits_for(kind: str, concurrency: int) -> httpx.Limits:
    """`default`: httpx's own (100 connections, 20 kept alive), what a script
    that does not think about it gets; `tuned`: the pool sized to the
    concurrency (every connection kept alive)."""
    if kind == "default":
        return httpx.Limits(max_connections=100, max_keepalive_connections=20)  # = httpx.AsyncClient()'s
    if kind == "tuned":
        return httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    raise ValueError(f"limits {kind!r}: default or tuned")


def run_many(
    base_url: str, api_key: str, prompts: list[str], out: Path, concurrency: int, *, limits: str = "default"
) -> list[Path | BaseException]:
    """All prompts, `concurrency` at once, on one `httpx.AsyncClient` (the batch
    and job reference): each item as `agenerate_script` does it.  An item that
    fails holds its exception (the others go on), as a script using
    `gather(..., return_exceptions=True)` would."""

    async def main() -> list[Path | BaseException]:
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=120, limits=limits_for(limits, concurrency)) as http:

            async def one(prompt: str) -> Path:
                async with gate:
                    return await agenerate_script(http, base_url, api_key, prompt, out)

            return list(await asyncio.gather(*(one(p) for p in prompts), return_exceptions=True))

    out.mkdir(parents=True, exist_ok=True)
    return asyncio.run(main())


if __name__ == "__main__":
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    started = time.perf_counter()
    paths = run(sys.argv[1], "any-key", [f"prompt {i}" for i in range(count)], Path(sys.argv[2]))
    print(f"{len(paths)} images in {time.perf_counter() - started:.2f} s")
