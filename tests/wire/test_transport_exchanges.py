"""The transport's cap on HTTP exchanges at once: a batch's many tasks never
queue inside httpcore's pool (whose bookkeeping grows with the queue), and a
POST still waiting for its turn when the caller's deadline passes was never
sent."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from xenodia_jupyter.errors import APIConnectionError
from xenodia_jupyter.wire import protocol
from xenodia_jupyter.wire.transport import MAX_EXCHANGES, RetryPolicy, Transport

BASE = "http://api.test"


def make(handler: httpx.AsyncBaseTransport, cap: int) -> Transport:
    transport = Transport(BASE, "key", request_timeout=5.0, policy=RetryPolicy(), transport=handler)
    transport.max_exchanges = cap
    return transport


def test_no_more_exchanges_at_once_than_the_cap() -> None:
    now = 0
    most = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal now, most
        now += 1
        most = max(most, now)
        await asyncio.sleep(0.01)
        now -= 1
        return httpx.Response(200, json={"ok": True})

    async def main() -> list[object]:
        transport = make(httpx.MockTransport(handler), 3)
        try:
            return list(await asyncio.gather(*(transport.get_json(f"{BASE}/v1/tasks/{i}") for i in range(20))))
        finally:
            await transport.aclose()

    assert asyncio.run(main()) == [{"ok": True}] * 20
    assert most == 3


def test_the_pool_is_as_large_as_the_cap_and_keeps_every_connection() -> None:
    transport = Transport(BASE, "key", request_timeout=5.0, policy=RetryPolicy())
    pool = transport.http._transport._pool  # type: ignore[attr-defined]
    assert pool._max_connections == pool._max_keepalive_connections == MAX_EXCHANGES == transport.max_exchanges
    asyncio.run(transport.aclose())


def test_a_post_still_waiting_for_its_turn_at_the_deadline_was_never_sent() -> None:
    seen: list[str] = []
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        await release.wait()
        return httpx.Response(200, json={"ok": True})

    async def main() -> None:
        transport = make(httpx.MockTransport(handler), 1)
        try:
            poll = asyncio.ensure_future(transport.get_json(f"{BASE}/v1/tasks/t"))  # holds the only turn
            await asyncio.sleep(0.05)
            body = protocol.build_generation_body("a lighthouse", aspect_ratio=None, resolution=None)
            with pytest.raises(APIConnectionError) as caught:
                await transport.post_generation(body, deadline=time.monotonic() + 0.2)
            assert caught.value.sent is False
            release.set()
            assert await poll == {"ok": True}
        finally:
            await transport.aclose()

    asyncio.run(main())
    assert seen == ["GET"], "the POST went out although it never had a turn"


def test_each_event_loop_gets_its_own_turns() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"ok": True})

    transport = make(httpx.MockTransport(handler), 1)

    async def once() -> object:
        return await transport.get_json(f"{BASE}/v1/tasks/t")

    assert asyncio.run(once()) == {"ok": True}
    assert asyncio.run(once()) == {"ok": True}  # a semaphore of a closed loop is not reused
