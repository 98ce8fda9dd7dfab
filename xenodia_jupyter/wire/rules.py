"""What the API allows: values, limits, prices and the checks that enforce them.

Pure: no I/O and no heavy imports.  The client runs these checks before it
sends anything (a request that breaks a rule is never billed), the emulator
runs the same checks to answer 400, and the panel uses them to offer only
valid choices.  Model discovery can narrow or widen the allowed values; the
constants here are the documented fallback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..errors import InvalidRequestError

MODEL = "gpt-image-2"
ASPECT_RATIOS: tuple[str, ...] = ("auto", "1:1", "9:16", "16:9", "4:3", "3:4")
RESOLUTIONS: tuple[str, ...] = ("1K", "2K", "4K")
RESPONSE_FORMATS: tuple[str, ...] = ("url",)
MAX_REFERENCES = 16
MAX_REFERENCE_BYTES = 31_457_280  # 30 MiB, per file
ACCEPTED_MIME_TYPES: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp")
PRICE_MICRO_USDC = 70_000  # $0.07 per generation call
MAX_PROMPT_CHARS = 32_000
LONG_SIDE = {"1K": 1024, "2K": 2048, "4K": 3840}


@dataclass(frozen=True)
class PriceTier:
    id: str
    price_micro_usdc: int
    label: str = ""


@dataclass(frozen=True)
class ModelInfo:
    """What model discovery says about gpt-image-2 (or the documented fallback)."""

    id: str = MODEL
    aspect_ratios: tuple[str, ...] = ASPECT_RATIOS
    resolutions: tuple[str, ...] = RESOLUTIONS
    max_references: int = MAX_REFERENCES
    pricing_mode: str = "per_call"
    tiers: tuple[PriceTier, ...] = (PriceTier("default", PRICE_MICRO_USDC, "Per call"),)
    from_discovery: bool = False
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def price_usd(self) -> float:
        """Price of one call at the default tier, in USD."""
        return self.price_micro_usdc_for(None) / 1e6

    def price_micro_usdc_for(self, resolution: str | None) -> int:
        """Price of one call; with `resolution` pricing, the tier that matches."""
        if not self.tiers:
            return PRICE_MICRO_USDC
        if self.pricing_mode == "resolution" and resolution:
            wanted = resolution.lower()
            for tier in self.tiers:
                if wanted in tier.id.lower().split("_"):  # tier ids look like "1k_2k", "4k"
                    return tier.price_micro_usdc
        return self.tiers[0].price_micro_usdc

    def price_usd_for(self, resolution: str | None) -> float:
        return self.price_micro_usdc_for(resolution) / 1e6

    def allowed_resolutions(self, aspect_ratio: str | None) -> tuple[str, ...]:
        return allowed_resolutions(aspect_ratio, self.resolutions)


DEFAULT_MODEL_INFO = ModelInfo()


def allowed_resolutions(aspect_ratio: str | None, resolutions: Sequence[str] = RESOLUTIONS) -> tuple[str, ...]:
    """The resolutions that may go with `aspect_ratio` (the panel offers only these)."""
    if aspect_ratio == "auto":
        return tuple(r for r in resolutions if r == "1K")
    if aspect_ratio == "1:1":
        return tuple(r for r in resolutions if r != "4K")
    return tuple(resolutions)


def combination_problem(aspect_ratio: str | None, resolution: str | None) -> str | None:
    """Why this pair cannot be used together, or None."""
    if aspect_ratio == "auto" and resolution not in (None, "1K"):
        return f"aspect_ratio 'auto' allows only resolution '1K', not {resolution!r}"
    if aspect_ratio == "1:1" and resolution == "4K":
        return "aspect_ratio '1:1' cannot be combined with resolution '4K' (use '1K' or '2K')"
    return None


def check_prompt(prompt: object) -> str:
    if not isinstance(prompt, str):
        raise InvalidRequestError("prompt", f"must be text (str), not {type(prompt).__name__}")
    if not prompt.strip():
        raise InvalidRequestError("prompt", "must not be empty or only white space")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequestError(
            "prompt", f"is {len(prompt):,} characters long; at most {MAX_PROMPT_CHARS:,} are allowed"
        )
    if "\x00" in prompt:
        raise InvalidRequestError("prompt", "must not contain NUL characters")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequestError(
            "prompt", f"has a character that cannot be sent as UTF-8 at position {exc.start} (a lone surrogate)"
        ) from None
    return prompt


def check_seconds(value: object, field: str = "timeout") -> float:
    """A timeout: a finite number of seconds above 0 (0 or less would send, bill, then give up at once)."""
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequestError(field, f"must be a number of seconds, not {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidRequestError(field, f"must be a finite number of seconds above 0, not {value!r}")
    return float(value)


def _check_choice(name: str, value: object, allowed: Sequence[str]) -> None:
    if value is None:
        return
    if not isinstance(value, str) or value not in allowed:
        raise InvalidRequestError(name, f"{value!r} is not allowed; choose one of {', '.join(allowed)}")


def check_parameters(
    *,
    model: object = MODEL,
    aspect_ratio: object = None,
    resolution: object = None,
    response_format: object = "url",
    info: ModelInfo = DEFAULT_MODEL_INFO,
) -> None:
    """Check the scalar fields of a generation request; raise on the first rule broken."""
    if model != MODEL:
        raise InvalidRequestError("model", f"{model!r} is not offered; the only model is {MODEL!r}")
    _check_choice("aspect_ratio", aspect_ratio, info.aspect_ratios)
    _check_choice("resolution", resolution, info.resolutions)
    _check_choice("response_format", response_format, RESPONSE_FORMATS)
    problem = combination_problem(aspect_ratio, resolution)  # type: ignore[arg-type]
    if problem:
        raise InvalidRequestError("resolution", problem)


def check_reference_count(count: int, info: ModelInfo = DEFAULT_MODEL_INFO) -> None:
    limit = min(info.max_references, MAX_REFERENCES) if info.max_references else MAX_REFERENCES
    if count > limit:
        raise InvalidRequestError("references", f"{count} given; at most {limit} are allowed per request")


def check_unknown_options(options: dict[str, object]) -> None:
    if "output_format" in options:
        raise InvalidRequestError(
            "output_format", "is not supported by gpt-image-2; results are always returned as URLs of PNG files"
        )
    if options:
        names = ", ".join(sorted(options))
        raise InvalidRequestError(names.split(", ")[0], f"unknown option(s): {names}")


def sniff_mime(data: bytes) -> str | None:
    """The image type of `data`, judged by its first bytes; None if not an accepted kind."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def describe_bytes(data: bytes) -> str:
    """A short human name for what `data` looks like (for error messages)."""
    head = data[:16]
    for magic, name in (
        (b"GIF8", "a GIF image"),
        (b"BM", "a BMP image"),
        (b"II*\x00", "a TIFF image"),
        (b"MM\x00*", "a TIFF image"),
        (b"%PDF", "a PDF document"),
        (b"<svg", "an SVG image"),
        (b"<?xml", "an XML/SVG document"),
        (b"<!DOCTYPE", "an HTML page"),
        (b"<html", "an HTML page"),
    ):
        if head.startswith(magic):
            return name
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "a HEIC/AVIF image"
    if not data:
        return "empty (0 bytes)"
    return "not a recognisable image"


