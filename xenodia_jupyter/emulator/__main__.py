"""`python -m xenodia_jupyter.emulator`: serve a local Xenodia until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from .._extras import MissingExtra, require


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m xenodia_jupyter.emulator",
        description="Serve a local emulation of Xenodia's gpt-image-2 API (and a CDN origin for result files).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="API port (default: 8765; 0 picks a free one)")
    parser.add_argument("--cdn-port", type=int, default=0, help="result files port (default: a free one)")
    parser.add_argument(
        "--mode",
        choices=["task", "sync", "sync-only"], default="task",
        help="task: always 202 + task (default); sync: 200 unless async is asked; sync-only: always 200",
    )
    parser.add_argument("--latency", type=float, default=2.0, help="seconds a generation takes (default: 2)")
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any non-empty key)")
    parser.add_argument(
        "--poll-interval-ms",
        type=int,
        default=None,
        help="fix recommended_poll_interval_ms (default: a tenth of the latency, or the time left when sooner)",
    )
    parser.add_argument("--result-ttl", type=float, default=None, help="seconds result files live after completion")
    parser.add_argument("--poll-url", choices=["relative", "absolute", "foreign"], default="relative")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        require("emulator")
    except MissingExtra as exc:
        print(exc, file=sys.stderr)
        return 2
    from .server import TEST_API_KEY, Emulator

    emulator = Emulator(
        mode=args.mode,
        latency=args.latency,
        api_key=args.api_key,
        poll_interval_ms=args.poll_interval_ms,
        result_ttl=args.result_ttl,
        poll_url=args.poll_url,
        host=args.host,
        port=args.port,
        cdn_port=args.cdn_port,
    )
    try:
        emulator.start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port} or the CDN port: {exc}", file=sys.stderr)
        return 1
    key = "the one given with --api-key" if args.api_key else f"any non-empty bearer key (e.g. {TEST_API_KEY})"
    print(f"Xenodia emulator ({args.mode} mode, latency {args.latency:g} s)")
    print(f"  base URL: {emulator.base_url}")
    print(f"  CDN URL:  {emulator.cdn_url}")
    print(f"  API key:  {key}")
    print(f"  try:      export XENODIA_BASE_URL={emulator.base_url} XENODIA_API_KEY={TEST_API_KEY}")
    print("Press Ctrl-C to stop.", flush=True)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):  # a timed wait lets the signal handlers run
            pass
    finally:
        emulator.stop()
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
