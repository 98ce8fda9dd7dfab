"""batch and overhead: the client against the emulator, which runs in a
process of its own (so its work does not share this process's GIL).

batch -- `Client.generate_many` of 64 prompts at concurrency 16, the
emulator taking 1 s per generation.  Baseline: the same batch written by
hand on one `httpx.AsyncClient` (`httpx_baseline.run_many`: POST, poll at
the recommended interval, download, write the file; no journal, no checks),
in the same run, the two taking turns.  The ideal, 64 / 16 x 1 s = 4 s, is
in the note; everything above it (polls, downloads, the CPU both processes
spend on about 850 HTTP exchanges on two cores) is paid by both sides.

overhead -- 50 sequential `Client.generate` calls with latency 0 (each still
waits one recommended poll interval, 20 ms, and the emulator renders a
1024x1024 PNG), with everything of ours on: the journal, the image checks
and the fsync of each file.  Baseline: the same script written for asyncio
(`httpx_baseline.agenerate`) on one warm `httpx.AsyncClient` whose
coroutines run on a background event-loop thread behind a blocking call,
which is how `Client` is built.  The plain blocking script on one
`httpx.Client` (`httpx_baseline.generate`) runs too, as a reference (in the
note): the gap between it and the baseline is what asyncio httpx on a loop
thread costs by itself.  The sides take turns in blocks of 50 calls, each
going first in turn; each warms up first (imports, connections, the model
discovery GET).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx_baseline
from common import Outcome, emulator_process, fresh_dir, median, scaled

BATCH_PROMPTS = 64
BATCH_CONCURRENCY = 16
BATCH_LATENCY = 1.0
BATCH_TOLERANCE = 0.05  # ours <= 1.05 x the hand-written asyncio httpx batch
OVERHEAD_CALLS = 50
OVERHEAD_TOLERANCE = 0.10  # ours <= 1.10 x the asyncio httpx script behind a loop thread


def batch(scale: float = 1.0) -> Outcome:
    import xenodia_jupyter as xj

    reps = scaled(3, scale)
    ideal = BATCH_PROMPTS / BATCH_CONCURRENCY * BATCH_LATENCY
    prompts = [f"batch item {i}: a lighthouse at dusk, watercolour" for i in range(BATCH_PROMPTS)]
    wall: dict[str, list[float]] = {"ours": [], "handwritten": []}
    cpu: dict[str, list[float]] = {"ours": [], "handwritten": []}
    failures = 0
    with emulator_process(BATCH_LATENCY) as emu:
        out, hand_out = fresh_dir("batch"), fresh_dir("batch-handwritten")
        with xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=out) as client:

            def ours() -> None:
                nonlocal failures
                results = client.generate_many(prompts, concurrency=BATCH_CONCURRENCY)
                failures += sum(isinstance(r, xj.XenodiaError) for r in results)

            def handwritten() -> None:
                httpx_baseline.run_many(emu.base_url, emu.api_key, prompts, hand_out, BATCH_CONCURRENCY)

            client.generate("warm up")
            httpx_baseline.run_many(emu.base_url, emu.api_key, ["warm up"], hand_out, 1)
            for index in range(reps):
                order = [("ours", ours), ("handwritten", handwritten)]
                for name, fn in order if index % 2 == 0 else reversed(order):
                    started, cpu_started = time.perf_counter(), time.process_time()
                    fn()
                    wall[name].append(time.perf_counter() - started)
                    cpu[name].append(time.process_time() - cpu_started)
    ours_s, hand_s = median(wall["ours"]), median(wall["handwritten"])
    cpu_ours, cpu_hand = median(cpu["ours"]), median(cpu["handwritten"])
    met = failures == 0 and ours_s <= hand_s * (1 + BATCH_TOLERANCE)
    note = f"{failures} failed generations; " if failures else ""
    return Outcome(
        "batch",
        " s",
        ours_s,
        hand_s,
        f"ratio <= {1 + BATCH_TOLERANCE:.2f} (within {BATCH_TOLERANCE:.0%} of hand-written asyncio httpx)",
        met,
        reps={"ours": reps, "handwritten_httpx": reps},
        samples={
            "ours_s": wall["ours"],
            "handwritten_httpx_s": wall["handwritten"],
            "ours_cpu_s": cpu["ours"],
            "handwritten_httpx_cpu_s": cpu["handwritten"],
        },
        extra={
            "baseline": "httpx_baseline.run_many: the same batch on one httpx.AsyncClient, in the same run",
            "ideal_s": ideal,
            "ours_over_ideal": ours_s / ideal,
            "handwritten_over_ideal": hand_s / ideal,
            "ours_cpu_median_s": cpu_ours,
            "handwritten_httpx_cpu_median_s": cpu_hand,
            "prompts": BATCH_PROMPTS,
            "concurrency": BATCH_CONCURRENCY,
            "latency_s": BATCH_LATENCY,
            "failures": failures,
        },
        note=f"{note}the ideal is {ideal:.1f} s (ours {ours_s / ideal:.2f}x it, hand-written {hand_s / ideal:.2f}x); "
        f"client CPU {cpu_ours:.2f} s vs {cpu_hand:.2f} s",
    )


def overhead(scale: float = 1.0) -> Outcome:
    import httpx

    import xenodia_jupyter as xj

    rounds = scaled(5, scale)
    prompts = [f"overhead call {i}: a teapot on a table" for i in range(OVERHEAD_CALLS)]
    samples: dict[str, list[float]] = {"ours": [], "baseline": [], "asyncio": []}
    loop = asyncio.new_event_loop()
    portal = threading.Thread(target=loop.run_forever, name="bench-asyncio", daemon=True)
    portal.start()
    try:
        with emulator_process(0.0) as emu:
            ours_dir, base_dir = fresh_dir("overhead-ours"), fresh_dir("overhead-baseline")
            aclient = httpx.AsyncClient(timeout=120)
            with (
                xj.Client(api_key=emu.api_key, base_url=emu.base_url, output_dir=ours_dir) as client,
                httpx.Client(timeout=120) as http,
            ):

                def asyncio_portal(prompt: str) -> Any:
                    coro = httpx_baseline.agenerate(aclient, emu.base_url, emu.api_key, prompt, base_dir)
                    return asyncio.run_coroutine_threadsafe(coro, loop).result()

                calls: dict[str, Callable[[str], Any]] = {
                    "ours": client.generate,
                    "baseline": lambda p: httpx_baseline.generate(http, emu.base_url, emu.api_key, p, base_dir),
                    "asyncio": asyncio_portal,
                }
                for fn in calls.values():
                    fn("warm up")
                names = list(calls)
                for index in range(rounds):
                    for name in names[index % 3 :] + names[: index % 3]:  # each goes first in turn
                        started = time.perf_counter()
                        for prompt in prompts:
                            calls[name](prompt)
                        samples[name].append(time.perf_counter() - started)
            asyncio.run_coroutine_threadsafe(aclient.aclose(), loop).result()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        portal.join(5)
    ours_s, sync_s, base_s = (median(samples[k]) for k in ("ours", "baseline", "asyncio"))
    return Outcome(
        "overhead",
        " s",
        ours_s,
        base_s,
        f"ratio <= {1 + OVERHEAD_TOLERANCE:.2f} vs asyncio httpx on a loop thread (journal and fsync on for ours)",
        ours_s <= base_s * (1 + OVERHEAD_TOLERANCE),
        reps={"ours": rounds, "baseline": rounds, "sync_reference": rounds},
        samples={
            "ours_s": samples["ours"],
            "baseline_asyncio_portal_s": samples["asyncio"],
            "sync_httpx_reference_s": samples["baseline"],
        },
        extra={
            "baseline": "httpx_baseline.agenerate on a background event-loop thread behind a blocking call",
            "calls": OVERHEAD_CALLS,
            "sync_httpx_s": sync_s,
            "ours_over_sync_httpx": ours_s / sync_s,
            "asyncio_portal_over_sync_httpx": base_s / sync_s,
            "ours_ms_per_call": ours_s / OVERHEAD_CALLS * 1000,
            "baseline_ms_per_call": base_s / OVERHEAD_CALLS * 1000,
            "sync_httpx_ms_per_call": sync_s / OVERHEAD_CALLS * 1000,
        },
        note=f"{ours_s / OVERHEAD_CALLS * 1000:.1f} vs {base_s / OVERHEAD_CALLS * 1000:.1f} ms a call; the plain "
        f"blocking httpx script took {sync_s:.2f} s (ours {ours_s / sync_s:.2f}x it, the baseline {base_s / sync_s:.2f}x)",
    )


def run(scale: float = 1.0) -> list[Outcome]:
    return [batch(scale), overhead(scale)]
