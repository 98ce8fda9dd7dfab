"""The server-side checks of a generation request, from the emulator's own table.

Each check raises `RequestRejected` naming the wire field it concerns; the
handler answers it with a 400 and bills nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from .contract import (
    ACCEPTED_MIME_TYPES,
    ASPECT_RATIOS,
    MAX_PROMPT_CHARS,
    MAX_REFERENCE_BYTES,
    MAX_REFERENCES,
    MODEL,
    RESOLUTIONS,
    RESPONSE_FORMATS,
    SCALAR_FIELDS,
    combination_problem,
    describe_bytes,
    sniff_mime,
)

__all__ = [
    "RequestRejected",
    "check_async",
    "check_known_fields",
    "check_parameters",
    "check_prompt",
    "check_reference_bytes",
    "check_reference_count",
    "check_reference_url",
]


class RequestRejected(ValueError):
    """A generation request breaks a rule: answered 400 with "<field>: <message>"."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_known_fields(fields: Mapping[str, object]) -> None:
    """Refuse `output_format` and any field the endpoint does not know."""
    unknown = sorted(name for name in fields if name not in SCALAR_FIELDS)
    if "output_format" in unknown:
        raise RequestRejected(
            "output_format", "is not supported by gpt-image-2; results are always returned as URLs of PNG files"
        )
    if unknown:
        raise RequestRejected(unknown[0], f"unknown option(s): {', '.join(unknown)}")


def _check_choice(name: str, value: object, allowed: Sequence[str]) -> None:
    if value is None:
        return
    if not isinstance(value, str) or value not in allowed:
        raise RequestRejected(name, f"{value!r} is not allowed; choose one of {', '.join(allowed)}")


def check_parameters(*, model: object, aspect_ratio: object, resolution: object, response_format: object) -> None:
    """The scalar fields, in order: model, aspect_ratio, resolution, response_format, their combination."""
    if model != MODEL:
        raise RequestRejected("model", f"{model!r} is not offered; the only model is {MODEL!r}")
    _check_choice("aspect_ratio", aspect_ratio, ASPECT_RATIOS)
    _check_choice("resolution", resolution, RESOLUTIONS)
    _check_choice("response_format", response_format, RESPONSE_FORMATS)
    problem = combination_problem(aspect_ratio, resolution)  # type: ignore[arg-type]  # both checked above
    if problem:
        raise RequestRejected("resolution", problem)


def check_prompt(prompt: object) -> str:
    if not isinstance(prompt, str):
        raise RequestRejected("prompt", f"must be text (str), not {type(prompt).__name__}")
    if not prompt.strip():
        raise RequestRejected("prompt", "must not be empty or only white space")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise RequestRejected("prompt", f"is {len(prompt):,} characters long; at most {MAX_PROMPT_CHARS:,} are allowed")
    if "\x00" in prompt:
        raise RequestRejected("prompt", "must not contain NUL characters")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RequestRejected(
            "prompt", f"has a character that cannot be sent as UTF-8 at position {exc.start} (a lone surrogate)"
        ) from None
    return prompt


def check_async(value: object) -> bool:
    """The `async` flag: a JSON boolean, or a form value true/1/false/0/(empty)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0", ""):
        return value.strip().lower() in ("true", "1")
    raise RequestRejected("async", f"{value!r} is not a boolean (use true or false)")


def check_reference_count(count: int, field: str) -> None:
    if count > MAX_REFERENCES:
        raise RequestRejected(field, f"{count} given; at most {MAX_REFERENCES} are allowed per request")


def _shown_url(url: str) -> str:
    """The start of `url` for messages, with any user:password@ masked."""
    return repr(re.sub(r"^([^:/?#]+://)[^/?#]*@", r"\1***@", url)[:80])


def check_reference_url(url: str, field: str) -> None:
    """A reference URL must be a plain http(s) URL with a host and no credentials."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise RequestRejected(field, f"{_shown_url(url)} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        shown = parts.scheme + ":" if parts.scheme else "(none)"
        raise RequestRejected(field, f"URL scheme {shown} is not allowed; use http or https")
    if parts.username or parts.password:
        raise RequestRejected(field, "URLs with credentials (user:password@) are not allowed")
    if not parts.hostname:
        raise RequestRejected(field, f"{_shown_url(url)} has no host")
    if any(c.isspace() for c in url):
        raise RequestRejected(field, f"{_shown_url(url)} contains white space")


def check_reference_bytes(data: bytes, name: str, field: str) -> str:
    """Size and type of one reference (judged by its bytes); returns its mime type."""
    size = len(data)
    if size == 0:
        raise RequestRejected(field, f"{name} is empty (0 bytes)")
    if size > MAX_REFERENCE_BYTES:
        raise RequestRejected(
            field, f"{name} is {size:,} bytes; at most {MAX_REFERENCE_BYTES:,} bytes (30 MiB) are allowed per file"
        )
    mime = sniff_mime(data)
    if mime is None:
        raise RequestRejected(
            field,
            f"{name} is {describe_bytes(data)}; accepted types are {', '.join(ACCEPTED_MIME_TYPES)} "
            "(judged by the bytes, not the file name)",
        )
    return mime
