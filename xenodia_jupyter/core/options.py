"""How a client is set up, declared once: `ClientOptions` holds every setting
with its default and checks them all in one place; `AsyncClient`, `Client`
and a cluster partition all carry the same object.

    ClientOptions(timeout=60, max_in_flight=4)        # InvalidRequestError names a bad field

The API key is not an option: it lives only in the transport (and in a
`Secret` on its way to a cluster worker), so no options object can leak it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Any, TypedDict

from ..errors import InvalidRequestError
from ..wire import rules
from ..wire.protocol import public_url
from ..wire.transport import DEFAULT_BASE_URL

DEFAULT_TIMEOUT_S = 600.0  # a whole generation, from the call to the saved file
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024


class ClientSettings(TypedDict, total=False):
    """The keyword arguments `Client(...)` and `AsyncClient(...)` take besides
    `api_key` and `base_url` (for the type checker; `ClientOptions` holds the
    defaults and the rules, and a test keeps the two in step)."""

    output_dir: str | os.PathLike[str] | None
    timeout: float
    max_retries: int
    request_timeout: float
    max_download_bytes: int
    check_urls: bool
    trust_idempotency: bool
    cache: bool
    max_requests_per_minute: float | None
    max_in_flight: int | None


@dataclass(frozen=True)
class ClientOptions:
    """Every setting of a client, checked when made."""

    base_url: str = DEFAULT_BASE_URL
    output_dir: str | os.PathLike[str] | None = None
    timeout: float = DEFAULT_TIMEOUT_S  # seconds for a whole generation, call to saved file
    max_retries: int = 4  # of a request that is safe to repeat
    request_timeout: float = 120.0  # seconds for one HTTP exchange
    max_download_bytes: int = MAX_DOWNLOAD_BYTES
    check_urls: bool = True  # probe URL references before anything is billed
    trust_idempotency: bool = False  # resend a POST of unknown fate with its Idempotency-Key
    cache: bool = False  # return an earlier identical result instead of paying again
    max_requests_per_minute: float | None = None
    max_in_flight: int | None = None  # tasks between their POST and their saved file

    def __post_init__(self) -> None:
        rules.check_seconds(self.timeout)
        rules.check_seconds(self.request_timeout, "request_timeout")
        _whole(self.max_retries, "max_retries", minimum=0)
        _whole(self.max_download_bytes, "max_download_bytes", minimum=1)
        if self.max_in_flight is not None:
            _whole(self.max_in_flight, "max_in_flight", minimum=1, none_ok=True)
        rate = self.max_requests_per_minute
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0):
            raise InvalidRequestError("max_requests_per_minute", f"must be a number above 0, or None, not {rate!r}")
        for name in ("check_urls", "trust_idempotency", "cache"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidRequestError(name, f"must be True or False, not {getattr(self, name)!r}")
        _check_output_dir(self.output_dir)
        if not isinstance(self.base_url, str) or not self.base_url:
            raise InvalidRequestError("base_url", f"must be a URL such as {DEFAULT_BASE_URL!r}, not {self.base_url!r}")
        if not self.base_url.lower().startswith(("http://", "https://")):
            shown = public_url(self.base_url)
            raise InvalidRequestError(
                "base_url", f"{shown!r} needs http:// or https:// in front (such as http://127.0.0.1:8765); nothing was sent"
            )
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @classmethod
    def from_settings(cls, base_url: str | None, settings: dict[str, Any]) -> ClientOptions:
        """The options for `Client(api_key, base_url, **settings)`: the base URL
        from the argument, else `XENODIA_BASE_URL`, else the real API's; an
        unknown keyword is refused by name."""
        known = {f.name for f in fields(cls)} - {"base_url"}
        for name in settings:
            if name not in known:
                raise InvalidRequestError(name, f"is not a client setting; the settings are: {', '.join(sorted(known))}")
        return cls(base_url=base_url or os.environ.get("XENODIA_BASE_URL") or DEFAULT_BASE_URL, **settings)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_output_dir(output_dir: object) -> None:
    if output_dir is None:
        return
    if not isinstance(output_dir, (str, os.PathLike)):
        raise InvalidRequestError("output_dir", f"must be a folder path or an fsspec URL, not {type(output_dir).__name__}")
    text = os.fspath(output_dir)
    if "://" not in str(text) and os.path.isfile(text):
        raise InvalidRequestError("output_dir", f"{text} is a file, not a folder: give a folder for the images and the journal")


def _whole(value: object, field: str, *, minimum: int, none_ok: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        tail = ", or None" if none_ok else ""
        raise InvalidRequestError(field, f"must be a whole number >= {minimum}{tail}, not {value!r}")
