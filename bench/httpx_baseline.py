"""The "overhead" baseline: the smallest hand-written httpx script that does
what one `Client.generate(prompt)` does on the wire (and, for the batch
benchmark's reference, the same written for asyncio).

One `httpx.Client` (one connection pool); for each prompt: POST the
generation with "async": true, wait the server's
recommended_poll_interval_ms and poll the task until it succeeds, download
the PNG from the result URL (without the key), write it to disk.  No
journal, no checks, no retries.  Also runnable by hand:

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


def run_many(base_url: str, api_key: str, prompts: list[str], out: Path, concurrency: int) -> list[Path]:
    """All prompts, `concurrency` at once, on one `httpx.AsyncClient` (the batch reference)."""

    async def main() -> list[Path]:
        gate = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(timeout=120, limits=limits) as http:

            async def one(prompt: str) -> Path:
                async with gate:
                    return await agenerate(http, base_url, api_key, prompt, out)

            return list(await asyncio.gather(*(one(p) for p in prompts)))

    out.mkdir(parents=True, exist_ok=True)
    return asyncio.run(main())


if __name__ == "__main__":
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    started = time.perf_counter()
    paths = run(sys.argv[1], "any-key", [f"prompt {i}" for i in range(count)], Path(sys.argv[2]))
    print(f"{len(paths)} images in {time.perf_counter() - started:.2f} s")
