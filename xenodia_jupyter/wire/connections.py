"""The connections under httpx: its own transport and pool, with one cost taken out.

Each time an exchange starts or ends, httpcore's pool asks every idle
connection whether the server has closed it (`get_extra_info("is_readable")`).
On asyncio that goes through AnyIO's socket attributes, which rebuild a dict
of attributes and call `getpeername()` on every question: a fifth of a large
batch's CPU.  `CheapReadiness` answers from the raw socket it looked up once;
everything else is AnyIO's, unchanged.
"""

from __future__ import annotations

import logging
import socket
import ssl
from typing import Any

import httpcore
import httpx

log = logging.getLogger("xenodia_jupyter")


def is_socket_readable(sock: socket.socket | None) -> bool:
    """httpcore's own test (`httpcore._utils.is_socket_readable`): a closed or
    readable idle socket means the server has hung up."""
    from httpcore._utils import is_socket_readable as readable

    return bool(readable(sock))


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return is_socket_readable(self._socket)
        return self._inner.get_extra_info(info)


class CheapReadiness(httpcore.AsyncNetworkBackend):
    """A network backend that wraps another's streams (see the module's text)."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_tcp(*args, **kwargs))

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(*args, **kwargs))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def http_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's own transport with `limits`, its pool's network backend wrapped
    in `CheapReadiness`.  httpx has no public way to pass a backend, so this
    sets the pool's; if a later httpx or httpcore lays it out differently the
    transport is returned as it is (correct, only slower;
    tests/wire/test_connections.py says so)."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and isinstance(backend, httpcore.AsyncNetworkBackend):
        pool._network_backend = CheapReadiness(backend)
    else:
        log.debug("httpx's pool is not laid out as expected: its network backend is not wrapped")
    return transport
