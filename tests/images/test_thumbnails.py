"""One thumbnail recipe for result previews, the gallery and reference chips:
small JPEGs, transparent pixels white whichever way in, the user's image
left as it was, and the preview size kept beside the image."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from xenodia_jupyter.core.results import GenerationResult, render_html
from xenodia_jupyter.images.thumbnails import THUMBNAIL_SIZE, jpeg_thumbnail, make_thumbnail, thumbnail_path


def transparent_png(path: Path | None = None, mode: str = "RGBA") -> bytes:
    """A 200×100 PNG: transparent on the left half, opaque blue on the right."""
    image = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    image.paste((0, 0, 255, 255), (100, 0, 200, 100))
    if mode == "P":
        image = image.convert("P")
        image.info["transparency"] = image.getpixel((0, 0))
    elif mode == "LA":
        image = image.convert("LA")
    buf = io.BytesIO()
    image.save(buf, "PNG", **({"transparency": image.info["transparency"]} if mode == "P" else {}))
    if path is not None:
        path.write_bytes(buf.getvalue())
    return buf.getvalue()


def pixels(jpeg: bytes) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The colour at the left (transparent) and right (opaque) of a thumbnail, as RGB."""
    with Image.open(io.BytesIO(jpeg)) as im:
        assert im.format == "JPEG"
        rgb = im.convert("RGB")
        return rgb.getpixel((2, rgb.height // 2)), rgb.getpixel((rgb.width - 3, rgb.height // 2))


def is_white(colour: tuple[int, ...]) -> bool:
    return all(channel >= 245 for channel in colour)


def test_a_transparent_png_looks_the_same_as_a_result_preview_and_as_a_chip(tmp_path: Path) -> None:
    path = tmp_path / "clear.png"
    data = transparent_png(path)
    result = GenerationResult(prompt="clear", urls=[], paths=[path])
    from_result = result.thumbnail(0, 64)  # the gallery and render_html
    from_bytes = jpeg_thumbnail(data, 64)  # an uploaded reference chip
    assert from_result == from_bytes
    left, right = pixels(from_result)
    assert is_white(left)
    assert right[2] > 200 and right[0] < 60  # still blue


@pytest.mark.parametrize("mode", ["RGBA", "P", "LA"])
def test_transparent_pixels_come_out_white_from_bytes_a_path_and_a_pil_image(tmp_path: Path, mode: str) -> None:
    path = tmp_path / f"clear-{mode}.png"
    data = transparent_png(path, mode)
    with Image.open(path) as image:
        image.load()
        thumbs = [jpeg_thumbnail(data, 48), jpeg_thumbnail(path, 48), jpeg_thumbnail(image, 48)]
    assert all(is_white(pixels(thumb)[0]) for thumb in thumbs)


@pytest.mark.parametrize("mode", ["1", "L", "P", "I;16", "CMYK", "RGB"])
def test_every_pil_mode_gives_a_jpeg_within_the_size(mode: str) -> None:
    thumb = jpeg_thumbnail(Image.new(mode, (900, 300)), 64)
    with Image.open(io.BytesIO(thumb)) as im:
        assert im.format == "JPEG"
        assert im.size == (64, 21)  # the aspect ratio is kept


def test_a_large_image_gives_a_small_thumbnail() -> None:
    buf = io.BytesIO()
    Image.effect_noise((4096, 2304), 60).convert("RGB").save(buf, "JPEG", quality=95)
    thumb = jpeg_thumbnail(buf.getvalue(), 128)
    assert len(thumb) < 20_000 < buf.tell()
    with Image.open(io.BytesIO(thumb)) as im:
        assert im.size == (128, 72)


def test_the_users_pil_image_is_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (1600, 1200), "orange").save(path, "JPEG")
    with Image.open(path) as image:  # not loaded yet: `draft` would shrink it in place
        jpeg_thumbnail(image, 64)
        assert (image.size, image.mode) == ((1600, 1200), "RGB")


def test_the_preview_size_is_kept_beside_the_image_and_redone_when_the_image_changes(tmp_path: Path) -> None:
    path = tmp_path / "result.png"
    transparent_png(path)
    first = make_thumbnail(path)
    kept = thumbnail_path(path)
    assert kept == tmp_path / "result.thumb.jpg" and kept.read_bytes() == first
    kept.write_bytes(b"kept")  # a second display reads the kept file, it does not decode again
    assert make_thumbnail(path) == b"kept"
    assert make_thumbnail(path, 32) != b"kept"  # another size is made fresh, and not kept
    os.utime(path, (kept.stat().st_mtime + 10, kept.stat().st_mtime + 10))
    assert make_thumbnail(path) == first  # the image is newer: made again


def test_render_html_embeds_the_same_thumbnail(tmp_path: Path) -> None:
    import base64

    path = tmp_path / "r.png"
    transparent_png(path)
    result = GenerationResult(prompt="p", urls=[], paths=[path])
    page = render_html([result])
    assert base64.b64encode(jpeg_thumbnail(path, THUMBNAIL_SIZE)).decode() in page
