"""`make bench`: every benchmark against its baseline, in one run.

    .venv/bin/python bench/run.py                 # all of them (a few minutes)
    .venv/bin/python bench/run.py --only load,memory --quick

Prints one line per benchmark,

    name: ours=<value>, baseline=<value>, ratio=<ours/baseline>x  target: <text> [met|MISSED]

writes the raw medians, samples, repetition counts and the machine to
build/bench.json, and puts the table in bench/README.md and README.md.  Nothing here is a
test: a MISSED target is information (machines are noisy), and the exit
status is 0 unless a benchmark could not run at all.

What each benchmark measures, and how to read it: bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import BUILD, ROOT, WORK, Outcome, load_average, machine

READMES = (ROOT / "bench" / "README.md", ROOT / "README.md")  # both hold the table between the markers
TABLE_START = "<!-- bench-table:start -->"
TABLE_END = "<!-- bench-table:end -->"

# The load baseline: large (LangChain and friends), so only `make bench` installs it.
BASELINE_REQUIREMENT = "jupyter-ai-magics>=2.31,<2.32"
# Modules the benchmarks use that a plain install may lack: module -> requirement.
NEEDED = {
    "psutil": "psutil",
    "nbformat": "nbformat",
    "jupyter_client": "jupyter_client",
    "numpy": "numpy",
    "matplotlib": "matplotlib",
    "pyarrow": "pyarrow",
}

# --only name -> the module whose run(scale) returns its lines
BENCHMARKS: dict[str, str] = {
    "load": "bench_load",
    "display": "bench_display",  # notebook bytes, preview time
    "reference": "bench_reference",  # reference upload (photo), (flat)
    "client": "bench_client",  # batch, overhead
    "memory": "bench_memory",
    "emulator": "bench_emulator",
    "journal": "bench_journal",  # history, recover, cache lookup over 100,000 entries; resume 1k/10k/100k
    "library": "bench_library",  # Library.search over 100,000 entries: a word, a filter, both
    "scale": "bench_scale",  # a 1,000- and a 10,000-item job: CPU per generation, peak RSS
    "export": "bench_export",  # peak RSS of writing 2,000 4K results to Parquet
}


def pip_install(requirements: list[str], *, pin_installed: bool) -> str | None:
    """Install into this interpreter's environment; returns why it failed, or None.

    With `pin_installed`, every package already installed is held at its
    version (a constraints file), so adding a baseline never changes what the
    project itself runs on."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", *requirements]
    if pin_installed:
        WORK.mkdir(parents=True, exist_ok=True)
        constraints = WORK / "constraints.txt"
        pins = sorted(
            {
                f"{dist.metadata['Name']}=={dist.version}"
                for dist in importlib.metadata.distributions()
                if dist.metadata["Name"] and dist.metadata["Name"].lower() != "xenodia-jupyter"
            }
        )
        constraints.write_text("\n".join(pins) + "\n")
        command += ["-c", str(constraints)]
    proc = subprocess.run(command, capture_output=True, text=True)
    importlib.invalidate_caches()
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("WARNING")]
        return " / ".join(lines[-3:]) or f"pip exited with {proc.returncode}"
    return None


def ensure_packages(selected: list[str], allow_install: bool) -> None:
    missing = [req for module, req in NEEDED.items() if importlib.util.find_spec(module) is None]
    if missing:
        if not allow_install:
            sys.exit(f"missing {', '.join(missing)} (run without --no-install)")
        print(f"installing {', '.join(missing)} ...", flush=True)
        if failure := pip_install(missing, pin_installed=False):
            sys.exit(f"could not install {', '.join(missing)}: {failure}")
    if "load" in selected and importlib.util.find_spec("jupyter_ai_magics") is None:
        if not allow_install:
            print("jupyter-ai-magics is not installed (--no-install): the load baseline is unavailable", flush=True)
            return
        print(f"installing {BASELINE_REQUIREMENT} for the load baseline (once; it is large) ...", flush=True)
        if failure := pip_install([BASELINE_REQUIREMENT], pin_installed=True):
            print(f"could not install it, so the load baseline is unavailable: {failure}", flush=True)


def run_one(name: str, scale: float) -> tuple[list[Outcome], str | None, float, list[float]]:
    before = load_average()
    started = time.perf_counter()
    try:
        module = importlib.import_module(BENCHMARKS[name])
        runner: Callable[[float], list[Outcome]] = module.run
        outcomes = runner(scale)
        error = None
    except Exception:
        outcomes, error = [], traceback.format_exc()
    return outcomes, error, time.perf_counter() - started, before


def table(outcomes: list[Outcome], meta: dict[str, Any]) -> str:
    def cell(o: Outcome, value: float | None) -> str:
        return o._value(value).strip()

    rows = [
        "| benchmark | ours | baseline | ratio (ours/baseline) | target | |",
        "|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        ratio = "n/a" if o.ratio is None else f"{o.ratio:.3g}x"
        baseline = "none" if o.no_baseline else cell(o, o.baseline)
        verdict = {True: "met", False: "**MISSED**", None: "not judged"}[o.met]
        rows.append(f"| {o.name} | {cell(o, o.ours)} | {baseline} | {ratio} | {o.target} | {verdict} |")
    m = meta["machine"]
    caption = (
        f"Run of {meta['date']} on {m['nproc']} cores ({m['cpu_model'] or 'unknown CPU'}), Python {m['python']}; "
        f"load average {meta['load_average_start']} at the start. Medians; raw numbers in build/bench.json."
    )
    return caption + "\n\n" + "\n".join(rows)


def update_readme(path: Path, text: str) -> bool:
    if not path.exists():
        return False
    content = path.read_text()
    start, end = content.find(TABLE_START), content.find(TABLE_END)
    if start < 0 or end < start:
        return False
    path.write_text(content[: start + len(TABLE_START)] + "\n" + text + "\n" + content[end:])
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="a third of the repetitions (for trying things out)")
    parser.add_argument("--no-install", action="store_true", help="install nothing; a missing baseline is reported")
    parser.add_argument("--no-readme", action="store_true", help="leave the tables in the READMEs alone")
    args = parser.parse_args(argv)
    selected = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in selected if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    scale = 1 / 3 if args.quick else 1.0

    ensure_packages(selected, allow_install=not args.no_install)
    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_start": load_average(),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "quick": args.quick,
    }
    m = meta["machine"]
    print(f"{m['nproc']} cores, {m['cpu_model']}, Python {m['python']}; load average {meta['load_average_start']}")
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    records: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    for name in selected:
        done, error, seconds, load_before = run_one(name, scale)
        for outcome in done:
            print(outcome.line(), flush=True)
            outcomes.append(outcome)
            records.append(outcome.as_json() | {"group": name, "load_average_before": load_before})
        if error:
            errors[name] = error
            print(f"{name}: could not run:\n{error}", flush=True)
        meta.setdefault("group_seconds", {})[name] = round(seconds, 1)
    meta["duration_s"] = round(time.perf_counter() - started, 1)
    meta["load_average_end"] = load_average()

    BUILD.mkdir(exist_ok=True)
    out = BUILD / "bench.json"
    out.write_text(json.dumps(meta | {"benchmarks": records, "errors": errors}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)} ({meta['duration_s']:.0f} s)")
    complete = selected == list(BENCHMARKS) and not args.quick and not errors
    if complete and not args.no_readme:
        text = table(outcomes, meta)
        for readme in READMES:
            if update_readme(readme, text):
                print(f"updated the table in {readme.relative_to(ROOT)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
