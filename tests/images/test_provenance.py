"""Provenance inside every saved PNG, spliced in without touching the pixels,
and read back from the file, a copy of it, or the side file."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

import xenodia_jupyter as xj
from xenodia_jupyter.emulator import Emulator
from xenodia_jupyter.images.provenance import with_provenance


def test_a_saved_png_says_how_it_was_made(emu: Emulator, client: xj.Client, tmp_path: Path) -> None:
    from PIL import Image

    sketch = Image.new("RGB", (16, 16), "navy")
    result = client.generate("a traced image", references=[sketch], aspect_ratio="16:9", resolution="2K")
    with Image.open(result.paths[0]) as image:
        record = image.text["xenodia"]
    assert "a traced image" in record
    copy = tmp_path / "elsewhere" / "copied.png"
    copy.parent.mkdir()
    shutil.copy(result.paths[0], copy)  # no side file beside the copy
    made = xj.provenance(copy)
    assert made["task_id"] == result.task_id and made["journal_id"] == result.journal_id
    assert (made["model"], made["aspect_ratio"], made["resolution"]) == ("gpt-image-2", "16:9", "2K")
    assert made["cost_usd"] == pytest.approx(0.07) and len(made["references"]) == 1
    assert made["package"].startswith("xenodia-jupyter ")


def test_the_splice_leaves_the_pixels_alone() -> None:
    from PIL import Image

    source = Image.effect_mandelbrot((300, 200), (-2, -1, 1, 1), 80).convert("RGB")
    buf = io.BytesIO()
    source.save(buf, "PNG")
    original = buf.getvalue()
    spliced = with_provenance(original, {"prompt": "p"})
    assert spliced[: len(original) - 12] == original[:-12]  # every chunk before IEND byte for byte
    with Image.open(io.BytesIO(original)) as a, Image.open(io.BytesIO(spliced)) as b:
        assert a.tobytes() == b.tobytes() and b.text["xenodia"] == '{"prompt": "p"}'


def test_a_file_without_provenance_says_so(tmp_path: Path) -> None:
    from PIL import Image

    bare = tmp_path / "bare.png"
    Image.new("RGB", (4, 4)).save(bare)
    with pytest.raises(FileNotFoundError, match="no xenodia provenance"):
        xj.provenance(bare)