def check_reference_bytes(data: bytes, name: str) -> str:
    """Size and type rules for one uploaded reference; returns its mime type."""
    size = len(data)
    if size == 0:
        raise InvalidRequestError("references", f"{name} is empty (0 bytes)")
    if size > MAX_REFERENCE_BYTES:
        raise InvalidRequestError(
            "references",
            f"{name} is {size:,} bytes; at most {MAX_REFERENCE_BYTES:,} bytes (30 MiB) are allowed per file",
        )
    mime = sniff_mime(data)
    if mime is None:
        raise InvalidRequestError(
            "references",
            f"{name} is {describe_bytes(data)}; accepted types are {', '.join(ACCEPTED_MIME_TYPES)} "
            "(judged by the bytes, not the file name)",
        )
    return mime


def _shown_url(url: str) -> str:
    """The start of `url` for messages, with any user:password@ masked."""
    return repr(re.sub(r"^([^:/?#]+://)[^/?#]*@", r"\1***@", url)[:80])


def check_reference_url(url: str) -> str:
    """A reference URL must be a plain public http(s) URL without credentials."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidRequestError("references", f"{_shown_url(url)} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidRequestError(
            "references", f"URL scheme {parts.scheme + ':' if parts.scheme else '(none)'} is not allowed; use http or https"
        )
    if parts.username or parts.password:
        raise InvalidRequestError("references", "URLs with credentials (user:password@) are not allowed")
    if not parts.hostname:
        raise InvalidRequestError("references", f"{_shown_url(url)} has no host")
    try:
        parts.port  # noqa: B018 (a port such as ':abc' raises here, before httpx sees it)
    except ValueError:
        raise InvalidRequestError("references", f"{_shown_url(url)} has a port that is not a number") from None
    if any(c.isspace() for c in url):
        raise InvalidRequestError("references", f"{_shown_url(url)} contains white space")
    return url


def image_size(aspect_ratio: str | None, resolution: str | None) -> tuple[int, int]:
    """Pixel size (width, height) for a request, as the emulator renders it."""
    long_side = LONG_SIDE.get(resolution or "1K", 1024)
    if aspect_ratio in (None, "auto", "1:1"):
        return (long_side, long_side)
    w, h = (int(x) for x in aspect_ratio.split(":"))
    if w >= h:
        return (long_side, round(long_side * h / w))
    return (round(long_side * w / h), long_side)
