"""How a request travels: the base URL, the key, the httpx client, and the one
retry policy every request goes through.

Generation is billed per call, so the policy is one predicate, `should_retry`:
a request that is safe to repeat (a GET) is repeated after a dropped
connection, a garbled body, a 429 or a 5xx; a generation POST is repeated
only when it provably never left (the connection could not be made) or when
the server refused it with 429/503 and `Retry-After`.  `retry_delay` honours
the server's `Retry-After`, backs off otherwise, and never waits past the
caller's deadline: a wait that would end after it ends the call now.

Bodies are read with a cap (a hostile or broken server cannot fill memory),
and the key lives only in `BearerAuth`, which sends it to the base URL's
origin and nowhere else and never shows it in a repr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from ..errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    ConflictError,
    RateLimitError,
    XenodiaError,
    redact,
)
from . import connections, protocol
from .pace import RateLimiter

log = logging.getLogger("xenodia_jupyter")

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.xenodia.xyz"
MAX_JSON_BYTES = 1 << 20  # a task envelope or the model catalogue is a few KB
MAX_ERROR_BYTES = 64 << 10
MAX_RETRY_AFTER_S = 60.0
# Connections kept to each origin, and HTTP exchanges in progress at once.  A
# batch of many items holds far more tasks than exchanges (most of them wait
# for their next poll), and httpcore's pool looks at every waiting request and
# every connection each time one starts or ends: a queue inside the pool costs
# CPU per exchange that grows with its length.  So the exchanges wait their turn
# here instead (in `Transport.exchange`, a plain semaphore), the pool never
# queues, and its connections stay open (keep-alive as large as the pool), so
# none is closed and opened again between exchanges.
MAX_EXCHANGES = 32
# An idle connection is closed after this long, well before the servers' own
# keep-alive timeouts (5 s for uvicorn and Node, 60-75 s behind most proxies):
# a connection the server closes at the moment a request goes out on it fails
# with a ReadError, and for a generation POST that means "may have been
# billed, not repeated" (a batch at concurrency 200 hit this once in 10,000
# items with httpx's 5 s, the same as uvicorn's).
KEEPALIVE_EXPIRY_S = 2.0


class BearerAuth(httpx.Auth):
    """Adds the key to requests for the base URL's origin only."""

    def __init__(self, api_key: str, base_url: str) -> None:
        self._header = f"Bearer {api_key}"
        self._base_url = base_url

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if protocol.same_origin(str(request.url), self._base_url):
            request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "<BearerAuth ***>"


# The retry policy -------------------------------------------------------------------


