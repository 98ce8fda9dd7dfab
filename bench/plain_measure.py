"""The plain two-process measurement that bench_scale's job lines are checked
against (issue #28): no benchmark machinery, nothing shared.

    python bench/plain_measure.py COUNT ROUNDS [SIDE,...]

The package's emulator (`python -m xenodia_jupyter.emulator --latency 0`,
rendering every image) in its own process; each client a fresh
`python -c SCRIPT` process of its own, whose CPU time is read from outside,
by the parent, as the user + system time of that child alone
(`os.wait4`: its whole life, interpreter start and imports included), and
its peak RSS from the same rusage (`ru_maxrss`; a child started with vfork
can inherit its parent's, which is small here).  Sides (taking turns, the
order rotating each round):

    ours      xj.Client(...).generate_many(prompts, concurrency=200, progress=False)
    default   a hand-written asyncio httpx script, httpx's default pool limits
    pool200   the same with max_connections=200

The hand-written script is `httpx_baseline.run_many` (POST once, GETs
repeated on failure, files written).  One line per run on stdout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PY, ROOT, WORK, emulator_process, fresh_dir  # noqa: E402

PROMPT = "scale item {i}: a lighthouse at dusk, watercolour"
SCRIPTS = {
    "ours": (
        "import sys, xenodia_jupyter as xj\n"
        "url, key, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]\n"
        f"prompts = [{PROMPT!r}.format(i=i) for i in range(n)]\n"
        "with xj.Client(api_key=key, base_url=url, output_dir=out) as c:\n"
        "    r = c.generate_many(prompts, concurrency=200, progress=False)\n"
        "import collections\n"
        "bad = collections.Counter(f'{type(x).__name__}: {str(x)[:120]}' for x in r if not isinstance(x, xj.GenerationResult))\n"
        "print(dict(bad), file=sys.stderr)\n"
        "print(sum(isinstance(x, xj.GenerationResult) for x in r))\n"
    ),
    "default": (
        "import sys; sys.path.insert(0, @BENCH@); import httpx_baseline\n"
        "from pathlib import Path\n"
        "url, key, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]\n"
        f"prompts = [{PROMPT!r}.format(i=i) for i in range(n)]\n"
        "r = httpx_baseline.run_many(url, key, prompts, Path(out), 200, limits=@LIMITS@)\n"
        "import collections\n"
        "bad = collections.Counter(f'{type(x).__name__}: {str(x)[:120]}' for x in r if not isinstance(x, Path))\n"
        "print(dict(bad), file=sys.stderr)\n"
        "print(sum(isinstance(x, Path) for x in r))\n"
    ),
}


def script(side: str) -> str:
    if side == "ours":
        return SCRIPTS["ours"]
    limits = "default" if side == "default" else "tuned"
    return SCRIPTS["default"].replace("@BENCH@", repr(str(ROOT / "bench"))).replace("@LIMITS@", repr(limits))


def one(side: str, base_url: str, count: int) -> dict[str, float | str]:
    out = fresh_dir(f"plain-{side}-{count}")
    started = time.perf_counter()
    proc = subprocess.Popen([PY, "-c", script(side), base_url, "bench-key", str(count), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=WORK)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = proc.communicate()
    ok = stdout.strip().splitlines()[-1] if proc.returncode == 0 and stdout.strip() else f"FAILED: {stderr[-300:]!r}"
    files = sum(1 for p in out.rglob("*.png") if ".thumb" not in p.name)
    cpu = usage.ru_utime + usage.ru_stime
    errors = stderr.strip().splitlines()[-1] if proc.returncode == 0 and stderr.strip() else ""
    return {"side": side, "items": count, "cpu_ms_per_gen": cpu / count * 1000, "wall_s": wall,
            "peak_rss_mb": usage.ru_maxrss / 1024, "ok": ok, "files": files, "errors": errors}


def main(argv: list[str]) -> int:
    count, rounds = int(argv[0]), int(argv[1])
    sides = argv[2].split(",") if len(argv) > 2 else ["ours", "default", "pool200"]
    WORK.mkdir(parents=True, exist_ok=True)
    with emulator_process(0.0) as emu:
        for round_ in range(rounds):
            for side in sides[round_ % len(sides):] + sides[: round_ % len(sides)]:
                r = one(side, emu.base_url, count)
                print(f"plain {r['side']:8} {count:>6} items: {r['cpu_ms_per_gen']:5.1f} ms CPU/generation, "
                      f"wall {r['wall_s']:6.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB, ok {r['ok']}, files {r['files']}, "
                      f"load {os.getloadavg()[0]:.1f}" + (f", failed: {r['errors']}" if r["errors"] not in ("", "{}") else ""),
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
