"""notebook bytes and preview time: showing a 3840x2160 result in a notebook.

Both use a real 3840x2160 result saved on disk (as the client saves a
download), wrapped in a `GenerationResult`: the emulator's render (a gradient
and text, "flat"), saved as PNG with Pillow's defaults.  Preview time is also
measured on a photograph ("photo", about 10 MB of PNG), where PNG is slow both
to write and to read.

notebook bytes -- what the displayed output adds to the saved .ipynb: the mime
bundle IPython's `DisplayFormatter` makes, stored as a `display_data` output
by nbformat (binary data base64-encoded, as Jupyter stores it), measured as
the growth of `nbformat.writes(notebook)`.  Baseline: `display(result.image)`,
counting its `image/png` representation (and text/plain) only; Pillow also
offers `image/jpeg`, so the real notebook grows more (kept in bench.json).

preview time -- the first display of a result: a fresh `GenerationResult`
over the saved file, with no thumbnail beside it yet, through
`DisplayFormatter.format(obj)` and the Jupyter message packing
(`jupyter_client.session.json_packer`, which base64-encodes images).  The
file is written first as the client writes a download (`OutputStore`), and
is in the page cache, as right after a download; the write itself is not
timed (it is part of the generation: see overhead).  Baseline, the floor:
Pillow's bare decode plus `reduce` of the same file (open, inflate and
unfilter every pixel, shrink by the factor the thumbnail uses), which any
preview of a PNG must pay.  Also measured in the same run: the naive
`display(PIL.Image.open(path))`, which encodes the whole image as PNG and
JPEG, and a later display of the same result, which reads the thumbnail kept
beside the file.  Repetitions interleave the three sides.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from common import PROMPT_4K, Outcome, median, photo_png_4k, png_4k, scaled, timed

NOTEBOOK_TARGET_KB = 100.0
NOTEBOOK_TARGET_FACTOR = 50.0
PREVIEW_FLOOR_FACTOR = 1.25  # the first display: at most this times Pillow's bare decode plus reduce
PREVIEW_NAIVE_FACTOR = 2.0  # ... and at least this many times faster than display(PIL.Image)
REDISPLAY_TARGET_MS = 2.0  # any later display of the same result


def _result(path: Path) -> Any:
    from xenodia_jupyter.core.results import GenerationResult

    return GenerationResult(
        prompt=PROMPT_4K,
        urls=["https://cdn.example/files/task_bench/0.png"],
        paths=[path],
        task_id="task_bench",
        cost_usd=0.04,
        aspect_ratio="16:9",
        resolution="4K",
    )


def _stored(data: dict[str, Any]) -> dict[str, Any]:
    """A mime bundle as a notebook stores it: binary data base64-encoded."""
    return {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in data.items()}


def _notebook_growth(data: dict[str, Any], metadata: dict[str, Any]) -> int:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    cell = new_code_cell("result")
    notebook = new_notebook(cells=[cell])
    empty = len(nbformat.writes(notebook).encode())
    cell.outputs = [new_output("display_data", data=_stored(data), metadata=metadata)]
    return len(nbformat.writes(notebook).encode()) - empty


def notebook_bytes() -> Outcome:
    from IPython.core.formatters import DisplayFormatter
    from PIL import Image

    path = png_4k()
    formatter = DisplayFormatter()
    data, metadata = formatter.format(_result(path))
    ours = _notebook_growth(data, metadata)
    with Image.open(path) as image:
        full, full_metadata = formatter.format(image)
    png_only = {k: v for k, v in full.items() if k in ("text/plain", "image/png")}
    baseline = _notebook_growth(png_only, {})
    kb_ours, kb_base = ours / 1000, baseline / 1000
    met = kb_ours <= NOTEBOOK_TARGET_KB and baseline >= NOTEBOOK_TARGET_FACTOR * ours
    return Outcome(
        "notebook bytes",
        " KB",
        kb_ours,
        kb_base,
        f"<= {NOTEBOOK_TARGET_KB:.0f} KB and ratio <= {1 / NOTEBOOK_TARGET_FACTOR:g} ({NOTEBOOK_TARGET_FACTOR:.0f}x smaller)",
        met,
        reps={"ours": 1, "baseline": 1},
        samples={"ours_bytes": [ours], "baseline_bytes": [baseline]},
        extra={
            "image": f"{path.name}, {path.stat().st_size} bytes on disk",
            "ours_mime_types": sorted(data),
            "baseline_full_bundle_bytes": _notebook_growth(full, full_metadata),
            "baseline_full_bundle_mime_types": sorted(full),
        },
    )


def preview_time(label: str, path: Path, reps: int, reps_naive: int) -> Outcome:
    from IPython.core.formatters import DisplayFormatter
    from jupyter_client.session import json_packer
    from PIL import Image

    from xenodia_jupyter.images.thumbnails import THUMBNAIL_SIZE, thumbnail_path
    from xenodia_jupyter.store.outputs import OutputStore

    downloaded = path.read_bytes()
    store = OutputStore(path.parent / f"preview-store-{label}")
    save_s, saved = timed(lambda: store.save_image(downloaded, "image/png", stem="preview", meta={}))
    formatter = DisplayFormatter()

    def send(obj: Any) -> bytes:
        data, metadata = formatter.format(obj)
        return json_packer({"data": data, "metadata": metadata, "transient": {}})

    def first_display() -> bytes:
        return send(_result(saved))

    def later_display() -> bytes:
        return send(_result(saved))

    def floor() -> None:
        with Image.open(saved) as image:
            factor = max(1, min(image.size) // (THUMBNAIL_SIZE * 2))  # the thumbnail's own reduce factor
            image.reduce(factor)  # decodes every pixel, then shrinks

    def naive() -> bytes:
        with Image.open(saved) as image:
            return send(image)

    def first() -> float:
        thumbnail_path(saved).unlink(missing_ok=True)  # every repetition is a first display
        return timed(first_display)[0] * 1000

    samples: dict[str, list[float]] = {"ours": [], "floor": [], "naive": [], "later": []}
    first(), floor(), naive(), later_display()  # warm up: imports, plugins, the page cache
    for index in range(reps):
        pair = [("ours", first), ("floor", lambda: timed(floor)[0] * 1000)]
        for name, fn in pair if index % 2 == 0 else reversed(pair):
            samples[name].append(fn())
        samples["later"].append(timed(later_display)[0] * 1000)  # the thumbnail made just above is kept
        if index < reps_naive:
            samples["naive"].append(timed(naive)[0] * 1000)
    ours, base, naive_ms, later = (median(samples[k]) for k in ("ours", "floor", "naive", "later"))
    vs_naive = ours / naive_ms
    met = ours <= base * PREVIEW_FLOOR_FACTOR and vs_naive <= 1 / PREVIEW_NAIVE_FACTOR and later <= REDISPLAY_TARGET_MS
    return Outcome(
        f"preview time ({label})",
        " ms",
        ours,
        base,
        f"ratio <= {PREVIEW_FLOOR_FACTOR:g} (vs decode+reduce), <= {1 / PREVIEW_NAIVE_FACTOR:g} vs naive, "
        f"later display <= {REDISPLAY_TARGET_MS:g} ms",
        met,
        reps={"ours": reps, "floor": reps, "naive": reps_naive, "later": reps},
        samples={"ours_ms": samples["ours"], "floor_ms": samples["floor"], "naive_ms": samples["naive"],
                 "later_display_ms": samples["later"]},
        extra={
            "image": f"{path.name}, {path.stat().st_size} bytes",
            "baseline": "the floor: Pillow's open + decode + reduce of the same file",
            "ratio_vs_floor": ours / base,
            "naive_display_ms": naive_ms,
            "ratio_vs_naive": vs_naive,
            "later_display_ms": later,
            "save_ms_not_timed": save_s * 1000,
            "ours_min_ms": min(samples["ours"]),
            "floor_min_ms": min(samples["floor"]),
        },
        note=f"vs naive display(PIL.Image) {naive_ms:.0f} ms: {vs_naive:.2f}x ({1 / vs_naive:.1f}x faster); "
        f"later display {later:.2f} ms",
    )


def run(scale: float = 1.0) -> list[Outcome]:
    return [
        notebook_bytes(),
        preview_time("flat", png_4k(), scaled(15, scale), scaled(7, scale)),
        preview_time("photo", photo_png_4k(), scaled(9, scale), scaled(3, scale)),
    ]
