"""`Emulator`: both origins served by uvicorn on loopback, from one background thread.

    with Emulator(mode="task", latency=0.2) as emu:
        client = xj.Client(api_key=emu.api_key, base_url=emu.base_url)
        ...
        emu.stats.billed_calls

The sockets are bound in the caller's thread (port 0 gives free ports, known
before anything runs); one thread runs an asyncio loop with a `uvicorn.Server`
per origin.  `start()` returns once both accept connections; `stop()` asks
both to exit, joins the thread and the worker threads it used, and the
sockets are closed by then.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

import uvicorn

from .app import create_app, create_cdn_app
from .faults import EmulatedDrop
from .state import EmulatorState, Fault, Mode, PollUrl, RecordedRequest, Stats

__all__ = ["Emulator", "TEST_API_KEY"]

TEST_API_KEY = "emulator-test-key"
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 15.0


class _HideEmulatedDrops(logging.Filter):
    """Keep uvicorn from printing a traceback for every connection we drop on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], EmulatedDrop))


_DROP_FILTER = _HideEmulatedDrops()


class Emulator:
    """A local Xenodia: the API origin and a CDN origin on two loopback ports."""

    def __init__(
        self,
        mode: Mode = "task",
        latency: float = 0.2,
        api_key: str | None = None,
        poll_interval_ms: int | None = None,
        result_ttl: float | None = None,
        poll_url: PollUrl = "relative",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        cdn_port: int = 0,
    ) -> None:
        self.state = EmulatorState(
            mode=mode,
            latency=latency,
            api_key=api_key,
            poll_interval_ms=poll_interval_ms,
            result_ttl=result_ttl,
            poll_url=poll_url,
        )
        self.host = host
        self.port = port
        self.cdn_port = cdn_port
        self._thread: threading.Thread | None = None
        self._servers: list[uvicorn.Server] = []
        self._sockets: list[socket.socket] = []
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    # What tests read ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.state.base_url

    @property
    def cdn_url(self) -> str:
        return self.state.cdn_url

    @property
    def api_key(self) -> str:
        """The key to send: the configured one, or a fixed test key (any key works then)."""
        return self.state.api_key if self.state.api_key is not None else TEST_API_KEY

    @property
    def stats(self) -> Stats:
        return self.state.stats

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.state.requests

    @property
    def last_generation(self) -> dict[str, Any] | None:
        return self.state.last_generation

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # What tests do ---------------------------------------------------------------------

    def inject(
        self,
        route: str,
        kind: str,
        *,
        status: int = 502,
        retry_after: float | str | None = None,
        delay: float = 0.0,
        count: int = 1,
    ) -> None:
        """Misbehave on the next `count` requests to `route` (generate, poll, models, download)."""
        self.state.inject(route, kind, status=status, retry_after=retry_after, delay=delay, count=count)

    def inject_randomly(self, rate: float, faults: list[tuple[str, str, dict[str, Any]]], seed: int = 0) -> None:
        """Each request on a listed route misbehaves with probability `rate`, as one of
        `faults`: (route, kind, options) with the options of `inject`.  Rate 0 stops.
        `state.random_faults` counts the requests spoiled."""
        self.state.inject_randomly(rate, [(route, Fault(kind, **options)) for route, kind, options in faults], seed)

    def next_task(self, outcome: str, count: int = 1, *, error: dict[str, Any] | None = None) -> None:
        """The next `count` tasks end in `outcome`: success, fail, stuck or unknown_state.
        `error` is what a failed task says: `next_task("fail", error={"code":
        "content_policy", "message": "the prompt was refused"})`."""
        self.state.next_task(outcome, count, error=error)

    def reset(self) -> None:
        self.state.reset()

    def expire_results(self) -> None:
        self.state.expire_results()

    # Lifecycle ---------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        self._sockets = [_bind(self.host, self.port)]
        try:
            self._sockets.append(_bind(self.host, self.cdn_port))
        except OSError:
            self._close_sockets()
            raise
        url_host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        api_port, cdn_port = (sock.getsockname()[1] for sock in self._sockets)
        self.state.base_url = f"http://{url_host}:{api_port}"
        self.state.cdn_url = f"http://{url_host}:{cdn_port}"
        self._servers = [_server(create_app(self.state)), _server(create_cdn_app(self.state))]
        uvicorn_log = logging.getLogger("uvicorn.error")
        if _DROP_FILTER not in uvicorn_log.filters:
            uvicorn_log.addFilter(_DROP_FILTER)
        self._ready.clear()
        self._failure = None
        self._thread = threading.Thread(target=self._run, name="xenodia-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT) or self._failure is not None:
            failure = self._failure
            self.stop()
            raise RuntimeError(f"the emulator did not start: {failure!r}") from failure
        return self

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        for server in self._servers:
            server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():  # a handler refused to finish: force it
            for server in self._servers:
                server.force_exit = True
            thread.join(_STOP_TIMEOUT)
        self._close_sockets()

    def _close_sockets(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets = []

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{self.base_url}, cdn {self.cdn_url}" if self.running else "stopped"
        return f"<Emulator {self.state.mode} latency={self.state.latency}s {where}>"

    # The background thread --------------------------------------------------------------------

    def _run(self) -> None:
        loop_box: list[asyncio.AbstractEventLoop] = []
        try:
            asyncio.run(self._serve(loop_box))
        except BaseException as exc:  # reported by start(); the thread must not die noisily
            self._failure = exc
        finally:
            self._ready.set()
            if loop_box:
                _join_worker_threads(loop_box[0])

    async def _serve(self, loop_box: list[asyncio.AbstractEventLoop]) -> None:
        loop_box.append(asyncio.get_running_loop())
        tasks = [
            asyncio.create_task(server.serve(sockets=[sock]))
            for server, sock in zip(self._servers, self._sockets, strict=True)
        ]
        while not all(server.started for server in self._servers):
            if any(task.done() for task in tasks):
                break
            await asyncio.sleep(0.005)
        else:
            self._ready.set()
        try:
            await asyncio.gather(*tasks)
        finally:
            for server in self._servers:
                server.should_exit = True
        if not self._ready.is_set():
            raise RuntimeError("a server stopped during startup")


def _bind(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only then
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _server(app: Any) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_level="warning",
        log_config=None,
        access_log=False,
        lifespan="off",
        http="auto",  # httptools when installed (the emulator extra brings it): 1.7x the polls/s of h11
        ws="none",
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


def _join_worker_threads(loop: asyncio.AbstractEventLoop) -> None:
    """Wait for the worker threads (renders, uploads) that served this loop; they stop with it."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and getattr(thread, "loop", None) is loop:
            thread.join(_STOP_TIMEOUT)
