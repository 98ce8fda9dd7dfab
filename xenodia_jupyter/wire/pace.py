"""One pace for everything a client sends.

`max_requests_per_minute` spaces generation POSTs evenly (a token bucket that
holds one token), whichever call sends them: the magic, the panel, a batch
or a job.  A 429 or 503 with `Retry-After` pauses every pending POST of the
client until then, and polls wait it out too, instead of each request
discovering the limit alone.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..errors import InvalidRequestError, RateLimitError

log = logging.getLogger("xenodia_jupyter")


class RateLimiter:
    def __init__(self, max_requests_per_minute: float | None = None) -> None:
        if max_requests_per_minute is not None and (
            isinstance(max_requests_per_minute, bool)
            or not isinstance(max_requests_per_minute, (int, float))
            or not max_requests_per_minute > 0
        ):
            raise InvalidRequestError(
                "max_requests_per_minute", f"must be a number above 0, or None, not {max_requests_per_minute!r}"
            )
        self.interval_s = 60.0 / max_requests_per_minute if max_requests_per_minute else 0.0
        self.paused_until = 0.0  # time.monotonic(): the server asked everyone to wait until then
        self._next = 0.0

    async def turn(self, deadline: float | None) -> None:
        """Wait for this POST's turn.  A turn after the caller's deadline ends
        the call now, with nothing sent."""
        while True:
            now = time.monotonic()
            wait = self.take_turn(None if deadline is None else deadline - now)
            if wait is None:
                raise RateLimitError(
                    "the client's own rate limit (or the server's Retry-After) leaves no turn before the "
                    "deadline; nothing was sent",
                    status_code=429,
                    retry_after=max(self._next, self.paused_until) - now,
                )
            if wait > 0:
                await asyncio.sleep(wait)
            if time.monotonic() >= self.paused_until:
                return
            # The server asked for a pause while this turn was waiting: take a turn after it.

    def take_turn(self, within: float | None) -> float | None:
        """Book the next turn: the seconds to wait for it, or None (nothing booked)
        when it comes later than `within` seconds from now.  (A cluster job's
        driver books its workers' turns with this.)"""
        now = time.monotonic()
        start = max(now, self._next, self.paused_until)
        if within is not None and start - now > within:
            return None
        self._next = start + self.interval_s
        return start - now

    def next_turn_in(self) -> float:
        """Seconds until a turn could be taken (0: now); nothing is booked."""
        return max(0.0, self._next - time.monotonic(), self.paused_until - time.monotonic())

    async def paused(self) -> None:
        """Wait out a pause the server asked for (polls call this)."""
        wait = self.paused_until - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        if until > self.paused_until:
            log.debug("the server asked for a pause of %.1fs: every POST of this client waits", seconds)
            self.paused_until = until
