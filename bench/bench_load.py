"""load: what `%load_ext xenodia_jupyter` costs in a fresh IPython process.

Each sample is a new `python -c` process that starts
`InteractiveShell.instance()` and then runs `%load_ext <extension>`; the
process itself times the `%load_ext` call with `time.perf_counter`.  That is
"the process with the extension minus a bare IPython start", measured where
it is least noisy: interpreter and IPython start-up are not in the number at
all, rather than subtracted from another noisy number.  As a cross-check the
whole process is also timed from outside, for a bare start, ours and the
baseline, and the difference of medians is kept in bench.json.

Rounds interleave the three kinds of process, so machine noise hits them
alike.  The baseline is `%load_ext jupyter_ai_magics` (installed by
`make bench`); without it the baseline is reported as unavailable.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from typing import Any

from common import PY, WORK, Outcome, median, scaled, timed

NAME = "load"
TARGET_MS = 30.0
OURS = "xenodia_jupyter"
BASELINE = "jupyter_ai_magics"

SNIPPET = """
import json, sys, time
t0 = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
t1 = time.perf_counter()
ext = sys.argv[1]
if ext:
    shell.run_line_magic("load_ext", ext)
t2 = time.perf_counter()
loaded = not ext or ext in shell.extension_manager.loaded
print(json.dumps({"start": t1 - t0, "load": t2 - t1, "loaded": loaded}))
"""


def _sample(extension: str) -> dict[str, Any]:
    env = dict(os.environ, IPYTHONDIR=str(WORK / "ipython"), PYTHONWARNINGS="ignore")
    seconds, proc = timed(
        lambda: subprocess.run(
            [PY, "-c", SNIPPET, extension], capture_output=True, text=True, env=env, cwd=WORK, timeout=120
        )
    )
    if proc.returncode != 0:
        raise RuntimeError(f"%load_ext {extension or '(none)'} failed:\n{proc.stderr[-2000:]}")
    last = proc.stdout.strip().splitlines()[-1]
    data = json.loads(last)
    if not data["loaded"]:
        raise RuntimeError(f"%load_ext {extension} did not load the extension:\n{proc.stdout[-2000:]}")
    data["process"] = seconds
    return data


def run(scale: float = 1.0) -> list[Outcome]:
    WORK.mkdir(parents=True, exist_ok=True)
    rounds = scaled(11, scale)
    have_baseline = importlib.util.find_spec(BASELINE) is not None
    kinds = {"bare": "", "ours": OURS}
    if have_baseline:
        kinds["baseline"] = BASELINE
    for extension in kinds.values():  # warm-up: .pyc files, page cache, the IPython profile
        _sample(extension)
    samples: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for _ in range(rounds):
        for kind, extension in kinds.items():
            samples[kind].append(_sample(extension))

    def ms(kind: str, key: str) -> list[float]:
        return [s[key] * 1000 for s in samples[kind]]

    ours = median(ms("ours", "load"))
    baseline = median(ms("baseline", "load")) if have_baseline else None
    bare_process = median(ms("bare", "process"))
    extra: dict[str, Any] = {
        "bare_ipython_start_ms": median(ms("bare", "start")),
        "process_ms": {kind: median(ms(kind, "process")) for kind in kinds},
        "process_minus_bare_ms": {kind: median(ms(kind, "process")) - bare_process for kind in kinds if kind != "bare"},
    }
    if baseline is not None:
        met: bool | None = ours <= TARGET_MS and ours < baseline
    else:  # half of the target cannot be judged
        met = False if ours > TARGET_MS else None
    note = "" if have_baseline else "baseline unavailable: jupyter-ai-magics is not installed"
    return [
        Outcome(
            NAME,
            " ms",
            ours,
            baseline,
            f"<= {TARGET_MS:.0f} ms and below the baseline",
            met,
            reps={kind: rounds for kind in kinds},
            samples={f"{kind}_load_ms": ms(kind, "load") for kind in kinds if kind != "bare"}
            | {f"{kind}_process_ms": ms(kind, "process") for kind in kinds},
            extra=extra,
            note=note,
        )
    ]
