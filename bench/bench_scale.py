"""job: a named batch of 1,000 and 10,000 items against a zero-latency emulator.

Ours: `Client.generate_many(prompts, job="scale-N", concurrency=200)`, the
blocking client with everything on (journal, checks, the fsync of every
file).  Baseline: the same batch written by hand on one `httpx.AsyncClient`
(`httpx_baseline.run_many`: POST, poll, download, write; nothing else), at
the same concurrency, in the same run.

Each side runs in a fresh process of its own (bench/scale_child.py), so that
its CPU time (`getrusage`: every thread) and its peak RSS (VmHWM) are its
own; the emulator runs in another (bench/emulator_server.py, serving one
render for every task, so that it does not need a core to itself) and
counts the requests it got.  Every item must be accounted for: as many
POSTs as items, and for ours as many results, distinct files on disk and
items the journal calls saved as items.  After our run the same call is made
again on the finished job (no request may be sent; the time is in the note).

The measurement (`scale_child.measure`) takes any runner: a variant such as
`generate_many(..., executor=dask_client)` is one more runner function
passed by name to `scale_point` (see scale_child.py).

100,000 items would take about half an hour per side here (about 18 ms of
client CPU per generation on this machine), so that point is not run; set
XENODIA_BENCH_100K=1 to run it too.
"""

from __future__ import annotations

import os
from typing import Any

from common import ROOT, CountingEmulator, Outcome, child_json, counting_emulator, fresh_dir

POINTS = (1_000, 10_000)
CONCURRENCY = 200
RSS_TARGET_MB = 200.0
CLUSTER_ITEMS = 10_000  # the job also run with executor= a 3-worker LocalCluster
RUNNERS = {"ours": "ours", "baseline": "handwritten"}


def scale_point(emu: CountingEmulator, runner: str, count: int, *, job: str | None = None, folder: str = "") -> dict[str, Any]:
    """One batch of `count` items by `runner` (a name in scale_child.RUNNERS, or
    module:function) in a fresh process, in a fresh output folder (or `folder`,
    kept, for a resume): what scale_child.measure reports, plus the emulator's
    counters for that batch."""
    out = fresh_dir(f"scale-{runner.replace(':', '-')}-{count}") if not folder else ROOT / folder
    emu.reset()
    args = [str(ROOT / "bench" / "scale_child.py"), runner, emu.base_url, emu.api_key, str(count), str(out),
            str(CONCURRENCY)] + ([job] if job else [])
    data = child_json(args, timeout=3600)
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


def run(scale: float = 1.0) -> list[Outcome]:
    points = POINTS + ((100_000,) if os.environ.get("XENODIA_BENCH_100K") else ())
    if scale < 1:  # --quick: a tenth of the items
        points = tuple(max(100, round(p * scale / 3.33)) for p in points)
    cpu: list[Outcome] = []
    rss: list[Outcome] = []
    ran: dict[int, dict[str, Any]] = {}  # our run at each point: the local side of the cluster line
    with counting_emulator(0.0, same_image=True) as emu:
        for position, count in enumerate(points):
            data: dict[str, dict[str, Any]] = {}
            sides = list(RUNNERS.items())
            for side, runner in sides if position % 2 == 0 else reversed(sides):
                data[side] = scale_point(emu, runner, count, job=f"scale-{count}" if side == "ours" else None)
            ours, base = data["ours"], data["baseline"]
            ran[count] = ours
            again = scale_point(emu, RUNNERS["ours"], count, job=f"scale-{count}", folder=ours["out"])
            whole = accounted(ours, count, posts=count) and accounted(base, count, posts=count)
            resumed = accounted(again, count, posts=0) and again["polls"] == again["downloads"] == 0
            per_gen = {k: d["cpu_s"] / count * 1000 for k, d in data.items()}
            common = {
                "items": count,
                "concurrency": CONCURRENCY,
                "baseline": "httpx_baseline.run_many (hand-written asyncio httpx), same items and concurrency",
                "ours": ours,
                "handwritten": base,
                "resume_of_finished_job": again,
            }
            label = _label(count)
            cpu.append(
                Outcome(
                    f"job {label} (CPU per generation)",
                    " ms",
                    per_gen["ours"],
                    per_gen["baseline"],
                    "information: the curve (no target)",
                    None,
                    reps={"ours": 1, "baseline": 1},
                    samples={"ours_cpu_s": [ours["cpu_s"]], "baseline_cpu_s": [base["cpu_s"]],
                             "ours_wall_s": [ours["wall_s"]], "baseline_wall_s": [base["wall_s"]]},
                    extra=common,
                    note=f"wall {ours['wall_s']:.0f} s vs {base['wall_s']:.0f} s "
                    f"({count / ours['wall_s']:.0f} vs {count / base['wall_s']:.0f} generations/s)",
                )
            )
            rss.append(
                Outcome(
                    f"job {label} (peak RSS)",
                    " MB",
                    ours["peak_rss_mb"],
                    base["peak_rss_mb"],
                    f"<= {RSS_TARGET_MB:.0f} MB, every item saved",
                    whole and ours["peak_rss_mb"] <= RSS_TARGET_MB,
                    reps={"ours": 1, "baseline": 1},
                    samples={"ours_peak_rss_mb": [ours["peak_rss_mb"]], "baseline_peak_rss_mb": [base["peak_rss_mb"]]},
                    extra=common,
                    note=f"saved {ours['ok']:,}/{count:,} (journal {ours['journal_saved']:,}, files "
                    f"{ours['saved_files']:,}, POSTs {ours['posts']:,}); RSS before the batch "
                    f"{ours['rss_before_mb']:.0f} MB; resuming it: {again['wall_s']:.2f} s, "
                    f"{again['posts'] + again['polls'] + again['downloads']} requests"
                    + ("" if resumed else " [the resume was NOT clean]"),
                )
            )
        size = min(CLUSTER_ITEMS, points[-1]) if scale >= 1 else points[0]
        cluster = _cluster_point(emu, size, ran.get(size))
    return cpu + rss + [cluster]


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
