"""parquet export: peak RSS while writing 2,000 results of 3840x2160 to Parquet.

Ours: `ResultList.to_parquet(folder, rows_per_file=1000)`, the image bytes
embedded (the default), in a fresh process (bench/export_child.py) that
first builds the 2,000 `GenerationResult`s over the files.  Baseline, in the
same run: the naive way, one pyarrow table of every image's bytes built in
memory and written with `pyarrow.parquet.write_table`.  Peak RSS is the
process's VmHWM (pyarrow's import included).  Every row must be written
(counted back from the files' metadata).  One sample each: the peaks do not
vary from run to run by more than a few MB.

The images: 3840x2160 PNGs (the API's 16:9 4K size), a colour gradient with
grain in 8-pixel blocks, about 1.3 MB each: a realistic-ish size for a
generated picture (a photograph-like 4K PNG is 8-15 MB; random noise is
larger still).  16 pictures are rendered, and each of the 2,000 files is one
of them with a text chunk of its own (its prompt and number, as the client
adds its provenance), so no two files are the same bytes.  They are made
once and kept in build/bench-cache/export-4k/ (2.5 GB).

The memory of a shard-at-a-time writer grows with the shard: a second point
of ours at rows_per_file=100 is in the note and bench.json.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

from common import BUILD, ROOT, Outcome, child_json, fresh_dir

COUNT = 2_000
ROWS_PER_FILE = 1_000
SMALL_SHARDS = 100
TARGET_MB = 500.0
SIZE = (3840, 2160)
BASES = 16
RECIPE = 1  # bump when the pictures change: the cache is rebuilt
CACHE = BUILD / "bench-cache" / "export-4k"


def _base_pictures() -> list[bytes]:
    import io

    import numpy as np
    from PIL import Image

    width, height = SIZE
    rng = np.random.default_rng(RECIPE)
    y = np.linspace(0, 1, height)[:, None, None]
    x = np.linspace(0, 1, width)[None, :, None]
    pictures = []
    for _ in range(BASES):
        top, bottom = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
        gradient = (top * (1 - y) + bottom * y) * (0.7 + 0.3 * x)
        grain = np.repeat(np.repeat(rng.normal(0, 6, (height // 8, width // 8, 3)), 8, 0), 8, 1)
        pixels = np.clip(gradient + grain, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")  # Pillow's defaults, as a server in Python writes them
        pictures.append(buffer.getvalue())
    return pictures


def _with_text(png: bytes, key: str, text: str) -> bytes:
    """The PNG with one more tEXt chunk before IEND."""
    data = key.encode("latin-1") + b"\0" + text.encode("latin-1")
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    end = png.rindex(b"IEND") - 4
    return png[:end] + chunk + png[end:]


def pictures() -> Path:
    """The 2,000 source files, made once (about 30 s) and kept."""
    stamp = {"count": COUNT, "size": list(SIZE), "bases": BASES, "recipe": RECIPE}
    stamp_file = CACHE.with_suffix(".json")
    if stamp_file.exists() and json.loads(stamp_file.read_text()) == stamp and len(list(CACHE.glob("*.png"))) == COUNT:
        return CACHE
    stamp_file.unlink(missing_ok=True)
    shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.mkdir(parents=True)
    bases = _base_pictures()
    for index in range(COUNT):
        prompt = f"export item {index}: a harbour at dawn, oil painting"
        (CACHE / f"result-{index:05d}.png").write_bytes(_with_text(bases[index % BASES], "prompt", prompt))
    stamp_file.write_text(json.dumps(stamp))
    return CACHE


def _export(mode: str, source: Path, rows_per_file: int) -> dict[str, Any]:
    out = fresh_dir(f"export-{mode}-{rows_per_file}")
    try:
        return child_json(
            [str(ROOT / "bench" / "export_child.py"), mode, str(source), str(out), str(rows_per_file)], timeout=1800
        )
    finally:
        shutil.rmtree(out, ignore_errors=True)  # gigabytes of Parquet: not kept


def run(scale: float = 1.0) -> list[Outcome]:
    source = pictures()
    ours = _export("ours", source, ROWS_PER_FILE)
    naive = _export("naive", source, 0)
    small = _export("ours", source, SMALL_SHARDS)
    whole = ours["rows"] == naive["rows"] == small["rows"] == COUNT
    mb = ours["bytes_read"] / COUNT / 1e6
    return [
        Outcome(
            "parquet export (peak RSS)",
            " MB",
            ours["peak_rss_mb"],
            naive["peak_rss_mb"],
            f"<= {TARGET_MB:.0f} MB, {COUNT:,} rows written",
            whole and ours["peak_rss_mb"] <= TARGET_MB,
            reps={"ours": 1, "baseline": 1},
            samples={"ours_peak_rss_mb": [ours["peak_rss_mb"]], "baseline_peak_rss_mb": [naive["peak_rss_mb"]]},
            extra={
                "results": COUNT,
                "rows_per_file": ROWS_PER_FILE,
                "image": f"{SIZE[0]}x{SIZE[1]} PNG, {mb:.2f} MB on average",
                "baseline": "one pyarrow table of every image's bytes, in memory, then write_table",
                "ours": ours,
                "naive": naive,
                f"ours_rows_per_file_{SMALL_SHARDS}": small,
            },
            note=f"{ours['rows']:,} rows in {ours['files']} files, {ours['bytes_written'] / 1e9:.1f} GB in "
            f"{ours['wall_s']:.0f} s (naive {naive['wall_s']:.0f} s); images {mb:.2f} MB each; "
            f"at rows_per_file={SMALL_SHARDS}: {small['peak_rss_mb']:.0f} MB",
        )
    ]
