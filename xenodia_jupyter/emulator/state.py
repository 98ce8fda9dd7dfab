"""Everything the emulator remembers: settings, tasks, counters and queued faults.

One `EmulatorState` is shared by the API app and the CDN app.  The apps run
on the server's event loop; tests poke it from their own thread (`inject`,
`next_task`, `reset`, `expire_results`), so the queues sit behind one lock.

An `EmulatedTask`'s state is not stored: it is computed from the time elapsed
since it was created, as a fraction of `latency` (see `EmulatedTask.phase`),
so a poll costs a dictionary lookup and a little arithmetic.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = [
    "EmulatorState",
    "Fault",
    "Phase",
    "RecordedRequest",
    "Stats",
    "EmulatedTask",
    "FAULT_KINDS",
    "FAULT_ROUTES",
    "OUTCOMES",
    "new_request_id",
    "state_of",
]

# task: always 202 (current docs); sync: 200 unless `async` is true (older docs);
# sync-only: a server from before the `async` flag, which always answers 200.
Mode = Literal["task", "sync", "sync-only"]
PollUrl = Literal["relative", "absolute", "foreign"]
FAULT_ROUTES = ("generate", "poll", "models", "download")
FAULT_KINDS = ("status", "nested", "html", "empty", "malformed", "truncated", "drop", "delay")
OUTCOMES = ("success", "fail", "stuck", "unknown_state")
NEVER_FINISHING = ("stuck", "unknown_state")
IN_PROGRESS = ("waiting", "queuing", "generating")
UNKNOWN_STATE = "paused"  # neither in progress nor terminal
RENDER_CACHE = 64  # rendered PNGs kept in memory (a 4K one is ~0.5 MB)
MIN_POLL_INTERVAL_MS = 20


@dataclass
class Stats:
    """Live counters; `reset()` zeroes them in place."""

    generate_posts: int = 0  # every POST /v1/images/generations received
    billed_calls: int = 0  # POSTs accepted (a task was created and its price reserved)
    polls: int = 0  # every GET /v1/tasks/{id}
    downloads: int = 0  # every GET /files/... on the CDN origin
    model_requests: int = 0  # every GET /v1/models
    reference_downloads: int = 0  # image_input URLs on our own CDN that the emulator fetched
    auth_on_cdn: int = 0  # CDN requests that carried an Authorization header
    max_in_flight: int = 0  # the most tasks unfinished at one moment (a client's real concurrency)
    idempotent_replays: int = 0  # POSTs answered with an earlier task for the same Idempotency-Key (not billed)

    def clear(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, 0)


@dataclass(frozen=True)
class RecordedRequest:
    origin: Literal["api", "cdn"]
    method: str
    path: str
    has_authorization: bool
    at: float = field(default_factory=time.monotonic)  # when it arrived (tests check a client's pace)


@dataclass
class Fault:
    """One injected misbehaviour for the next `count` requests on a route."""

    kind: str
    status: int = 502
    retry_after: float | str | None = None
    delay: float = 0.0
    count: int = 1


@dataclass(frozen=True)
class Phase:
    """Where a task stands at one moment."""

    state: str
    progress: int
    terminal: bool
    updated_offset: float  # seconds after creation of the last change


@dataclass
class EmulatedTask:
    """One accepted generation.  `references` are kept so that an evicted render can be redone."""

    id: str
    request_id: str
    serial: int
    outcome: str
    latency: float
    created_mono: float
    created_unix: float
    prompt: str
    aspect_ratio: str | None
    resolution: str | None
    snapshot: dict[str, Any]
    references: list[bytes] = field(default_factory=list, repr=False)
    render: asyncio.Future[bytes] | None = field(default=None, repr=False)
    error: dict[str, Any] | None = None  # what a "fail" task says (default: a generic upstream error)
    evicted: bool = False  # its render was let go (RENDER_CACHE): rendered again only when asked for

    def elapsed(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.created_mono

    def phase(self, elapsed: float) -> Phase:
        """The state after `elapsed` seconds: waiting < 0.1, queuing < 0.3, generating < 1 (x latency)."""
        f = elapsed / self.latency if self.latency > 0 else (math.inf if elapsed > 0 else 0.0)
        if self.outcome == "unknown_state" and elapsed > 0:
            return Phase(UNKNOWN_STATE, 0, False, 0.0)
        if f < 0.1:
            return Phase("waiting", 0, False, 0.0)
        if f < 0.3:
            return Phase("queuing", 0, False, 0.1 * self.latency)
        if f < 1 or self.outcome == "stuck":
            progress = max(1, min(99, 1 + int((min(f, 1.0) - 0.3) / 0.7 * 98)))
            return Phase("generating", progress, False, min(elapsed, self.latency))
        if self.outcome == "fail":
            return Phase("fail", 100, True, self.latency)
        return Phase("success", 100, True, self.latency)

    @property
    def completed_mono(self) -> float:
        return self.created_mono + self.latency


class EmulatorState:
    """Settings, tasks, counters and fault queues of one emulator."""

    def __init__(
        self,
        *,
        mode: Mode = "task",
        latency: float = 0.2,
        api_key: str | None = None,
        poll_interval_ms: int | None = None,
        result_ttl: float | None = None,
        poll_url: PollUrl = "relative",
        base_url: str = "http://api.emulator.test",
        cdn_url: str = "http://cdn.emulator.test",
    ) -> None:
        if mode not in ("task", "sync", "sync-only"):
            raise ValueError(f"mode must be 'task', 'sync' or 'sync-only', not {mode!r}")
        if poll_url not in ("relative", "absolute", "foreign"):
            raise ValueError(f"poll_url must be 'relative', 'absolute' or 'foreign', not {poll_url!r}")
        if latency < 0:
            raise ValueError("latency must be >= 0")
        self.mode: Mode = mode
        self.latency = float(latency)
        self.api_key = api_key
        self.poll_interval_ms = poll_interval_ms
        self.result_ttl = result_ttl
        self.poll_url: PollUrl = poll_url
        self.base_url = base_url
        self.cdn_url = cdn_url
        self.tasks: dict[str, EmulatedTask] = {}
        self.stats = Stats()
        self.requests: list[RecordedRequest] = []
        self.last_generation: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._faults: dict[str, deque[Fault]] = {route: deque() for route in FAULT_ROUTES}
        self._chaos: tuple[float, list[tuple[str, Fault]], Any] | None = None
        self.random_faults = 0  # how many requests inject_randomly() spoiled
        self._outcomes: deque[str] = deque()
        self._errors: deque[dict[str, Any] | None] = deque()  # a queued failure's own error body
        self._serial = 0
        self._expired_upto = 0  # results of tasks with serial <= this answer 404
        self._rendered: OrderedDict[str, None] = OrderedDict()  # rendered tasks, oldest first
        self._finishing: list[float] = []  # heap: when each unfinished task finishes
        self._never_finishing = 0  # stuck and unknown_state tasks
        self.idempotency: dict[str, tuple[str, str]] = {}  # key -> (request fingerprint, task id)
        # What makes a resend with the same Idempotency-Key "the same request": its
        # content ("request": fields and file bytes), or its raw body ("bytes"), as
        # a stricter server may compare it.
        self.idempotency_compares: Literal["request", "bytes"] = "request"

    # Settings derived for envelopes ----------------------------------------

    @property
    def recommended_poll_interval_ms(self) -> int:
        """The usual interval: a tenth of the latency, within 20 ms .. 2 s (or the fixed setting)."""
        if self.poll_interval_ms is not None:
            return self.poll_interval_ms
        return max(MIN_POLL_INTERVAL_MS, min(2000, int(self.latency * 1000 / 10)))

    def poll_interval_ms_for(self, task: EmulatedTask, elapsed: float) -> int:
        """The interval one answer recommends.  Like a server that knows its ETA,
        it asks for the next poll when the task should be done if that comes
        before the usual interval (never below 20 ms), so that a client that
        follows the advice sees the result within 20 ms of it being ready."""
        usual = self.recommended_poll_interval_ms
        if self.poll_interval_ms is not None or task.outcome in NEVER_FINISHING:
            return usual
        left_ms = math.ceil(round((task.latency - elapsed) * 1000, 6))  # 50.000000000000044 is 50
        return max(MIN_POLL_INTERVAL_MS, min(usual, left_ms))

    # Tasks -------------------------------------------------------------------

    def create_task(
        self,
        *,
        prompt: str,
        aspect_ratio: str | None,
        resolution: str | None,
        snapshot: dict[str, Any],
        references: list[bytes],
    ) -> EmulatedTask:
        """A new task, billed: its outcome is the next queued one (default success)."""
        now = time.monotonic()
        with self._lock:
            outcome = self._outcomes.popleft() if self._outcomes else "success"
            error = self._errors.popleft() if self._errors else None
            self._serial += 1
            serial = self._serial
            self.stats.billed_calls += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self._count_in_flight(now, outcome))
        task = EmulatedTask(
            id=f"task_{secrets.token_hex(12)}",
            request_id=new_request_id(),
            serial=serial,
            outcome=outcome,
            error=error,
            latency=self.latency,
            created_mono=now,
            created_unix=time.time(),
            prompt=prompt,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            snapshot=snapshot,
            references=references,
        )
        self.tasks[task.id] = task
        return task

    def replay(self, key: str, fingerprint: str) -> EmulatedTask | str | None:
        """What an earlier POST with this Idempotency-Key became: its task when
        the request is the same, "conflict" when it is not, None when the key is new."""
        with self._lock:
            known = self.idempotency.get(key)
            if known is None:
                return None
            if known[0] != fingerprint:
                return "conflict"
            self.stats.idempotent_replays += 1
            return self.tasks[known[1]]

    def remember(self, key: str, fingerprint: str, task: EmulatedTask) -> None:
        with self._lock:
            self.idempotency[key] = (fingerprint, task.id)

    def _count_in_flight(self, now: float, outcome: str) -> int:
        """Unfinished tasks, counting one more that starts `now` (call with the lock held)."""
        while self._finishing and self._finishing[0] <= now:
            heapq.heappop(self._finishing)
        if outcome in NEVER_FINISHING:
            self._never_finishing += 1
        else:
            heapq.heappush(self._finishing, now + self.latency)
        return len(self._finishing) + self._never_finishing

    def result_available(self, task: EmulatedTask, now: float | None = None) -> bool:
        """True while the task's result file may be downloaded (succeeded and not expired)."""
        now = time.monotonic() if now is None else now
        if task.serial <= self._expired_upto or task.phase(task.elapsed(now)).state != "success":
            return False
        return self.result_ttl is None or now < task.completed_mono + self.result_ttl

    def keep_render(self, task: EmulatedTask) -> None:
        """Note a rendered task; beyond `RENDER_CACHE` of them the oldest is forgotten (re-rendered on demand)."""
        self._rendered[task.id] = None
        self._rendered.move_to_end(task.id)
        while len(self._rendered) > RENDER_CACHE:
            oldest, _ = self._rendered.popitem(last=False)
            if oldest in self.tasks:
                self.tasks[oldest].render = None
                self.tasks[oldest].evicted = True

    def expire_results(self) -> None:
        """Every result URL issued so far answers 404 from now on."""
        with self._lock:
            self._expired_upto = self._serial

    # Faults and outcomes ----------------------------------------------------------

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
        if route not in FAULT_ROUTES:
            raise ValueError(f"route must be one of {', '.join(FAULT_ROUTES)}, not {route!r}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}, not {kind!r}")
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._faults[route].append(Fault(kind, status, retry_after, delay, count))

    def inject_randomly(self, rate: float, faults: list[tuple[str, Fault]], seed: int = 0) -> None:
        """From now on, each request on a listed route misbehaves with probability
        `rate`, drawing one of `faults` (route, fault) for that route; rate 0 stops."""
        import random

        for route, fault in faults:
            if route not in FAULT_ROUTES or fault.kind not in FAULT_KINDS:
                raise ValueError(f"unknown route or fault kind: {route!r}, {fault.kind!r}")
        with self._lock:
            self._chaos = (rate, faults, random.Random(seed)) if rate > 0 else None

    def _random_fault(self, route: str) -> Fault | None:
        chaos = self._chaos
        if chaos is None:
            return None
        rate, faults, rng = chaos
        with self._lock:
            candidates = [f for r, f in faults if r == route]
            if not candidates or rng.random() >= rate:
                return None
            self.random_faults += 1
            return dataclasses.replace(rng.choice(candidates), count=1)

    def take_fault(self, route: str) -> Fault | None:
        """The fault that applies to this request on `route`, if one is queued."""
        queue = self._faults[route]
        if not queue:  # the cheap common case, without the lock
            return self._random_fault(route)
        with self._lock:
            if not queue:
                return None
            fault = queue[0]
            fault.count -= 1
            if fault.count <= 0:
                queue.popleft()
            return fault

    def next_task(self, outcome: str, count: int = 1, *, error: dict[str, Any] | None = None) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        if error is not None and outcome != "fail":
            raise ValueError("error= goes with outcome 'fail'")
        with self._lock:
            self._outcomes.extend([outcome] * count)
            self._errors.extend([error] * count)

    def reset(self) -> None:
        """Forget faults, queued outcomes, counters, recorded requests and the last generation.

        Tasks stay (they can still be polled), but `max_in_flight` counts only tasks created after.
        """
        with self._lock:
            self._finishing.clear()
            self._never_finishing = 0
            for queue in self._faults.values():
                queue.clear()
            self._chaos = None
            self.random_faults = 0
            self._outcomes.clear()
            self._errors.clear()
            self.stats.clear()
            self.requests.clear()
            self.last_generation = None

    def record(self, request: RecordedRequest) -> None:
        self.requests.append(request)
        if request.origin == "cdn" and request.has_authorization:
            self.stats.auth_on_cdn += 1


def new_request_id() -> str:
    return f"req_{secrets.token_hex(8)}"


def state_of(request: Request) -> EmulatorState:
    """The state shared by the app that received `request`."""
    return cast(EmulatorState, request.app.state.emulator)
