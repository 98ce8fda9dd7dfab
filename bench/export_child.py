"""One Parquet export of saved results in a fresh process, for bench_export.py.

    python bench/export_child.py ours|naive SOURCE_DIR OUT_DIR ROWS_PER_FILE

Builds one `GenerationResult` per PNG in SOURCE_DIR (as `history()` or a
batch would give them back), then writes them:

ours   `ResultList.to_parquet(OUT_DIR, rows_per_file=ROWS_PER_FILE)`
naive  one pyarrow table of every image's bytes (and the same columns)
       built in memory, written with `pyarrow.parquet.write_table`

and prints one JSON line: rows written (read back from the files' metadata),
files, bytes, wall time, RSS before the export and the peak (VmHWM, the
whole life of the process, pyarrow's import included).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no {field} in /proc/self/status")


def naive(results: list[Any], out: Path) -> list[Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "image": [{"bytes": r.path.read_bytes(), "path": r.path.name} for r in results],
        "prompt": [r.prompt for r in results],
        "aspect_ratio": [r.aspect_ratio for r in results],
        "resolution": [r.resolution for r in results],
        "path": [str(r.path) for r in results],
        "task_id": [r.task_id for r in results],
        "cost_usd": [r.cost_usd for r in results],
    })
    out.mkdir(parents=True, exist_ok=True)
    target = out / "all.parquet"
    pq.write_table(table, target)
    return [target]


def main(argv: list[str]) -> int:
    mode, source, out, rows_per_file = argv
    import pyarrow.parquet as pq

    from xenodia_jupyter.core.results import GenerationResult, ResultList

    paths = sorted(Path(source).glob("*.png"))
    results: ResultList[GenerationResult] = ResultList(
        GenerationResult(
            prompt=f"export item {i}: a harbour at dawn, oil painting",
            urls=[f"https://cdn.example/files/task_{i:06d}/0.png"],
            paths=[path],
            task_id=f"task_{i:06d}",
            cost_usd=0.12,
            aspect_ratio="16:9",
            resolution="4K",
            created_at=time.time(),
        )
        for i, path in enumerate(paths)
    )
    rss_before = _status_mb("VmRSS")
    started = time.perf_counter()
    if mode == "ours":
        files = results.to_parquet(out, rows_per_file=int(rows_per_file), overwrite=True)
    elif mode == "naive":
        files = naive(results, Path(out))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    wall = time.perf_counter() - started
    peak = _status_mb("VmHWM")
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    print(json.dumps({
        "results": len(results),
        "rows": rows,
        "files": len(files),
        "bytes_written": sum(Path(f).stat().st_size for f in files),
        "bytes_read": sum(p.stat().st_size for p in paths),
        "wall_s": wall,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak,
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
