"""reference upload: a 4096x4096 RGBA PIL image (in memory, not from a file)
to the bytes of its multipart part, losslessly.

Ours: `prepare_references([image])`, the whole path the client takes (mode
checks, the encoder, the header check of the bytes made, the digest).
Baseline: `image.save(buf, "PNG")` with Pillow's defaults.  Both outputs
are decoded afterwards (outside the timing) and must give back every pixel.

The time depends on the picture, so two are measured:

- photo: matplotlib's sample photograph (grace_hopper.jpg) upscaled to
  4096x4096, with an alpha vignette (a cut-out);
- flat: the emulator's 4K render (gradient and text) stretched to 4096x4096,
  with a horizontal alpha ramp: flat art, the easy case for zlib.
"""

from __future__ import annotations

import io
from typing import Any

from common import Outcome, median, repeat, scaled

SIZE = 4096
TARGET_FACTOR = 5.0


def photo_image() -> Any:
    import matplotlib.cbook as cbook
    import numpy as np
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        photo = Image.open(f).convert("RGB")
    rgb = np.asarray(photo.resize((SIZE, SIZE), Image.Resampling.BICUBIC))
    y, x = np.ogrid[:SIZE, :SIZE]
    radius = np.hypot(x - SIZE / 2, y - SIZE / 2) / (SIZE / 2)
    alpha = np.clip((1.2 - radius) * 400, 0, 255).astype(np.uint8)
    return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")


def flat_image() -> Any:
    import numpy as np
    from PIL import Image

    from xenodia_jupyter.emulator.render import render_image

    render = Image.open(io.BytesIO(render_image("a reference sketch of a bicycle", "16:9", "4K", [])))
    rgb = np.asarray(render.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR))
    alpha = np.tile(np.linspace(64, 255, SIZE).astype(np.uint8)[None, :], (SIZE, 1))
    return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")


def _same_pixels(data: bytes, image: Any) -> bool:
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as back:
        back.load()
        return back.mode == image.mode and np.array_equal(np.asarray(back), np.asarray(image))


def measure(label: str, image: Any, reps_ours: int, reps_base: int) -> Outcome:
    from xenodia_jupyter.images.references import prepare_references

    made: dict[str, Any] = {}

    def ours() -> None:
        made["ours"] = prepare_references([image])[0]

    def baseline() -> None:
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        made["baseline"] = buffer.getvalue()

    ours_ms = [t * 1000 for t in repeat(ours, reps_ours, warmup=1)]
    base_ms = [t * 1000 for t in repeat(baseline, reps_base, warmup=0)]
    ref = made["ours"]
    lossless = ref.data is not None and _same_pixels(ref.data, image)
    if not _same_pixels(made["baseline"], image):
        raise AssertionError("Pillow's PNG did not round-trip: the benchmark image is wrong")
    ours_med, base_med = median(ours_ms), median(base_ms)
    met = lossless and base_med >= TARGET_FACTOR * ours_med
    return Outcome(
        f"reference upload ({label})",
        " ms",
        ours_med,
        base_med,
        f"lossless and ratio <= {1 / TARGET_FACTOR:g} ({TARGET_FACTOR:.0f}x faster)",
        met,
        reps={"ours": reps_ours, "baseline": reps_base},
        samples={"ours_ms": ours_ms, "baseline_ms": base_ms},
        extra={
            "lossless": lossless,
            "ours_mime": ref.mime,
            "ours_bytes": ref.size,
            "baseline_bytes": len(made["baseline"]),
        },
        note="" if lossless else "NOT LOSSLESS",
    )


def run(scale: float = 1.0) -> list[Outcome]:
    return [
        measure("photo", photo_image(), scaled(5, scale), scaled(3, scale)),
        measure("flat", flat_image(), scaled(7, scale), scaled(5, scale)),
    ]
