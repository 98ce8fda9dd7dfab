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

preview time -- from the downloaded bytes to the bytes the kernel sends to
the browser: `DisplayFormatter.format(obj)` and the Jupyter message packing
(`jupyter_client.session.json_packer`, which base64-encodes images).  Ours:
the client's own path -- save the file as the client does, then display a
fresh `GenerationResult` over it (its first display makes the thumbnail and
keeps it beside the file).  Baseline: the naive
`display(PIL.Image.open(path))` of the saved file.  A later display of the
same result reads the kept thumbnail; that time is in bench.json as
`redisplay_ms`.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from common import PROMPT_4K, Outcome, median, photo_png_4k, png_4k, repeat, scaled

NOTEBOOK_TARGET_KB = 100.0
NOTEBOOK_TARGET_FACTOR = 50.0
PREVIEW_TARGET_MS = 80.0
PREVIEW_TARGET_FACTOR = 10.0


def _result(path: Path) -> Any:
    from xenodia_jupyter.results import GenerationResult

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


def preview_time(label: str, path: Path, reps_ours: int, reps_base: int) -> Outcome:
    from IPython.core.formatters import DisplayFormatter
    from jupyter_client.session import json_packer
    from PIL import Image

    from xenodia_jupyter.store import OutputStore

    downloaded = path.read_bytes()
    store = OutputStore(path.parent / f"preview-store-{label}")
    formatter = DisplayFormatter()

    def send(obj: Any) -> bytes:
        data, metadata = formatter.format(obj)
        return json_packer({"data": data, "metadata": metadata, "transient": {}})

    def ours() -> bytes:
        saved = store.save_image(downloaded, "image/png", stem="preview", meta={})
        saved.with_suffix(".thumb.jpg").unlink(missing_ok=True)  # every repetition is a first display
        return send(_result(saved))

    def redisplay() -> bytes:
        return send(_result(store.root / "preview.png"))

    def baseline() -> bytes:
        with Image.open(path) as image:
            return send(image)

    ours_ms = [t * 1000 for t in repeat(ours, reps_ours, warmup=2)]
    base_ms = [t * 1000 for t in repeat(baseline, reps_base, warmup=1)]
    again_ms = [t * 1000 for t in repeat(redisplay, reps_ours, warmup=1)]
    ours_med, base_med = median(ours_ms), median(base_ms)
    met = ours_med <= PREVIEW_TARGET_MS and base_med >= PREVIEW_TARGET_FACTOR * ours_med
    return Outcome(
        f"preview time ({label})",
        " ms",
        ours_med,
        base_med,
        f"<= {PREVIEW_TARGET_MS:.0f} ms and ratio <= {1 / PREVIEW_TARGET_FACTOR:g} ({PREVIEW_TARGET_FACTOR:.0f}x faster)",
        met,
        reps={"ours": reps_ours, "baseline": reps_base},
        samples={"ours_ms": ours_ms, "baseline_ms": base_ms},
        extra={
            "image": f"{path.name}, {path.stat().st_size} bytes",
            "ours_min_ms": min(ours_ms),
            "baseline_min_ms": min(base_ms),
            "redisplay_ms": median(again_ms),
            "redisplay_ratio": median(again_ms) / base_med,
        },
    )


def run(scale: float = 1.0) -> list[Outcome]:
    return [
        notebook_bytes(),
        preview_time("flat", png_4k(), scaled(21, scale), scaled(7, scale)),
        preview_time("photo", photo_png_4k(), scaled(9, scale), scaled(3, scale)),
    ]
