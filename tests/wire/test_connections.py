"""The network backend under our pool: idle connections are checked from the raw
socket (no AnyIO attribute dict, no getpeername per check), and that check
still sees a server that hung up, so a keep-alive connection the server closed
is replaced, not used."""

from __future__ import annotations

import asyncio

import httpx

from xenodia_jupyter.wire import connections
from xenodia_jupyter.wire.transport import RetryPolicy, Transport

RESPONSE = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


def test_the_transport_pool_uses_the_cheap_readiness_backend() -> None:
    transport = Transport("http://127.0.0.1:9", "key", request_timeout=5.0, policy=RetryPolicy())
    try:
        pool = transport.http._transport._pool  # type: ignore[attr-defined]
        assert isinstance(pool._network_backend, connections.CheapReadiness)
    finally:
        asyncio.run(transport.aclose())


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    accepted = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(RESPONSE)  # keep-alive by HTTP/1.1's default, then hang up anyway
        await writer.drain()
        writer.close()

    async def main() -> list[object]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport = Transport(f"http://127.0.0.1:{port}", "key", request_timeout=5.0, policy=RetryPolicy(max_retries=0))
        got = []
        try:
            for _ in range(3):
                got.append(await transport.get_json(f"http://127.0.0.1:{port}/v1/tasks/t"))
                await asyncio.sleep(0.05)  # the server's close reaches our idle socket
        finally:
            await transport.aclose()
            server.close()
            await server.wait_closed()
        return got

    assert asyncio.run(main()) == [{"ok": True}] * 3
    assert accepted == 3  # each request found the old connection closed and opened a new one


def test_an_idle_open_connection_is_not_readable_and_a_closed_one_is() -> None:
    async def main() -> tuple[bool, bool]:
        closed = asyncio.Event()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await closed.wait()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        backend = connections.CheapReadiness(httpx.AsyncHTTPTransport()._pool._network_backend)  # type: ignore[attr-defined]
        stream = await backend.connect_tcp("127.0.0.1", port, timeout=5.0)
        try:
            idle = stream.get_extra_info("is_readable")
            closed.set()
            await asyncio.sleep(0.05)
            return idle, stream.get_extra_info("is_readable")
        finally:
            await stream.aclose()
            server.close()
            await server.wait_closed()

    assert asyncio.run(main()) == (False, True)
