"""emulator: task polls per second the emulator serves on this machine.

The emulator runs as `python -m xenodia_jupyter.emulator` in its own
process.  One task is created; then 16 keep-alive connections send
`GET /v1/tasks/{id}` (with the bearer key) back to back for a few seconds,
written as raw HTTP/1.1 on asyncio streams: a load generator much lighter
than any client, so that the number is the server's.  Only 200 answers with
a whole body count.  There is no baseline: the target is absolute, and
exists so that the other benchmarks measure the client, not the emulator.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import httpx
from common import Outcome, emulator_process, median, scaled

CONNECTIONS = 16
SECONDS = 3.0
TARGET_PER_S = 500.0


async def _hammer(base_url: str, api_key: str, task_id: str, seconds: float) -> tuple[int, float]:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"GET /v1/tasks/{task_id} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {api_key}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    ok = 0
    stop_at = 0.0

    async def connection() -> None:
        nonlocal ok
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < stop_at:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                if head.startswith(b"HTTP/1.1 200") and body.startswith(b"{"):
                    ok += 1
        finally:
            writer.close()

    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return ok, time.perf_counter() - started


def run(scale: float = 1.0) -> list[Outcome]:
    reps = scaled(3, scale)
    rates: list[float] = []
    counts: list[int] = []
    with emulator_process(1.0) as emu:
        created = httpx.post(
            f"{emu.base_url}/v1/images/generations",
            json={"model": "gpt-image-2", "prompt": "a poll target", "async": True},
            headers={"Authorization": f"Bearer {emu.api_key}"},
        )
        created.raise_for_status()
        task_id = created.json()["task_id"]
        asyncio.run(_hammer(emu.base_url, emu.api_key, task_id, 0.5))  # warm-up
        for _ in range(reps):
            ok, elapsed = asyncio.run(_hammer(emu.base_url, emu.api_key, task_id, SECONDS))
            counts.append(ok)
            rates.append(ok / elapsed)
    ours = median(rates)
    return [
        Outcome(
            "emulator",
            "/s",
            ours,
            None,
            f">= {TARGET_PER_S:.0f} polls/s",
            ours >= TARGET_PER_S,
            reps={"ours": reps},
            samples={"polls_per_s": rates, "polls": [float(c) for c in counts]},
            extra={"connections": CONNECTIONS, "seconds_per_sample": SECONDS},
            no_baseline=True,
        )
    ]