class Refused(Exception):
    """An error status, with the server's `Retry-After` (internal: becomes `.error`)."""

    def __init__(self, error: APIError, retry_after: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


Failure = Exception  # httpx.TransportError, APIResponseError (a garbled body) or Refused


@dataclass
class RetryPolicy:
    max_retries: int = 4
    max_retry_after_s: float = MAX_RETRY_AFTER_S

    def should_retry(self, failure: Failure, *, idempotent: bool) -> bool:
        """May this request be sent again after `failure`?  (Not counting attempts.)"""
        if isinstance(failure, Refused):
            status = failure.error.status_code
            if idempotent:
                return status == 429 or status >= 500
            return status in (429, 503) and failure.retry_after is not None
        if isinstance(failure, (httpx.ConnectError, httpx.ConnectTimeout)):
            return True  # nothing was sent
        return idempotent  # the request may have arrived: only a safe one goes again

    def retry_delay(self, attempt: int, failure: Failure, deadline: float | None) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up now."""
        hint = failure.retry_after if isinstance(failure, Refused) else None
        delay = min(hint, self.max_retry_after_s) if hint is not None else backoff(attempt)
        if deadline is None:
            return delay
        left = deadline - time.monotonic()
        if left <= 0 or (hint is not None and hint > left):
            return None  # the server asks us to come back after the caller's deadline
        return min(delay, left)

    def decide(self, attempt: int, failure: Failure, *, idempotent: bool, deadline: float | None, what: str) -> float | None:
        """The decision for one failed attempt, logged: seconds to wait, or None to stop."""
        delay = None
        if attempt < self.max_retries and self.should_retry(failure, idempotent=idempotent):
            delay = self.retry_delay(attempt, failure, deadline)
        log.debug("%s attempt %d failed (%s): %s", what, attempt + 1, _name(failure),
                  "giving up" if delay is None else f"retrying in {delay:.2f}s")
        return delay


def backoff(attempt: int) -> float:
    """0.25 s, 0.5 s, 1 s ... up to 8 s, with jitter so that a batch does not retry in step."""
    return min(0.25 * 2**attempt, 8.0) * (0.5 + random.random() / 2)


# The transport ----------------------------------------------------------------------


class Transport:
    """The only place that does HTTP."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        request_timeout: float,
        policy: RetryPolicy,
        limiter: RateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self.limiter = limiter or RateLimiter()
        self.has_key = bool(api_key)
        self._secret = api_key
        self.policy = policy
        self._traced = transport is None or isinstance(transport, httpx.AsyncHTTPTransport)
        self.max_exchanges = MAX_EXCHANGES
        self._turns: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        limits = httpx.Limits(
            max_connections=MAX_EXCHANGES, max_keepalive_connections=MAX_EXCHANGES, keepalive_expiry=KEEPALIVE_EXPIRY_S
        )
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(request_timeout, connect=10.0),
            transport=transport or connections.http_transport(limits),
            limits=limits,
            headers={"User-Agent": "xenodia-jupyter/0.1"},
            auth=BearerAuth(api_key, base_url) if api_key else None,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    def scrub(self, error: XenodiaError) -> XenodiaError:
        """`error` with the key taken out of its text: anything the server sent
        back (an echoed header, a body) may hold it."""
        secret = self._secret
        if secret and secret in str(error):
            error.args = tuple(redact(a, secret) if isinstance(a, str) else a for a in error.args)
            if isinstance(getattr(error, "message", None), str):
                error.message = redact(error.message, secret)  # type: ignore[attr-defined]
        return error

    @property
    def api_key(self) -> str | None:
        """The key, for a cluster worker's own transport (wrapped in a `Secret`)."""
        return self._secret

    def redact(self, text: str) -> str:
        return redact(text, self._secret)

    def url(self, path: str) -> str:
        return self.base_url + path

    def exchange(self) -> asyncio.Semaphore:
        """The turn of one HTTP exchange (`async with transport.exchange():`
        around the request and the reading of its body): at most
        `MAX_EXCHANGES` at once, so that httpcore's pool never holds a queue.
        Waiting here sends nothing; the caller's deadline ends the wait."""
        loop = asyncio.get_running_loop()
        if self._turns is None or self._turns[0] is not loop:  # one semaphore per event loop that uses it
            self._turns = (loop, asyncio.Semaphore(self.max_exchanges))
        return self._turns[1]

    # Requests ------------------------------------------------------------------------

    async def post_generation(
        self,
        body: protocol.RequestBody,
        *,
        idempotency_key: str | None = None,
        trust_idempotency: bool = False,
        deadline: float | None = None,
    ) -> protocol.Task:
        """The billed POST: sent again only as `RetryPolicy.should_retry` allows.

        It carries `Idempotency-Key` (the same on every resend) and, for a
        multipart body, a boundary derived from that key, so that every send of
        one journal entry is the same bytes.  Only when the caller trusts the
        server to honour the key (`trust_idempotency`) is a POST whose fate is
        unknown sent once more; a 409 for that resend proves the first arrived."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        headers.update(body.content_headers(idempotency_key))
        try:
            return await self._post_once(body, headers, deadline)
        except APIConnectionError as exc:
            if exc.sent is False or not (trust_idempotency and idempotency_key) or (
                isinstance(exc, APIResponseError) and exc.task_id
            ):
                raise
            log.debug("POST generation: fate unknown (%s); resending once with the same Idempotency-Key", exc)
            try:
                return await self._post_once(body, headers, deadline)
            except ConflictError:
                raise APIConnectionError(
                    "the server says this request's Idempotency-Key was used already: the first send arrived "
                    "and may have been billed, but its answer was lost; it was not sent again. "
                    "Resuming the job asks with the same key (no second charge)"
                ) from None

    async def _post_once(
        self, body: protocol.RequestBody, headers: dict[str, str], deadline: float | None
    ) -> protocol.Task:
        # What has happened to this attempt, for a deadline that strikes in the
        # middle: "waiting" (its turn, a connection) and "connecting" never let
        # a byte out; "sending" may have.  Only httpx's own transport reports
        # the moment it starts sending; with any other, assume it may have.
        phase = "waiting"

        async def trace(event: str, info: dict[str, Any]) -> None:
            nonlocal phase
            if event.endswith("send_request_headers.started"):
                phase = "sending"

        async def once() -> protocol.Task:
            nonlocal phase
            phase = "waiting"
            await self.limiter.turn(deadline)
            url = self.url(protocol.GENERATIONS_PATH)
            async with self.exchange():
                phase = "connecting" if self._traced else "sending"
                return await send(url)

        async def send(url: str) -> protocol.Task:
            async with self.http.stream(
                "POST", url, headers=headers, extensions={"trace": trace}, **body.as_httpx_kwargs()
            ) as response:
                status = response.status_code
                if 200 <= status < 300 and status not in (200, 202):
                    content = await _read_capped(response, MAX_JSON_BYTES, "the generation answer")
                    raise APIResponseError(
                        f"the generation request was answered HTTP {status}, which the API does not document; "
                        "it may have been billed, so it was not repeated",
                        task_id=_task_id_in(content),
                    )
                content = await self._read_ok(response, MAX_JSON_BYTES)
            return protocol.parse_generation(status, protocol.decode_json(content, "generation request"))

        def typed(failure: Failure) -> XenodiaError:
            if isinstance(failure, NotSent):
                return APIConnectionError(f"{failure}; nothing was sent", sent=False)
            if isinstance(failure, (httpx.ConnectError, httpx.ConnectTimeout)):
                return APIConnectionError(
                    f"could not reach {protocol.public_url(self.base_url)} ({_name(failure)}); nothing was sent", sent=False
                )
            if isinstance(failure, httpx.TransportError):
                return APIConnectionError(
                    f"the connection failed after the generation request was sent ({_name(failure)}); "
                    "it may have been accepted and billed, so it was not repeated. "
                    "Run xj.recover() later, or look at xj.history()"
                )
            return _as_error(failure)

        return await self._with_retries(
            once, typed, idempotent=False, deadline=deadline, what="POST generation", left=lambda: phase == "sending"
        )

    async def get_json(
        self,
        url: str,
        *,
        auth: bool = True,
        task_id: str | None = None,
        retries: int | None = None,
        deadline: float | None = None,
    ) -> Any:
        """A GET that is safe to repeat (a poll; the public model catalogue with `auth=False`)."""
        options: dict[str, Any] = {} if auth else {"auth": None}

        async def once() -> Any:
            await self.limiter.paused()
            async with self.exchange(), self.http.stream("GET", url, **options) as response:
                content = await self._read_ok(response, MAX_JSON_BYTES, task_id=task_id)
            return protocol.decode_json(content, f"GET {_path(url)}")

        def typed(failure: Failure) -> XenodiaError:
            if isinstance(failure, httpx.TransportError):
                return APIConnectionError(f"GET {_path(url)} failed: {_name(failure)}", task_id=task_id)
            error = _as_error(failure)
            if isinstance(error, APIConnectionError) and error.task_id is None:
                error.task_id = task_id
            return error

        policy = self.policy if retries is None else RetryPolicy(retries, self.policy.max_retry_after_s)
        return await self._with_retries(once, typed, idempotent=True, deadline=deadline, what=f"GET {_path(url)}", policy=policy)

    async def download(self, url: str, *, limit: int, deadline: float | None = None) -> bytes:
        """A result or reference file: streamed, size-capped, retried; the key is
        never sent (the CDN is another origin, and redirects may go anywhere)."""

        async def once() -> bytes:
            async with self.exchange(), self.http.stream("GET", url, follow_redirects=True, auth=None) as response:
                declared = response.headers.get("content-length")
                if response.status_code == 200 and declared and declared.isdigit() and int(declared) > limit:
                    raise APIResponseError(f"{url} is {int(declared):,} bytes, more than the {limit:,}-byte cap")
                return await self._read_ok(response, limit, what=url)

        def typed(failure: Failure) -> XenodiaError:
            if isinstance(failure, httpx.TransportError):
                return APIConnectionError(f"downloading {url} failed: {_name(failure)}")
            return _as_error(failure)

        return await self._with_retries(once, typed, idempotent=True, deadline=deadline, what=f"download {url}")

    async def peek(self, url: str, *, nbytes: int = 1024) -> tuple[bytes, int | None]:
        """The first bytes of a file and its size when the server says it (a
        ranged GET, read no further; never with the key)."""

        async def once() -> tuple[bytes, int | None]:
            headers = {"Range": f"bytes=0-{nbytes - 1}"}
            async with self.exchange(), \
                    self.http.stream("GET", url, headers=headers, follow_redirects=True, auth=None) as response:
                if response.status_code not in (200, 206):
                    await self._read_ok(response, 0)  # raises the typed error
                head = b""
                async for chunk in response.aiter_bytes(nbytes):
                    head += chunk
                    if len(head) >= nbytes:
                        break
                return head[:nbytes], _total_size(response)

        def typed(failure: Failure) -> XenodiaError:
            if isinstance(failure, httpx.TransportError):
                return APIConnectionError(_name(failure))
            return _as_error(failure)

        policy = RetryPolicy(1, self.policy.max_retry_after_s)
        return await self._with_retries(once, typed, idempotent=True, deadline=None, what=f"peek {url}", policy=policy)

    # The loop every request goes through ------------------------------------------------

    async def _with_retries(
        self,
        once: Callable[[], Awaitable[T]],
        typed: Callable[[Failure], XenodiaError],
        *,
        idempotent: bool,
        deadline: float | None,
        what: str,
        policy: RetryPolicy | None = None,
        left: Callable[[], bool] | None = None,
    ) -> T:
        policy = policy or self.policy
        attempt = 0
        while True:
            try:
                return await _before(deadline, once(), left)
            except (httpx.TransportError, APIResponseError, Refused) as exc:
                failure: Failure = exc
            delay = policy.decide(attempt, failure, idempotent=idempotent, deadline=deadline, what=what)
            if delay is None:
                raise self.scrub(typed(failure)) from None
            await asyncio.sleep(delay)
            attempt += 1

    async def _read_ok(
        self, response: httpx.Response, limit: int, *, task_id: str | None = None, what: str | None = None
    ) -> bytes:
        """The body of a 200/202 answer (at most `limit` bytes); any other status
        raises `Refused` with the typed error, read from at most 64 KiB of body."""
        if response.status_code in (200, 202):
            return await _read_capped(response, limit, what or f"{response.request.method} {_path(str(response.url))}")
        content = await _read_capped(response, MAX_ERROR_BYTES, "", truncate=True)
        error = protocol.error_from_response(
            response.status_code, response.headers, content, task_id=task_id, secret=self._secret
        )
        retry_after = error.retry_after if isinstance(error, RateLimitError) else None
        if retry_after is None:
            retry_after = protocol.parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None and response.status_code in (429, 503) and self._same_origin(response):
            self.limiter.pause(min(retry_after, self.policy.max_retry_after_s))
        raise Refused(error, retry_after)

    def _same_origin(self, response: httpx.Response) -> bool:
        return protocol.same_origin(str(response.url), self.base_url)


def _task_id_in(content: bytes) -> str | None:
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    task_id = body.get("task_id") if isinstance(body, dict) else None
    return task_id if isinstance(task_id, str) and task_id.strip() else None


def _total_size(response: httpx.Response) -> int | None:
    ranged = response.headers.get("content-range", "")  # "bytes 0-1023/52341"
    total = ranged.rpartition("/")[2] if response.status_code == 206 else response.headers.get("content-length", "")
    return int(total) if total.isdigit() else None


async def _read_capped(response: httpx.Response, limit: int, what: str, *, truncate: bool = False) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes(64 << 10):
        size += len(chunk)
        if size > limit:
            if truncate:
                chunks.append(chunk[: max(0, limit - (size - len(chunk)))])
                break
            raise APIResponseError(f"{what} is more than the {limit:,}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


class NotSent(httpx.TimeoutException):
    """The caller's deadline passed before a byte of the request left."""


async def _before(deadline: float | None, awaitable: Awaitable[T], left: Callable[[], bool] | None = None) -> T:
    """`awaitable`, ended by the caller's deadline (each read is also bounded by
    the request timeout).  `left()` says whether the request may have left yet."""
    if deadline is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, max(0.0, deadline - time.monotonic()))
    except asyncio.TimeoutError:
        if left is not None and not left():
            raise NotSent("the caller's deadline passed before the request was sent") from None
        raise httpx.ReadTimeout("the caller's deadline passed during the request") from None


def _as_error(failure: Failure) -> XenodiaError:
    if isinstance(failure, Refused):
        return failure.error
    if isinstance(failure, XenodiaError):
        return failure
    return APIConnectionError(_name(failure))


def _name(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _path(url: str) -> str:
    return httpx.URL(url).path
