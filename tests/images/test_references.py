"""references.py: anything -> upload-ready reference, and the bad-input corpus."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageDraw, ImageOps

from xenodia_jupyter.errors import InvalidRequestError
from xenodia_jupyter.images import checks, encoding, references
from xenodia_jupyter.images.references import (
    MAX_REFERENCE_PIXELS,
    PreparedReference,
    encode_image,
    prepare_references,
    reference_from_bytes,
)
from xenodia_jupyter.wire import rules
from xenodia_jupyter.wire.protocol import public_url

try:
    from tests.data.bad_inputs import BAD_INPUTS, BadInput, animated, encoded, png_claiming
except ImportError:  # run with tests/ (not the repository root) on sys.path
    from data.bad_inputs import BAD_INPUTS, BadInput, animated, encoded, png_claiming  # type: ignore[no-redef]

MAX = rules.MAX_REFERENCE_BYTES
RNG = np.random.default_rng(20260101)


# Helpers ------------------------------------------------------------------------------


def noise(shape: tuple[int, ...], dtype: Any = np.uint8, high: int = 256) -> np.ndarray:
    return RNG.integers(0, high, shape, dtype=dtype)


def save(image: Image.Image, path: Path, fmt: str | None = None, **options: Any) -> Path:
    image.save(path, format=fmt, **options)
    return path


def one(refs: object) -> PreparedReference:
    prepared = prepare_references(refs)
    assert len(prepared) == 1
    return prepared[0]


def decode(ref: PreparedReference) -> Image.Image:
    assert ref.data is not None
    image = Image.open(io.BytesIO(ref.data))
    image.load()
    return image


def refused(refs: object, contains: str, **kwargs: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        prepare_references(refs, **kwargs)
    assert info.value.field == "references"
    assert contains in info.value.message, info.value.message
    return info.value


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def gradient(width: int, height: int, mode: str = "RGBA") -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    bands = [x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height), np.full_like(x, 255)]
    return Image.fromarray(np.stack(bands[: len(mode)], -1).astype(np.uint8))


# Kinds: nothing, URLs, paths, bytes, file objects --------------------------------------


def test_none_and_empty_lists_give_no_references() -> None:
    assert prepare_references(None) == []
    assert prepare_references([]) == []
    assert prepare_references(()) == []


@pytest.mark.parametrize("url", ["https://example.com/img/cat.png", "http://example.com/cat.png?v=2"])
def test_http_and_https_urls_are_sent_as_urls(url: str) -> None:
    ref = one(url)
    assert (ref.kind, ref.url, ref.data, ref.mime) == ("url", url, None, "")
    assert ref.digest == hashlib.sha256(url.encode()).hexdigest()
    assert ref.filename == "cat.png"
    assert ref.source == f"URL {public_url(url)}"  # what is kept: never a query string (signatures live there)
    assert "?" not in ref.source and ref.url == url  # ... while the URL sent is the whole one


def test_url_messages_never_show_the_password() -> None:
    error = refused(["https://example.com/ok.png", "https://bob:s3cret@example.com/cat.png"], "credentials")
    assert "s3cret" not in str(error)
    assert "references[1]" in error.message


def test_long_urls_are_shortened_in_the_source() -> None:
    url = "https://example.com/" + "a" * 200 + ".png"
    ref = one(url)
    assert ref.url == url
    assert len(ref.source) < 100 and ref.source.endswith("…")


def test_a_windows_drive_path_is_a_path_not_a_url_scheme() -> None:
    refused("C:\\images\\cat.png", "file not found")


def test_a_local_name_with_a_colon_needs_a_pathlib_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save(Image.new("RGB", (4, 4)), tmp_path / "shot:1.png")
    monkeypatch.chdir(tmp_path)
    refused("shot:1.png", "pass a pathlib.Path")
    assert one(Path("shot:1.png")).mime == "image/png"


class _PathLike:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __fspath__(self) -> str:
        return str(self.path)


def test_paths_as_str_path_and_pathlike_read_the_file(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (12, 10), "red"), tmp_path / "logo.png")
    data = path.read_bytes()
    for given_ in (str(path), path, _PathLike(path)):
        ref = one(given_)
        assert (ref.kind, ref.data, ref.filename, ref.mime) == ("file", data, "logo.png", "image/png")
        assert ref.digest == hashlib.sha256(data).hexdigest()
        assert ref.source.startswith(f"file {path} (") and "PNG 12x10" in ref.source


def test_home_directory_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    save(Image.new("RGB", (4, 4)), tmp_path / "logo.png")
    assert one("~/logo.png").filename == "logo.png"


def test_missing_file_and_directory_are_named(tmp_path: Path) -> None:
    error = refused(str(tmp_path / "nope.png"), "file not found: ")
    assert str(tmp_path / "nope.png") in error.message
    refused(tmp_path, "is a directory")


def test_a_missing_relative_file_says_which_folder_was_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    error = refused("logo.png", "file not found: ")
    assert f"looked in {tmp_path}" in error.message


def test_special_files_are_refused() -> None:
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null")
    refused("/dev/null", "is not a regular file")


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_bytes_bytearray_and_memoryview(wrap: Any) -> None:
    data = encoded("PNG", (20, 10))
    ref = one(wrap(data))
    assert (ref.data, ref.mime, ref.filename) == (data, "image/png", "reference-1.png")
    assert ref.source.startswith("bytes (") and "PNG 20x10" in ref.source


def test_binary_file_objects_are_read_with_their_name(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (8, 8)), tmp_path / "photo.jpg", "JPEG")
    with path.open("rb") as handle:
        ref = one(handle)
    assert (ref.data, ref.filename, ref.mime) == (path.read_bytes(), "photo.jpg", "image/jpeg")
    assert one(io.BytesIO(path.read_bytes())).filename == "reference-1.jpg"


def test_text_mode_files_are_refused_clearly(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (8, 8)), tmp_path / "photo.png")
    with path.open("r", encoding="latin-1") as handle:
        error = refused(handle, "text-mode file")
    assert "open(path, 'rb')" in error.message and "photo.png" in error.message


def test_a_file_object_already_read_to_the_end_says_so() -> None:
    handle = io.BytesIO(encoded("PNG"))
    handle.read()
    refused(handle, "already read to the end")


def test_a_write_only_file_cannot_be_read(tmp_path: Path) -> None:
    with (tmp_path / "out.png").open("wb") as handle:
        refused(handle, "cannot be read")


def test_a_huge_file_object_is_refused_without_reading_it_all() -> None:
    class Endless(io.RawIOBase):
        reads = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            Endless.reads += 1
            buffer[: len(buffer)] = b"\x00" * len(buffer)
            return len(buffer)

    refused(io.BufferedReader(Endless(), 1 << 20), f"more than {MAX:,} bytes")
    assert Endless.reads < 100


@pytest.mark.parametrize("thing", [42, 3.5, {"url": "x"}, {1, 2}, object(), None])
def test_anything_else_is_refused_with_the_list_of_kinds(thing: object) -> None:
    error = refused([thing], f"of type {type(thing).__name__} cannot be used as a reference")
    assert "a PIL image, a NumPy array, a matplotlib figure or an earlier result" in error.message


# Lists, results and counts ------------------------------------------------------------


def test_lists_are_flattened_one_level(tmp_path: Path) -> None:
    images = [Image.new("RGB", (4, 4), c) for c in ("red", "green")]
    prepared = prepare_references([images, "https://example.com/a.png", (encoded("PNG"),)])
    assert [r.kind for r in prepared] == ["file", "file", "url", "file"]
    refused([[["https://example.com/a.png"]]], "of type list cannot be used")


class _Result:
    """Stands in for GenerationResult."""

    def __init__(self, *items: object) -> None:
        self.items = list(items)

    def __xenodia_references__(self) -> list[object]:
        return self.items


def test_an_earlier_result_stands_for_its_images(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (6, 6), "blue"), tmp_path / "out-1.png")
    prepared = prepare_references([_Result(path, Image.new("RGBA", (5, 5))), "https://example.com/x.png"])
    assert len(prepared) == 3
    assert prepared[0].source.startswith("_Result[0]: file ") and prepared[0].data == path.read_bytes()
    assert prepared[1].source.startswith("_Result[1]: PIL image RGBA 5x5")
    assert prepared[2].kind == "url"


def test_results_count_by_their_images() -> None:
    refused([_Result("https://example.com/a.png", "https://example.com/b.png")] * 9, "18 given; at most 16")


def test_a_result_hook_must_return_a_list() -> None:
    class Odd:
        def __xenodia_references__(self) -> str:
            return "https://example.com/a.png"

    refused(Odd(), "returned str, not a list")


def test_sixteen_references_pass_and_seventeen_do_not(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (4, 4)), tmp_path / "a.png")
    assert len(prepare_references([path] * 16)) == 16
    refused([path] * 17, "17 given; at most 16 are allowed per request")


def test_the_count_is_checked_before_anything_is_read(tmp_path: Path) -> None:
    refused([tmp_path / f"missing-{i}.png" for i in range(17)], "17 given")


def test_a_smaller_limit_from_discovery_applies() -> None:
    urls = [f"https://example.com/{i}.png" for i in range(5)]
    assert len(prepare_references(urls[:4], max_references=4)) == 4
    refused(urls, "5 given; at most 4", max_references=4)


# Types, names and sizes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "name", "mime", "expected_name"),
    [
        ("JPEG", "photo.png", "image/jpeg", "photo.jpg"),
        ("JPEG", "photo.jpeg", "image/jpeg", "photo.jpeg"),
        ("PNG", "photo.jpg", "image/png", "photo.png"),
        ("WEBP", "photo.jpg", "image/webp", "photo.webp"),
        ("PNG", "photo", "image/png", "photo.png"),
        ("PNG", 'we"ird\x01name.png', "image/png", "we_ird_name.png"),
    ],
)
def test_the_type_is_judged_by_the_bytes_and_the_name_follows(
    tmp_path: Path, fmt: str, name: str, mime: str, expected_name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(encoded(fmt))
    ref = one(path)
    assert (ref.mime, ref.filename) == (mime, expected_name)


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("JPEG", {}), ("JPEG", {"progressive": True}), ("WEBP", {}), ("WEBP", {"lossless": True})],
)
def test_header_dimensions_are_read_for_every_accepted_format(fmt: str, options: dict[str, Any]) -> None:
    ref = one(encoded(fmt, (64, 48), **options))
    assert "64x48" in ref.source


def test_webp_with_alpha_uses_the_extended_header() -> None:
    image = Image.fromarray(noise((17, 33, 4)))
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=80)
    data = buffer.getvalue()
    assert data[12:16] == b"VP8X"
    assert "33x17" in one(data).source


def test_a_jpeg_with_bytes_after_its_end_marker_is_fine() -> None:
    data = encoded("JPEG") + b"trailer from a camera"
    assert one(data).data == data


def test_thirty_mib_plus_one_byte_is_refused_by_size() -> None:
    error = refused(b"\x89PNG\r\n\x1a\n" + bytes(MAX + 1 - 8), f"{MAX + 1:,} bytes; at most {MAX:,} bytes")
    assert "references[0] (bytes)" in error.message


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    with path.open("wb") as handle:
        handle.truncate(10 * MAX)  # sparse: never written
    refused(path, f"is {10 * MAX:,} bytes")


def test_zero_bytes_are_refused() -> None:
    refused(b"", "empty (0 bytes)")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_files_are_refused(fmt: str) -> None:
    data = encoded(fmt, (64, 64))
    for cut in (len(data) // 2, len(data) - 30):
        refused(data[:cut], "is truncated or corrupt")


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    refused(png_claiming(100_000, 100_000), "10,000,000,000 pixels; at most 89,478,485 pixels are allowed")
    assert one(png_claiming(MAX_REFERENCE_PIXELS, 1)).mime == "image/png"
    refused(png_claiming(MAX_REFERENCE_PIXELS + 1, 1), "pixels are allowed")


def test_a_lowered_pillow_limit_is_reported_as_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    refused(encoded("PNG", (64, 48)), "too large to open safely")


@pytest.mark.parametrize("fmt", ["WEBP", "PNG"])
def test_animated_images_are_refused(fmt: str) -> None:
    error = refused(["https://example.com/a.png", animated(fmt)], "is animated (3 frames)")
    assert error.message.startswith("references[1] (bytes)")


# PIL images ---------------------------------------------------------------------------------


def _pil_cases() -> list[tuple[str, Image.Image, str, Image.Image]]:
    """(id, image given, decoded mode, image whose pixels the decoded file must have)."""
    rgba = Image.fromarray(noise((30, 40, 4)))
    rgb = Image.fromarray(noise((30, 40, 3)))
    grey = Image.fromarray(noise((30, 40)))
    la = Image.fromarray(noise((30, 40, 2)))
    bilevel = Image.fromarray(noise((30, 40), high=2).astype(bool))
    palette = Image.frombytes("P", (40, 30), noise((30, 40), high=200).tobytes())
    palette.putpalette(noise((256 * 3,)).tolist())
    transparent = palette.copy()
    transparent.info["transparency"] = 7
    alpha_palette = palette.copy()
    alpha_palette.info["transparency"] = bytes(noise((200,)).tolist())
    sixteen = Image.fromarray(noise((30, 40), np.uint16, 65536))
    cmyk = Image.frombytes("CMYK", (40, 30), noise((30, 40, 4)).tobytes())
    ints = Image.fromarray(noise((30, 40), np.int32, 65536))
    floats = Image.fromarray((noise((30, 40)) / 255).astype(np.float32))
    return [
        ("RGBA", rgba, "RGBA", rgba),
        ("RGB", rgb, "RGB", rgb),
        ("L", grey, "L", grey),
        ("LA", la, "LA", la),
        ("1", bilevel, "1", bilevel),
        ("P", palette, "P", palette),
        ("P-transparency-index", transparent, "P", transparent),
        ("P-alpha-per-index", alpha_palette, "P", alpha_palette),
        ("I;16", sixteen, "I;16", sixteen),
        ("CMYK", cmyk, "RGB", cmyk.convert("RGB")),
        ("RGBX", rgb.convert("RGBX"), "RGB", rgb),
        ("PA", palette.convert("PA"), "RGBA", palette.convert("PA").convert("RGBA")),
        ("I-in-16-bit-range", ints, "I;16", Image.fromarray(np.asarray(ints).astype(np.uint16))),
        ("F-in-0-1", floats, "L", Image.fromarray(np.rint(np.asarray(floats) * 255).astype(np.uint8))),
    ]


_PIL_CASES = _pil_cases()


@pytest.mark.parametrize(("given_", "mode", "expected"), [c[1:] for c in _PIL_CASES], ids=[c[0] for c in _PIL_CASES])
def test_pil_images_are_encoded_losslessly(given_: Image.Image, mode: str, expected: Image.Image) -> None:
    ref = one(given_)
    assert (ref.mime, ref.filename) == ("image/png", "reference-1.png")
    decoded = decode(ref)
    assert decoded.mode == mode
    assert decoded.size == expected.size
    assert decoded.tobytes() == expected.tobytes()
    if mode == "P":
        assert decoded.getpalette() == expected.getpalette()
        assert decoded.info.get("transparency") == expected.info.get("transparency")


def test_32_bit_integers_outside_16_bits_are_scaled_to_the_full_range() -> None:
    values = np.array([[-1000, 0, 1000, 9000]], np.int32)
    decoded = np.asarray(decode(one(Image.fromarray(values))))
    assert decoded.tolist() == [[0, round(1000 / 10000 * 65535), round(2000 / 10000 * 65535), 65535]]


def test_floats_in_byte_range_are_rounded_and_others_scaled() -> None:
    assert np.asarray(decode(one(Image.fromarray(np.array([[0.4, 99.6, 255.0]], np.float32))))).tolist() == [
        [0, 100, 255]
    ]
    wide = decode(one(Image.fromarray(np.array([[-1.0, 0.0, 1.0]], np.float32))))
    assert wide.mode == "I;16" and np.asarray(wide).tolist() == [[0, 32768, 65535]]


def test_transparency_keys_and_icc_profiles_survive(tmp_path: Path) -> None:
    rgb = Image.fromarray(noise((20, 20, 3)))
    rgb.info["transparency"] = (1, 2, 3)
    assert decode(one(rgb)).info["transparency"] == (1, 2, 3)
    grey = Image.fromarray(noise((20, 20)))
    grey.info["transparency"] = 9
    assert decode(one(grey)).info["transparency"] == 9
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    tagged = Image.fromarray(noise((20, 20, 3)))
    tagged.info["icc_profile"] = icc
    assert decode(one(tagged)).info["icc_profile"] == icc


def test_cmyk_drops_its_profile_with_the_conversion() -> None:
    cmyk = Image.new("CMYK", (8, 8), (10, 20, 30, 40))
    cmyk.info["icc_profile"] = b"not an RGB profile"
    decoded = decode(one(cmyk))
    assert decoded.mode == "RGB" and "icc_profile" not in decoded.info


def _exif_rotated_jpeg(path: Path) -> Path:
    image = Image.new("RGB", (40, 20), "white")
    ImageDraw.Draw(image).rectangle((0, 0, 9, 19), fill="black")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(path, "JPEG", exif=exif.tobytes(), quality=95)
    return path


def test_an_exif_rotated_jpeg_keeps_its_bytes_when_unchanged(tmp_path: Path) -> None:
    path = _exif_rotated_jpeg(tmp_path / "phone.jpg")
    ref = one(Image.open(path))
    assert (ref.data, ref.mime, ref.filename) == (path.read_bytes(), "image/jpeg", "phone.jpg")
    assert "unchanged → original JPEG" in ref.source


def test_an_exif_rotated_jpeg_is_turned_upright_when_reencoded(tmp_path: Path) -> None:
    image = Image.open(_exif_rotated_jpeg(tmp_path / "phone.jpg"))
    image.putpixel((39, 19), (255, 0, 0))
    decoded = decode(one(image))
    assert decoded.size == (20, 40)
    assert decoded.tobytes() == ImageOps.exif_transpose(image).tobytes()
    assert encode_image(image)[1] == "image/png"


# The original-bytes rule -------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "name"), [("PNG", "a.png"), ("JPEG", "a.jpg"), ("WEBP", "a.webp")])
@pytest.mark.parametrize("loaded", [False, True], ids=["lazy", "loaded"])
def test_an_opened_image_is_sent_as_its_file(tmp_path: Path, fmt: str, name: str, loaded: bool) -> None:
    path = tmp_path / name
    path.write_bytes(encoded(fmt, (50, 40)))
    image = Image.open(path)
    if loaded:
        image.load()
    ref = one(image)
    assert ref.data == path.read_bytes()
    assert ref.filename == name


def test_an_image_closed_by_a_with_block_is_read_from_its_file(tmp_path: Path) -> None:
    path = save(Image.fromarray(noise((10, 10, 3))), tmp_path / "a.png")
    with Image.open(path) as image:
        pass
    assert one(image).data == path.read_bytes()


def test_an_image_opened_from_bytes_is_sent_as_those_bytes() -> None:
    data = encoded("JPEG")
    assert one(Image.open(io.BytesIO(data))).data == data


def test_a_modified_image_is_reencoded_with_its_new_pixels(tmp_path: Path) -> None:
    path = save(Image.fromarray(noise((20, 30, 3))), tmp_path / "a.png")
    image = Image.open(path)
    image.putpixel((0, 0), (1, 2, 3))
    ref = one(image)
    assert ref.data != path.read_bytes()
    assert decode(ref).tobytes() == image.tobytes()
    assert ref.filename == "a.png" and "→ PNG" in ref.source


def test_a_new_palette_is_noticed_although_the_indices_are_the_same(tmp_path: Path) -> None:
    image = Image.new("P", (8, 8))
    image.putpalette([0, 0, 0, 255, 0, 0] * 128)
    path = save(image, tmp_path / "p.png")
    opened = Image.open(path)
    opened.load()
    opened.putpalette([0, 255, 0] * 256)
    decoded = decode(one(opened))
    assert decoded.getpalette()[:3] == [0, 255, 0]


def test_a_draft_or_thumbnail_is_reencoded(tmp_path: Path) -> None:
    path = save(Image.fromarray(noise((64, 64, 3))), tmp_path / "a.jpg", "JPEG")
    image = Image.open(path)
    image.thumbnail((16, 16))
    ref = one(image)
    assert ref.mime == "image/png" and decode(ref).size == image.size


def test_a_file_changed_on_disk_after_loading_is_not_sent(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (10, 10), "red"), tmp_path / "a.png")
    image = Image.open(path)
    image.load()
    save(Image.new("RGB", (10, 10), "blue"), path)
    assert decode(one(image)).getpixel((0, 0)) == (255, 0, 0)


def test_a_copy_is_reencoded_losslessly(tmp_path: Path) -> None:
    path = save(Image.fromarray(noise((10, 10, 3))), tmp_path / "a.png")
    copy = Image.open(path).copy()
    ref = one(copy)
    assert ref.data != path.read_bytes() and decode(ref).tobytes() == copy.tobytes()


def test_an_opened_animation_sends_its_current_frame(tmp_path: Path) -> None:
    path = tmp_path / "anim.png"
    path.write_bytes(animated("PNG"))
    image = Image.open(path)
    image.seek(1)
    decoded = decode(one(image))
    assert decoded.convert("RGB").getpixel((0, 0)) == (0, 0, 255)


def test_an_original_that_breaks_a_rule_is_reencoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(Image.fromarray(noise((10, 10, 3))), tmp_path / "a.jpg", "JPEG", quality=90)
    original = path.read_bytes()

    def strict(data: bytes, name: str) -> str:
        if data == original:
            raise InvalidRequestError("references", f"{name} pretends to be too big")
        return rules.check_reference_bytes(data, name)

    monkeypatch.setattr(checks, "check_reference_bytes", strict)
    image = Image.open(path)
    ref = one(image)
    assert ref.mime == "image/png" and decode(ref).tobytes() == image.tobytes()


def test_a_pil_image_with_too_many_pixels_is_refused_before_encoding() -> None:
    refused(Image.new("1", (9_500, 9_500)), "90,250,000 pixels")


# The fast PNG encoder -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "strategy"),
    [
        (lambda: Image.fromarray(noise((1000, 1100, 4))), "stored"),
        (lambda: gradient(1100, 1000), "default"),
        (
            lambda: Image.fromarray(
                np.clip(np.asarray(gradient(1100, 1000)).astype(int) + noise((1000, 1100, 4), high=24), 0, 255).astype(
                    np.uint8
                )
            ),
            "rle",
        ),
    ],
    ids=["noise", "gradient", "noisy-gradient"],
)
def test_fast_png_picks_a_strategy_and_stays_lossless_across_bands(build: Any, strategy: str) -> None:
    image = build()
    data, used = encoding._fast_png(image)
    assert used == strategy
    chunks = png_chunks(data)
    idat = b"".join(body for tag, body in chunks if tag == b"IDAT")
    assert sum(tag == b"IDAT" for tag, _ in chunks) > 3  # several bands (and threads)
    assert len(zlib.decompress(idat)) == 1000 * (1100 * 4 + 1)  # zlib checks the combined Adler-32
    with Image.open(io.BytesIO(data)) as check:
        check.verify()
    assert Image.open(io.BytesIO(data)).tobytes() == image.tobytes()


@pytest.mark.parametrize("strategy", ["stored", "default", "rle"])
@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16"])
def test_fast_png_is_lossless_for_every_mode_and_strategy(mode: str, strategy: str) -> None:
    channels = {"L": (), "LA": (2,), "RGB": (3,), "RGBA": (4,), "I;16": ()}[mode]
    if mode == "I;16":
        image = Image.fromarray(noise((700, 1600), np.uint16, 65536))
    else:
        image = Image.fromarray(noise((700, 900, *channels)))
    data, _ = encoding._fast_png(image, None, strategy)
    decoded = Image.open(io.BytesIO(data))
    assert decoded.mode == mode and decoded.tobytes() == image.tobytes()


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_adler32_combine_matches_zlib(a: bytes, b: bytes) -> None:
    assert encoding._adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


def test_without_numpy_pillow_writes_the_png(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoding, "_import_numpy", lambda: None)
    image = Image.fromarray(noise((50, 60, 4)))
    data, mime = encode_image(image)
    assert mime == "image/png"
    assert sum(tag == b"IDAT" for tag, _ in png_chunks(data)) == 1  # not our banded writer
    assert Image.open(io.BytesIO(data)).tobytes() == image.tobytes()


def test_over_the_cap_a_smaller_lossless_webp_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    image = gradient(600, 400, "RGB")
    png, _ = encoding._fast_png(image)
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", lossless=True, method=0, quality=0, exact=True)
    webp = buffer.getvalue()
    assert len(webp) < len(png) - 1
    monkeypatch.setattr(encoding, "MAX_REFERENCE_BYTES", len(png) - 1)  # the PNG is just over the cap
    data, mime = encode_image(image)
    assert mime == "image/webp" and len(data) <= references.MAX_REFERENCE_BYTES
    assert Image.open(io.BytesIO(data)).convert("RGB").tobytes() == image.tobytes()
    ref = one(image)
    assert (ref.mime, ref.filename) == ("image/webp", "reference-1.webp")


def test_a_stored_guess_over_the_cap_is_compressed_for_real(monkeypatch: pytest.MonkeyPatch) -> None:
    image = gradient(300, 200, "RGBA")
    rle, _ = encoding._fast_png(image, None, "rle")
    stored, _ = encoding._fast_png(image, None, "stored")
    monkeypatch.setattr(encoding, "_pick_strategy", lambda *args: "stored")
    monkeypatch.setattr(encoding, "MAX_REFERENCE_BYTES", len(stored) // 2 + 1)
    assert len(rle) < len(stored) // 2
    data, mime = encode_image(image)
    assert mime == "image/png" and len(data) == len(rle)


def test_when_nothing_lossless_fits_the_error_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(references, "MAX_REFERENCE_BYTES", 1000)
    monkeypatch.setattr(encoding, "MAX_REFERENCE_BYTES", 1000)
    error = refused(Image.fromarray(noise((100, 100, 3))), "losslessly encoded it is still")
    assert "Downscale it first" in error.message and "JPEG" in error.message


# NumPy arrays and matplotlib figures -----------------------------------------------------


def _array_cases() -> list[tuple[str, np.ndarray, str, np.ndarray]]:
    """(id, array given, decoded mode, array the decoded file must hold)."""
    grey, rgb, rgba = noise((20, 30)), noise((20, 30, 3)), noise((20, 30, 4))
    mask = noise((20, 30), high=2).astype(bool)
    sixteen = noise((20, 30), np.uint16, 65536)
    floats = RNG.random((20, 30, 3))
    floats32 = RNG.random((20, 30)).astype(np.float32)
    wide = noise((40, 90, 3))
    return [
        ("HxW", grey, "L", grey),
        ("HxWx1", grey[:, :, None], "L", grey),
        ("HxWx3", rgb, "RGB", rgb),
        ("HxWx4", rgba, "RGBA", rgba),
        ("bool", mask, "1", mask),
        ("uint16", sixteen, "I;16", sixteen),
        ("uint16-big-endian", sixteen.astype(">u2"), "I;16", sixteen),
        ("float64", floats, "RGB", np.rint(floats * 255).astype(np.uint8)),
        ("float32", floats32, "L", np.rint(floats32 * 255).astype(np.uint8)),
        ("strided", wide[::2, ::3], "RGB", wide[::2, ::3].copy()),
        ("transposed", rgb.transpose(1, 0, 2), "RGB", rgb.transpose(1, 0, 2).copy()),
    ]


_ARRAY_CASES = _array_cases()


@pytest.mark.parametrize(("array", "mode", "expected"), [c[1:] for c in _ARRAY_CASES], ids=[c[0] for c in _ARRAY_CASES])
def test_numpy_arrays_are_encoded_exactly(array: np.ndarray, mode: str, expected: np.ndarray) -> None:
    ref = one(array)
    decoded = decode(ref)
    assert decoded.mode == mode
    assert np.array_equal(np.asarray(decoded), expected)
    assert ref.source.startswith(f"NumPy array {array.dtype} ")


def test_numpy_errors_name_the_rule_and_what_was_found() -> None:
    error = refused(np.array([[0.0, 1.5]]), "range [0, 1]")
    assert "found min 0, max 1.5" in error.message
    refused(np.zeros((4, 4), np.int64), "dtype int64 is not supported")
    refused(np.zeros((4, 4, 3), np.uint16), "uint16 arrays must be HxW")
    refused(np.zeros((4, 4, 5), np.uint8), "shape 4x4x5 is not an image")
    refused(np.float64(0.5), "not an image")


def test_importing_the_module_loads_neither_pillow_nor_numpy() -> None:
    package = Path(references.__file__).parent
    code = (
        "import sys, types; pkg = types.ModuleType('xenodia_jupyter'); "
        f"pkg.__path__ = [{str(package)!r}]; sys.modules['xenodia_jupyter'] = pkg; "
        "import xenodia_jupyter.images.references; "
        "print(sorted(m for m in ('PIL', 'numpy', 'concurrent.futures') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.fixture()
def agg() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure


def test_a_matplotlib_figure_is_saved_as_png_at_its_dpi(agg: Any) -> None:
    sizes = []
    for dpi in (50, 100):
        figure = agg(figsize=(3, 2), dpi=dpi)
        figure.add_subplot().plot([0, 1, 4, 9])
        ref = one(figure)
        assert (ref.mime, ref.filename) == ("image/png", "figure-1.png")
        assert ref.source.startswith("matplotlib figure → PNG")
        sizes.append(decode(ref).size)
    assert 1.8 < sizes[1][0] / sizes[0][0] < 2.2


# The prepared reference, reference_from_bytes ----------------------------------


def test_a_prepared_reference_is_frozen_and_its_repr_has_no_bytes() -> None:
    ref = one(encoded("PNG", (64, 64)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.filename = "x.png"  # type: ignore[misc]
    assert "data=" not in repr(ref) and "\\x89PNG" not in repr(ref)
    assert ref.size == len(ref.data or b"")


def test_reference_from_bytes_applies_the_rules_and_fixes_the_name() -> None:
    data = encoded("JPEG")
    ref = reference_from_bytes(data, "fetched.png", "URL https://example.com/fetched.png")
    assert (ref.kind, ref.mime, ref.filename, ref.data) == ("file", "image/jpeg", "fetched.jpg", data)
    assert ref.source.startswith("URL https://example.com/fetched.png (") and "JPEG 64x48" in ref.source
    with pytest.raises(InvalidRequestError) as info:
        reference_from_bytes(encoded("GIF"), "cat.gif", "URL https://example.com/cat.gif", index=3)
    assert info.value.message.startswith("references[3] (cat.gif) is a GIF image")


# The bad-input corpus -----------------------------------------------------------------------

_PARAMETERS = ("aspect_ratio", "resolution")


def test_the_corpus_is_broad() -> None:
    ids = [case.id for case in BAD_INPUTS]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)
    assert {case.kind for case in BAD_INPUTS} == {"reference", "prompt", "option"}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.id for case in BAD_INPUTS])
def test_bad_input_is_refused(case: BadInput, tmp_path: Path) -> None:
    kwargs = case.generate_kwargs(tmp_path)
    with pytest.raises(InvalidRequestError) as info:
        rules.check_prompt(kwargs.pop("prompt"))
        prepare_references(kwargs.pop("references", None))
        rules.check_parameters(**{name: kwargs.pop(name) for name in _PARAMETERS if name in kwargs})
        rules.check_unknown_options(kwargs)
    assert info.value.field == case.field, info.value
    assert case.message_contains in info.value.message, info.value.message


@pytest.mark.parametrize("with_isal", [True, False], ids=["isal", "zlib"])
def test_banded_png_is_lossless_with_and_without_isal(with_isal: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not with_isal:
        monkeypatch.setitem(sys.modules, "isal", None)  # import fails: plain zlib is used
    image = Image.fromarray(noise((700, 900, 4)))
    data, _ = encoding._fast_png(image, None, "default")
    assert Image.open(io.BytesIO(data)).tobytes() == image.tobytes()
