"""The connections under httpx: its own transport and pool, with one cost taken out.

Each time an exchange starts or ends, httpcore's pool asks every idle
connection whether the server has hung up (`get_extra_info("is_readable")`).
On asyncio that went through AnyIO's socket attributes, which rebuild a dict
and call `getpeername()` on every question, and then a new `select.poll` of
one socket: a system call per connection per exchange, each one handing the
GIL to whichever thread wants it (a fifth of a large batch's CPU).

`CheapReadiness` answers all the questions of one pass over the pool with one
`poll` of every connection it opened, kept registered; the answers are
forgotten as soon as the event loop moves on (a pass is synchronous code, so
nothing the network says can be missed within it).  Everything else is
AnyIO's, unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
import ssl
from typing import Any

import httpcore
import httpx

log = logging.getLogger("xenodia_jupyter")


class _Readiness:
    """One `poll` of every open connection, shared by the questions of one pass."""

    def __init__(self) -> None:
        self._poll = select.poll()
        self._ready: set[int] | None = None

    def watch(self, sock: socket.socket) -> None:
        self._poll.register(sock, select.POLLIN)  # a reused descriptor number is registered anew

    def forget(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._poll.unregister(sock)

    def readable(self, sock: socket.socket | None) -> bool:
        fd = -1 if sock is None else sock.fileno()
        if fd < 0:
            return True  # closed: not usable
        if self._ready is None:
            self._ready = {ready for ready, _ in self._poll.poll(0)}
            asyncio.get_running_loop().call_soon(self._expire)
        return fd in self._ready

    def _expire(self) -> None:
        self._ready = None


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, readiness: _Readiness | None) -> None:
        self._inner = inner
        self._readiness = readiness
        self._socket: socket.socket | None = inner.get_extra_info("socket")
        if readiness is not None and self._socket is not None:
            readiness.watch(self._socket)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        if self._readiness is not None and self._socket is not None:
            self._readiness.forget(self._socket)
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout), self._readiness)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._readiness is not None:
            return self._readiness.readable(self._socket)
        return self._inner.get_extra_info(info)


class CheapReadiness(httpcore.AsyncNetworkBackend):
    """A network backend that wraps another's streams (see the module's text).
    Where the platform has no `select.poll` (Windows), the streams are the
    inner backend's own questions."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner
        self._readiness = _Readiness() if hasattr(select, "poll") else None

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_tcp(*args, **kwargs), self._readiness)

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(*args, **kwargs), self._readiness)

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
