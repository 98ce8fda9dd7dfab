"""rules.py: every documented rule, value by value."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from xenodia_jupyter.errors import InvalidRequestError
from xenodia_jupyter.wire import rules
from xenodia_jupyter.wire.rules import (
    ACCEPTED_MIME_TYPES,
    ASPECT_RATIOS,
    MAX_PROMPT_CHARS,
    MAX_REFERENCE_BYTES,
    MAX_REFERENCES,
    RESOLUTIONS,
    ModelInfo,
    PriceTier,
    allowed_resolutions,
    check_parameters,
    check_prompt,
    check_reference_bytes,
    check_reference_count,
    check_reference_url,
    check_unknown_options,
    describe_bytes,
    image_size,
    sniff_mime,
)

PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff\xe0"
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 "
REFUSED_PAIRS = {("auto", "2K"), ("auto", "4K"), ("1:1", "4K")}


def refused(field: str, contains: str = "") -> pytest.RaisesExc[InvalidRequestError]:
    """Context manager: the block raises InvalidRequestError naming `field`."""
    return pytest.raises(InvalidRequestError, check=lambda e: e.field == field and contains in e.message)


# Aspect ratio and resolution -----------------------------------------------------------


def test_the_documented_values() -> None:
    assert ASPECT_RATIOS == ("auto", "1:1", "9:16", "16:9", "4:3", "3:4")
    assert RESOLUTIONS == ("1K", "2K", "4K")


@pytest.mark.parametrize(("aspect_ratio", "resolution"), list(itertools.product(ASPECT_RATIOS, RESOLUTIONS)))
def test_every_aspect_ratio_and_resolution_pair(aspect_ratio: str, resolution: str) -> None:
    if (aspect_ratio, resolution) in REFUSED_PAIRS:
        with refused("resolution", repr(resolution)):
            check_parameters(aspect_ratio=aspect_ratio, resolution=resolution)
        assert resolution not in allowed_resolutions(aspect_ratio)
    else:
        check_parameters(aspect_ratio=aspect_ratio, resolution=resolution)
        assert resolution in allowed_resolutions(aspect_ratio)


def test_auto_aspect_ratio_allows_only_1K() -> None:
    assert allowed_resolutions("auto") == ("1K",)
    with refused("resolution", "aspect_ratio 'auto' allows only resolution '1K', not '2K'"):
        check_parameters(aspect_ratio="auto", resolution="2K")


def test_square_cannot_be_4K() -> None:
    assert allowed_resolutions("1:1") == ("1K", "2K")
    with refused("resolution", "'1:1' cannot be combined with resolution '4K'"):
        check_parameters(aspect_ratio="1:1", resolution="4K")


def test_either_value_may_be_left_out() -> None:
    check_parameters()
    check_parameters(aspect_ratio="auto")
    check_parameters(resolution="4K")
    assert allowed_resolutions(None) == RESOLUTIONS


@pytest.mark.parametrize("value", ["2:1", "16:10", "AUTO", "", " 1:1", 1.5, 1, ["1:1"]])
def test_unknown_aspect_ratios_are_refused(value: object) -> None:
    with refused("aspect_ratio", f"{value!r} is not allowed; choose one of auto, 1:1, 9:16, 16:9, 4:3, 3:4"):
        check_parameters(aspect_ratio=value)


@pytest.mark.parametrize("value", ["8K", "1k", "", "1024", 1024, 2.0])
def test_unknown_resolutions_are_refused(value: object) -> None:
    with refused("resolution", "is not allowed; choose one of 1K, 2K, 4K"):
        check_parameters(resolution=value)


def test_discovery_can_narrow_the_values() -> None:
    info = ModelInfo(aspect_ratios=("1:1", "16:9"), resolutions=("1K", "2K"))
    check_parameters(aspect_ratio="16:9", resolution="2K", info=info)
    with refused("aspect_ratio", "choose one of 1:1, 16:9"):
        check_parameters(aspect_ratio="4:3", info=info)
    with refused("resolution"):
        check_parameters(resolution="4K", info=info)
    assert info.allowed_resolutions("16:9") == ("1K", "2K")
    assert info.allowed_resolutions("auto") == ("1K",)


_VALUES = st.one_of(st.none(), st.sampled_from(ASPECT_RATIOS + RESOLUTIONS), st.text(max_size=6), st.integers())


@given(aspect_ratio=_VALUES, resolution=_VALUES)
@example(aspect_ratio="auto", resolution="4K")
def test_check_parameters_accepts_exactly_the_allowed_pairs(aspect_ratio: object, resolution: object) -> None:
    expected_ok = (aspect_ratio is None or aspect_ratio in ASPECT_RATIOS) and (
        resolution is None or resolution in allowed_resolutions(aspect_ratio)  # type: ignore[arg-type]
    )
    try:
        check_parameters(aspect_ratio=aspect_ratio, resolution=resolution)
    except InvalidRequestError as error:
        assert error.field in ("aspect_ratio", "resolution")
        assert not expected_ok
    else:
        assert expected_ok


# Model and response format -------------------------------------------------------------


def test_the_only_model() -> None:
    check_parameters(model="gpt-image-2")
    for model in ("gpt-image-1", "GPT-IMAGE-2", "", None):
        with refused("model", "the only model is 'gpt-image-2'"):
            check_parameters(model=model)


def test_response_format_is_url_only() -> None:
    check_parameters(response_format="url")
    check_parameters(response_format=None)
    for value in ("b64_json", "URL"):
        with refused("response_format", f"{value!r} is not allowed; choose one of url"):
            check_parameters(response_format=value)


# Prompt -------------------------------------------------------------------------------


def test_a_good_prompt_is_returned_unchanged() -> None:
    assert check_prompt("  a red bicycle\n") == "  a red bicycle\n"
    assert check_prompt("x" * MAX_PROMPT_CHARS) == "x" * MAX_PROMPT_CHARS


@pytest.mark.parametrize(("prompt", "type_name"), [(5, "int"), (None, "NoneType"), (b"cat", "bytes"), (["a"], "list")])
def test_a_prompt_must_be_text(prompt: object, type_name: str) -> None:
    with refused("prompt", f"must be text (str), not {type_name}"):
        check_prompt(prompt)


@pytest.mark.parametrize("prompt", ["", " ", "\n\t  \r\n", "\u3000"])
def test_an_empty_or_blank_prompt_is_refused(prompt: str) -> None:
    with refused("prompt", "must not be empty or only white space"):
        check_prompt(prompt)


def test_a_too_long_prompt_is_refused_with_its_length() -> None:
    with refused("prompt", f"is {MAX_PROMPT_CHARS + 1:,} characters long; at most {MAX_PROMPT_CHARS:,}"):
        check_prompt("x" * (MAX_PROMPT_CHARS + 1))


def test_a_prompt_with_nul_is_refused() -> None:
    with refused("prompt", "NUL"):
        check_prompt("a cat\x00")


# Options ------------------------------------------------------------------------------


def test_no_options_is_fine() -> None:
    check_unknown_options({})


@pytest.mark.parametrize("value", ["png", "jpeg", "webp", None])
def test_output_format_is_refused_client_side(value: object) -> None:
    with refused("output_format", "is not supported by gpt-image-2"):
        check_unknown_options({"output_format": value})


def test_output_format_is_named_before_other_unknown_options() -> None:
    with refused("output_format"):
        check_unknown_options({"aaa": 1, "output_format": "png"})


def test_unknown_options_are_named() -> None:
    with refused("quality", "unknown option(s): quality"):
        check_unknown_options({"quality": "hd"})
    with refused("n", "unknown option(s): n, quality, size"):
        check_unknown_options({"size": "1024x1024", "quality": "hd", "n": 2})


# References: count, type, size, URL ----------------------------------------------------


def test_sixteen_references_are_allowed_and_seventeen_are_not() -> None:
    assert MAX_REFERENCES == 16
    check_reference_count(0)
    check_reference_count(16)
    with refused("references", "17 given; at most 16 are allowed per request"):
        check_reference_count(17)


def test_discovery_may_lower_but_not_raise_the_reference_limit() -> None:
    check_reference_count(4, ModelInfo(max_references=4))
    with refused("references", "5 given; at most 4"):
        check_reference_count(5, ModelInfo(max_references=4))
    with refused("references", "at most 16"):
        check_reference_count(17, ModelInfo(max_references=40))
    check_reference_count(16, ModelInfo(max_references=0))  # 0: discovery did not say


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PNG + b"rest", "image/png"),
        (JPEG + b"rest", "image/jpeg"),
        (b"\xff\xd8\xff\xdb", "image/jpeg"),
        (WEBP, "image/webp"),
        (b"GIF89a....", None),
        (b"BM\x00\x00", None),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", None),
        (PNG[:7], None),
        (b"\xff\xd8", None),
        (b"", None),
    ],
)
def test_sniff_mime_judges_by_the_first_bytes(data: bytes, mime: str | None) -> None:
    assert sniff_mime(data) == mime


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"GIF89a", "a GIF image"),
        (b"GIF87a", "a GIF image"),
        (b"BM6\x00\x00\x00", "a BMP image"),
        (b"II*\x00", "a TIFF image"),
        (b"MM\x00*", "a TIFF image"),
        (b"%PDF-1.7", "a PDF document"),
        (b"<svg xmlns=", "an SVG image"),
        (b"<?xml version", "an XML/SVG document"),
        (b"<!DOCTYPE html>", "an HTML page"),
        (b"<html>", "an HTML page"),
        (b"\x00\x00\x00\x18ftypheic", "a HEIC/AVIF image"),
        (b"\x00\x00\x00\x1cftypavif", "a HEIC/AVIF image"),
        (b"", "empty (0 bytes)"),
        (b"hello", "not a recognisable image"),
    ],
)
def test_describe_bytes_names_common_formats(data: bytes, name: str) -> None:
    assert describe_bytes(data) == name


def test_reference_bytes_size_limits() -> None:
    assert MAX_REFERENCE_BYTES == 31_457_280
    exactly = PNG + bytes(MAX_REFERENCE_BYTES - len(PNG))
    assert check_reference_bytes(exactly, "x") == "image/png"
    with refused("references", "x is 31,457,281 bytes; at most 31,457,280 bytes (30 MiB)"):
        check_reference_bytes(exactly + b"\x00", "x")
    with refused("references", "x is empty (0 bytes)"):
        check_reference_bytes(b"", "x")


@pytest.mark.parametrize(("data", "what"), [(b"GIF89a" + bytes(10), "a GIF image"), (b"<svg/>", "an SVG image")])
def test_reference_bytes_of_other_types_are_refused(data: bytes, what: str) -> None:
    with refused("references", f"logo.png is {what}; accepted types are image/jpeg, image/png, image/webp"):
        check_reference_bytes(data, "logo.png")


@given(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from([PNG, JPEG, WEBP, b"GIF8", b"RIFF"]).flatmap(
            lambda head: st.binary(max_size=20).map(lambda tail: head + tail)
        ),
    )
)
def test_random_bytes_sniff_to_an_accepted_type_or_none(data: bytes) -> None:
    mime = sniff_mime(data)
    assert mime is None or mime in ACCEPTED_MIME_TYPES
    try:
        assert check_reference_bytes(data, "x") == mime
    except InvalidRequestError as error:
        assert error.field == "references"
        assert mime is None


@pytest.mark.parametrize(
    "url", ["https://example.com/cat.png", "http://example.com:8080/a/b.jpg?x=1#f", "HTTPS://EXAMPLE.COM/x"]
)
def test_plain_http_urls_are_allowed(url: str) -> None:
    assert check_reference_url(url) == url


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("file:///etc/passwd", "file:"),
        ("javascript:alert(1)", "javascript:"),
        ("data:image/png;base64,iVBORw0KGgo=", "data:"),
        ("ftp://example.com/cat.png", "ftp:"),
        ("//example.com/cat.png", "(none)"),
        ("example.com/cat.png", "(none)"),
    ],
)
def test_other_url_schemes_are_refused(url: str, scheme: str) -> None:
    with refused("references", f"URL scheme {scheme} is not allowed; use http or https"):
        check_reference_url(url)


@pytest.mark.parametrize(
    "url",
    ["https://bob:s3cret@example.com/a.png", "https://bob@example.com/a.png", "https://:s3cret@example.com/a.png"],
)
def test_urls_with_credentials_are_refused(url: str) -> None:
    with refused("references", "credentials"):
        check_reference_url(url)


@pytest.mark.parametrize(
    "url", ["https://bob:s3cret@/a.png", "http://bob:s3cret@[::1/a.png", "http://bob:s3cret@x y/a"]
)
def test_url_messages_never_echo_a_password(url: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_reference_url(url)
    assert "s3cret" not in str(info.value)


def test_urls_without_host_or_with_spaces_or_broken_are_refused() -> None:
    with refused("references", "has no host"):
        check_reference_url("https:///cat.png")
    with refused("references", "contains white space"):
        check_reference_url("https://example.com/a cat.png")
    with refused("references", "is not a valid URL"):
        check_reference_url("http://[::1/cat.png")


@given(st.text(max_size=60))
def test_check_reference_url_raises_only_invalid_request(url: str) -> None:
    try:
        assert check_reference_url(url) == url
    except InvalidRequestError as error:
        assert error.field == "references"


# Output size ---------------------------------------------------------------------------

_SIZES = {
    ("auto", "1K"): (1024, 1024),
    ("1:1", "1K"): (1024, 1024),
    ("16:9", "1K"): (1024, 576),
    ("9:16", "1K"): (576, 1024),
    ("4:3", "1K"): (1024, 768),
    ("3:4", "1K"): (768, 1024),
    ("1:1", "2K"): (2048, 2048),
    ("16:9", "2K"): (2048, 1152),
    ("9:16", "2K"): (1152, 2048),
    ("4:3", "2K"): (2048, 1536),
    ("3:4", "2K"): (1536, 2048),
    ("16:9", "4K"): (3840, 2160),
    ("9:16", "4K"): (2160, 3840),
    ("4:3", "4K"): (3840, 2880),
    ("3:4", "4K"): (2880, 3840),
}


def test_the_size_table_covers_every_allowed_pair() -> None:
    allowed = {(a, r) for a in ASPECT_RATIOS for r in allowed_resolutions(a)}
    assert set(_SIZES) == allowed


@pytest.mark.parametrize(("pair", "size"), list(_SIZES.items()), ids=[f"{a}-{r}" for a, r in _SIZES])
def test_image_size_for_every_allowed_pair(pair: tuple[str, str], size: tuple[int, int]) -> None:
    assert image_size(*pair) == size


def test_image_size_defaults() -> None:
    assert image_size(None, None) == (1024, 1024)
    assert image_size("auto", None) == (1024, 1024)
    assert image_size("16:9", None) == (1024, 576)
    assert image_size(None, "2K") == (2048, 2048)


# Pricing -------------------------------------------------------------------------------


def test_per_call_pricing_is_seven_cents_whatever_the_resolution() -> None:
    info = ModelInfo()
    assert info.pricing_mode == "per_call"
    assert info.price_usd == pytest.approx(0.07)
    for resolution in (None, "1K", "2K", "4K"):
        assert info.price_micro_usdc_for(resolution) == 70_000
        assert info.price_usd_for(resolution) == pytest.approx(0.07)


def test_resolution_pricing_picks_the_matching_tier() -> None:
    info = ModelInfo(
        pricing_mode="resolution", tiers=(PriceTier("1k_2k", 50_000, "up to 2K"), PriceTier("4k", 120_000, "4K"))
    )
    assert info.price_micro_usdc_for("1K") == 50_000
    assert info.price_micro_usdc_for("2K") == 50_000
    assert info.price_micro_usdc_for("4K") == 120_000
    assert info.price_usd_for("4K") == pytest.approx(0.12)
    assert info.price_micro_usdc_for(None) == 50_000  # no resolution asked: the first tier
    assert info.price_usd == pytest.approx(0.05)


def test_pricing_without_tiers_falls_back_to_the_documented_price() -> None:
    assert ModelInfo(tiers=()).price_micro_usdc_for("2K") == rules.PRICE_MICRO_USDC == 70_000
