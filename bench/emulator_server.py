"""The emulator in a process of its own, with its counters readable from the
benchmark: `python bench/emulator_server.py --latency 0 [--same-image]`.

It is the package's `Emulator` (the same apps, routes and task logic as
`python -m xenodia_jupyter.emulator`), started the same way and announcing
the same lines on stdout.  Then it reads commands on stdin, one a line, and
answers each with one JSON line on stdout:

    stats   -> the `Stats` counters (POSTs, billed calls, polls, downloads, ...)
    reset   -> zeroes the counters (and forgets the recorded requests)
    quit    -> stops the servers (end of stdin does too)

Two settings exist for the scale benchmarks, where 10,000s of generations go
through one emulator:

--same-image   every result is one PNG rendered once per (aspect ratio,
               resolution) instead of one render per task (about 10 ms of CPU
               each at 1K): the client downloads, checks and saves the same
               bytes, but the emulator no longer needs a core to itself.
--no-record    keep only the counters, not a record of every request (the
               list would grow by one object a request).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--poll-interval-ms", type=int, default=None)
    parser.add_argument("--same-image", action="store_true")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    from xenodia_jupyter.emulator import cdn, render
    from xenodia_jupyter.emulator.server import Emulator

    if args.same_image:

        @functools.lru_cache(maxsize=16)
        def once(aspect_ratio: str | None, resolution: str | None) -> bytes:
            return render.render_image("xenodia bench: one image for every task", aspect_ratio, resolution, [])

        def same(prompt: str, aspect_ratio: str | None, resolution: str | None, references: list[bytes]) -> bytes:
            return once(aspect_ratio, resolution)

        cdn.render_image = same  # what the CDN handlers call (imported by name into cdn)

    emulator = Emulator(mode="task", latency=args.latency, poll_interval_ms=args.poll_interval_ms, port=0)
    if args.no_record:
        state = emulator.state

        def record(request: object) -> None:
            if getattr(request, "origin", None) == "cdn" and getattr(request, "has_authorization", False):
                state.stats.auth_on_cdn += 1

        state.record = record  # type: ignore[method-assign]
    emulator.start()
    print(f"  base URL: {emulator.base_url}")
    print(f"  CDN URL:  {emulator.cdn_url}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                print(json.dumps(dataclasses.asdict(emulator.stats)), flush=True)
            elif command == "reset":
                emulator.state.reset()
                print("{}", flush=True)
            elif command == "quit":
                break
            else:
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
