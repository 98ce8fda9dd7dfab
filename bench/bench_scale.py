"""job: a named batch of 1,000 and 10,000 items against a zero-latency emulator.

Ours: `Client.generate_many(prompts, job="scale-N", concurrency=200,
progress=False)`, the blocking client with everything on (journal, checks,
the fsync of every file).  Baselines, in the same run: the same batch as a
user's asyncio script must write it (`httpx_baseline.run_many`: one
`httpx.AsyncClient`, POST once and never again, poll, download, repeat a GET
that failed, write each file), once with httpx's default pool limits and once
with the pool sized to the concurrency ("tuned").

Each side runs in a fresh process of its own (bench/scale_child.py), and
its CPU time is that process's alone (`getrusage(RUSAGE_SELF)`: user +
system, every thread; no progress bar, nothing else in it); its peak RSS is
its VmHWM.  The emulator runs in another process (bench/emulator_server.py,
serving one render for every task, so that it does not need a core to
itself) and counts the requests it got.  Every item must be accounted for:
as many POSTs as items (one each, never a second), and as many results,
distinct files on disk and items the journal calls saved as items.  After
our run the same call is made again on the finished job (no request may be
sent; the time is in the note).

At 1,000 items the three sides take turns, ROUNDS_1K times, in a rotating
order, and the lines show medians; at 10,000 items each side runs once (about
3 minutes each here).  The 100,000-item point runs ours alone (about 30
minutes): `XENODIA_BENCH_100K=1`, or by itself with
`python bench/bench_scale.py 100000` (prints its lines, writes
build/bench-scale-100000.json).

The measurement (`scale_child.measure`) takes any runner: a variant such as
`generate_many(..., executor=dask_client)` is one more runner function
passed by name to `scale_point` (see scale_child.py).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from typing import Any

from common import BUILD, ROOT, CountingEmulator, Outcome, child_json, counting_emulator, fresh_dir

POINTS = (1_000, 10_000)
ROUNDS_1K = 3  # turns of the three sides at 1,000 items (medians); 10,000 items: one each
CONCURRENCY = 200
RSS_TARGET_MB = 200.0
WALL_TARGET = 1.05  # ours / the faster baseline
CPU_TARGET = 1.0  # ours / each baseline
CLUSTER_ITEMS = 10_000  # the job also run with executor= a 3-worker LocalCluster
RUNNERS = {"ours": "ours", "default": "handwritten", "tuned": "handwritten-tuned"}
BASELINE_TEXT = {
    "default": "hand-written asyncio httpx (POST once, GETs repeated on failure, files written), httpx's default limits",
    "tuned": "the same hand-written script with the pool sized to the concurrency "
    f"(max_connections = max_keepalive_connections = {CONCURRENCY})",
}


def scale_point(emu: CountingEmulator, runner: str, count: int, *, job: str | None = None, folder: str = "") -> dict[str, Any]:
    """One batch of `count` items by `runner` (a name in scale_child.RUNNERS, or
    module:function) in a fresh process, in a fresh output folder (or `folder`,
    kept, for a resume): what scale_child.measure reports, plus the emulator's
    counters for that batch."""
    out = fresh_dir(f"scale-{runner.replace(':', '-')}-{count}") if not folder else ROOT / folder
    emu.reset()
    args = [str(ROOT / "bench" / "scale_child.py"), runner, emu.base_url, emu.api_key, str(count), str(out),
            str(CONCURRENCY)] + ([job] if job else [])
    data = child_json(args, timeout=4 * 3600)
    stats = emu.stats()
    return data | {"posts": stats["generate_posts"], "polls": stats["polls"], "downloads": stats["downloads"],
                   "out": str(out.relative_to(ROOT))}


def accounted(data: dict[str, Any], count: int, *, posts: int) -> bool:
    """Every item is where it should be: returned, saved once on disk (and in the
    journal, when there is one), after exactly `posts` POSTs."""
    journal = data["journal_saved"]
    return (
        data["returned"] == data["ok"] == data["saved_files"] == count
        and (journal is None or journal == count)
        and data["posts"] == posts
    )


def _label(count: int) -> str:
    return f"{count // 1000}k" if count % 1000 == 0 else f"{count:,}"


def _per_gen_ms(runs: list[dict[str, Any]], count: int) -> list[float]:
    return [r["cpu_s"] / count * 1000 for r in runs]


def _where(data: dict[str, Any], count: int) -> str:
    journal = "" if data["journal_saved"] is None else f", journal {data['journal_saved']:,}"
    errors = f", errors {data['errors']}" if data["errors"] else ""
    return f"saved {data['ok']:,}/{count:,} (files {data['saved_files']:,}{journal}), POSTs {data['posts']:,}{errors}"


def measure_point(emu: CountingEmulator, count: int, rounds: int, sides: tuple[str, ...] = tuple(RUNNERS)) -> dict[str, list[dict[str, Any]]]:
    """`rounds` turns of every side at `count` items, the order rotating each round."""
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for round_ in range(rounds):
        order = list(sides[round_ % len(sides):] + sides[: round_ % len(sides)])
        for side in order:
            job = f"scale-{count}-{round_}" if side == "ours" else None
            runs[side].append(scale_point(emu, RUNNERS[side], count, job=job))
    return runs


def point_outcomes(emu: CountingEmulator, count: int, rounds: int) -> tuple[list[Outcome], dict[str, Any]]:
    """The lines of one size: CPU per generation against each baseline, wall
    time against the faster baseline, peak RSS."""
    runs = measure_point(emu, count, rounds)
    ours_runs = runs["ours"]
    last = ours_runs[-1]
    again = scale_point(emu, RUNNERS["ours"], count, job=f"scale-{count}-{rounds - 1}", folder=last["out"])
    resumed = accounted(again, count, posts=0) and again["polls"] == again["downloads"] == 0
    whole = {side: all(accounted(r, count, posts=count) for r in rs) for side, rs in runs.items()}
    cpu = {side: statistics.median(_per_gen_ms(rs, count)) for side, rs in runs.items()}
    wall = {side: statistics.median(r["wall_s"] for r in rs) for side, rs in runs.items()}
    rss = {side: statistics.median(r["peak_rss_mb"] for r in rs) for side, rs in runs.items()}
    samples = {f"{side}_{what}": [r[key] for r in rs] for side, rs in runs.items()
               for what, key in (("cpu_s", "cpu_s"), ("wall_s", "wall_s"), ("peak_rss_mb", "peak_rss_mb"))}
    extra = {"items": count, "concurrency": CONCURRENCY, "rounds": rounds, "baselines": BASELINE_TEXT,
             "runs": runs, "resume_of_finished_job": again}
    reps = {side: len(rs) for side, rs in runs.items()}
    label = _label(count)
    ours_ok = whole["ours"]
    out: list[Outcome] = []
    for side in ("default", "tuned"):
        out.append(Outcome(
            f"job {label} (CPU per generation, vs {side} limits)",
            " ms",
            cpu["ours"],
            cpu[side],
            f"<= {CPU_TARGET:.1f}x the hand-written batch ({side} pool limits), client process alone; "
            "every item saved, one POST each",
            ours_ok and cpu["ours"] <= CPU_TARGET * cpu[side],
            reps=reps,
            samples=samples,
            extra=extra,
            note=f"ours {_where(last, count)}; {side}: {_where(runs[side][-1], count)}"
            + ("" if whole[side] else " [the baseline LOST items]"),
        ))
    faster = min(("default", "tuned"), key=lambda side: wall[side])
    out.append(Outcome(
        f"job {label} (wall)",
        " s",
        wall["ours"],
        wall[faster],
        f"<= {WALL_TARGET:.2f}x the faster hand-written batch",
        ours_ok and wall["ours"] <= WALL_TARGET * wall[faster],
        reps=reps,
        samples=samples,
        extra=extra,
        note=f"default limits {wall['default']:.1f} s, tuned {wall['tuned']:.1f} s; "
        f"{count / wall['ours']:.0f} generations/s",
    ))
    out.append(Outcome(
        f"job {label} (peak RSS)",
        " MB",
        rss["ours"],
        rss["default"],
        f"<= {RSS_TARGET_MB:.0f} MB, every item saved, one POST each",
        ours_ok and rss["ours"] <= RSS_TARGET_MB,
        reps=reps,
        samples=samples,
        extra=extra,
        note=f"baseline: default limits (tuned {rss['tuned']:.0f} MB); RSS before the batch "
        f"{last['rss_before_mb']:.0f} MB; resuming it: {again['wall_s']:.2f} s, "
        f"{again['posts'] + again['polls'] + again['downloads']} requests"
        + ("" if resumed else " [the resume was NOT clean]"),
    ))
    return out, last


def ours_alone(emu: CountingEmulator, count: int) -> list[Outcome]:
    """The 100,000-item point: ours only (a baseline would take another half
    hour a side); CPU per generation, wall and peak RSS, every item accounted."""
    data = scale_point(emu, RUNNERS["ours"], count, job=f"scale-{count}")
    whole = accounted(data, count, posts=count)
    label = _label(count)
    extra = {"items": count, "concurrency": CONCURRENCY, "ours": data}
    per_gen = data["cpu_s"] / count * 1000
    note = f"{_where(data, count)}; wall {data['wall_s']:.0f} s ({count / data['wall_s']:.0f} generations/s)"
    return [
        Outcome(f"job {label} (CPU per generation)", " ms", per_gen, None,
                "information: ours alone at this size (no baseline run); every item saved, one POST each",
                None if whole else False, reps={"ours": 1}, samples={"ours_cpu_s": [data["cpu_s"]]}, extra=extra,
                note=note, no_baseline=True),
        Outcome(f"job {label} (peak RSS)", " MB", data["peak_rss_mb"], None,
                f"<= {RSS_TARGET_MB:.0f} MB, every item saved, one POST each",
                whole and data["peak_rss_mb"] <= RSS_TARGET_MB, reps={"ours": 1},
                samples={"ours_peak_rss_mb": [data["peak_rss_mb"]]}, extra=extra, note=note, no_baseline=True),
    ]


def run(scale: float = 1.0) -> list[Outcome]:
    points = POINTS
    rounds_1k = ROUNDS_1K
    if scale < 1:  # --quick: a tenth of the items, one round
        points = tuple(max(100, round(p * scale / 3.33)) for p in points)
        rounds_1k = 1
    lines: list[Outcome] = []
    ran: dict[int, dict[str, Any]] = {}  # our run at each point: the local side of the cluster line
    with counting_emulator(0.0, same_image=True) as emu:
        for position, count in enumerate(points):
            done, ran[count] = point_outcomes(emu, count, rounds_1k if position == 0 else 1)
            lines += done
        if os.environ.get("XENODIA_BENCH_100K") and scale >= 1:
            lines += ours_alone(emu, 100_000)
        size = min(CLUSTER_ITEMS, points[-1]) if scale >= 1 else points[0]
        lines.append(_cluster_point(emu, size, ran.get(size)))
    return lines


def _cluster_point(emu: CountingEmulator, count: int, local: dict[str, Any] | None) -> Outcome:
    """The same job on a 3-worker LocalCluster (`executor=`) next to the local
    run: wall time and CPU per generation (driver and workers), every item
    accounted for with exactly one POST each.  On this 2-core machine the
    workers share the cores with the driver and the emulator, so this shows the
    cost of the cluster machinery, not a speed-up (which needs machines)."""
    local = local or scale_point(emu, RUNNERS["ours"], count, job=f"scale-local-{count}")
    dask = scale_point(emu, "dask", count, job=f"scale-dask-{count}")
    whole = accounted(dask, count, posts=count)
    return Outcome(
        f"job {_label(count)} on 3 Dask workers (wall)",
        " s",
        dask["wall_s"],
        local["wall_s"],
        "information: vs the same job in one process (no target); every item saved, one POST each",
        None if whole else False,
        reps={"ours": 1, "baseline": 1},
        samples={"dask_wall_s": [dask["wall_s"]], "local_wall_s": [local["wall_s"]],
                 "dask_cpu_s": [dask["cpu_s"]], "local_cpu_s": [local["cpu_s"]]},
        extra={"items": count, "concurrency": CONCURRENCY, "dask": dask, "local": local},
        note=f"CPU per generation {dask['cpu_s'] / count * 1000:.1f} ms (driver and workers) vs "
        f"{local['cpu_s'] / count * 1000:.1f} ms; saved {dask['ok']:,}/{count:,}, POSTs {dask['posts']:,}, "
        f"driver peak RSS {dask['peak_rss_mb']:.0f} MB" + ("" if whole else " [NOT every item accounted for]"),
    )


if __name__ == "__main__":  # python bench/bench_scale.py 100000: one size, ours alone
    items = int(sys.argv[1])
    fresh_dir(f"scale-100k-log-{items}")  # makes the scratch folder the emulator's log goes to
    with counting_emulator(0.0, same_image=True) as emulator:
        outcomes = ours_alone(emulator, items)
    for outcome in outcomes:
        print(outcome.line(), flush=True)
    BUILD.mkdir(exist_ok=True)
    (BUILD / f"bench-scale-{items}.json").write_text(json.dumps([o.as_json() for o in outcomes], indent=2) + "\n")
