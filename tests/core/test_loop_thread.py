"""The loop thread under every blocking call: results, errors, progress ticks,
interrupts that let the coroutine journal first, and closing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from xenodia_jupyter.core import loop_thread as loop_thread_module
from xenodia_jupyter.core.loop_thread import LoopThread


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread(name="test-loop")
    yield lt
    lt.close()


def test_run_returns_the_result_computed_on_the_loop_thread(loop_thread: LoopThread) -> None:
    async def where() -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    assert loop_thread.run(where()) == "test-loop"


def test_an_error_of_the_coroutine_is_raised_as_it_is(loop_thread: LoopThread) -> None:
    class Late(TimeoutError):  # a TimeoutError must not be mistaken for a wait slice running out
        pass

    async def fail() -> None:
        await asyncio.sleep(0.15)
        raise Late("the caller's deadline")

    with pytest.raises(Late, match="deadline"):
        loop_thread.run(fail())


def test_the_waiting_thread_ticks_while_it_waits(loop_thread: LoopThread) -> None:
    ticks: list[str] = []

    async def slow() -> int:
        await asyncio.sleep(0.45)
        return 7

    assert loop_thread.run(slow(), on_tick=lambda: ticks.append(threading.current_thread().name)) == 7
    assert len(ticks) >= 2
    assert set(ticks) == {threading.current_thread().name}


@pytest.mark.timeout(60)
def test_an_interrupt_cancels_the_job_and_waits_for_its_cleanup(
    loop_thread: LoopThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal: list[str] = []

    async def generation() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)  # journaling takes a moment
            journal.append("journaled")
            raise

    def interrupt() -> None:
        raise KeyboardInterrupt

    # A wait that missed the job's end would now hang until the test's timeout.
    monkeypatch.setattr(loop_thread_module, "SETTLE_S", 600.0)
    with pytest.raises(KeyboardInterrupt):
        loop_thread.run(generation(), on_tick=interrupt)
    assert journal == ["journaled"], "run() returned before the coroutine had journaled"
    assert loop_thread.pending() == []


def test_a_job_cancelled_before_it_starts_never_runs(loop_thread: LoopThread) -> None:
    ran: list[int] = []

    async def never() -> None:
        ran.append(1)

    loop = loop_thread.loop()
    gate = threading.Event()
    loop.call_soon_threadsafe(gate.wait)  # hold the loop until the job is cancelled
    job = loop_thread.submit(never())
    job.cancel()
    gate.set()
    assert job.wait(5)
    assert job.cancelled() and ran == []


def test_close_cancels_what_runs_and_stops_the_thread() -> None:
    lt = LoopThread(name="test-close")
    ended: list[str] = []

    started = threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            ended.append("cleaned up")

    job = lt.submit(forever())
    assert started.wait(10)
    thread = lt.thread
    assert thread is not None and thread.is_alive()
    lt.close()
    assert job.cancelled() and ended == ["cleaned up"]
    assert not thread.is_alive()
    assert lt.run(asyncio.sleep(0, result="again")) == "again"  # starts afresh on next use
    lt.close()


def test_run_from_its_own_loop_thread_is_refused(loop_thread: LoopThread) -> None:
    async def nested() -> None:
        inner = asyncio.sleep(0)
        try:
            loop_thread.run(inner)
        finally:
            inner.close()

    with pytest.raises(RuntimeError, match="own loop thread"):
        loop_thread.run(nested())
