"""memory: RSS growth while holding 100 results of 3840x2160.

Each sample is a fresh process (so earlier allocations do not hide growth)
that imports Pillow and `xenodia_jupyter.core.results`, opens and closes one image
(so Pillow's plugins are loaded), reads its RSS, then builds 100
`GenerationResult`s over 100 copies of one rendered 4K PNG and reads its RSS
again.

Ours: the results' images opened (`result.image.size`, what the caption
shows), not decoded.  Baseline: every image decoded (`result.image.load()`),
what eager decoding would hold (about 24 MB each).
"""

from __future__ import annotations

import json
import shutil
import subprocess

from common import PY, WORK, Outcome, fresh_dir, median, png_4k, scaled

COUNT = 100
TARGET_MB = 150.0

SNIPPET = """
import gc, json, sys
from pathlib import Path
import psutil
from PIL import Image
from xenodia_jupyter.core.results import GenerationResult

files = sorted(Path(sys.argv[1]).glob("*.png"))
decode = sys.argv[2] == "decode"
with Image.open(files[0]) as first:
    first.size
gc.collect()
before = psutil.Process().memory_info().rss
results = [
    GenerationResult(prompt=f"result {i}", urls=[f"https://cdn.example/{i}.png"], paths=[path], task_id=f"task_{i}")
    for i, path in enumerate(files)
]
for result in results:
    result.image.size
    if decode:
        result.image.load()
gc.collect()
after = psutil.Process().memory_info().rss
print(json.dumps({"before": before, "after": after, "count": len(results)}))
"""


def _sample(folder: str, mode: str) -> float:
    proc = subprocess.run([PY, "-c", SNIPPET, folder, mode], capture_output=True, text=True, timeout=300, cwd=WORK)
    if proc.returncode != 0:
        raise RuntimeError(f"memory sample ({mode}) failed:\n{proc.stderr[-2000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    if data["count"] != COUNT:
        raise RuntimeError(f"expected {COUNT} results, held {data['count']}")
    return (data["after"] - data["before"]) / 1e6


def run(scale: float = 1.0) -> list[Outcome]:
    source = png_4k()
    folder = fresh_dir("memory")
    for i in range(COUNT):
        shutil.copyfile(source, folder / f"result-{i:03d}.png")
    reps = scaled(3, scale)
    samples: dict[str, list[float]] = {"ours": [], "baseline": []}
    for _ in range(reps):
        samples["ours"].append(_sample(str(folder), "lazy"))
        samples["baseline"].append(_sample(str(folder), "decode"))
    ours, baseline = median(samples["ours"]), median(samples["baseline"])
    return [
        Outcome(
            "memory",
            " MB",
            ours,
            baseline,
            f"<= {TARGET_MB:.0f} MB",
            ours <= TARGET_MB,
            reps={"ours": reps, "baseline": reps},
            samples={"ours_mb": samples["ours"], "baseline_mb": samples["baseline"]},
            extra={"results": COUNT, "file_bytes": source.stat().st_size},
        )
    ]
