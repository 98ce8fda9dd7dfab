"""A session's spend, and the limit it must stay under.

    budget = Budget(limit_usd=1.00)
    budget.check(0.07 * 3)                 # may three calls go?  raises if not
    held = budget.reserve(0.07)            # before the POST: counted at once
    budget.release(held)                   # the server refused, or the task failed unbilled
    budget.settle(held, cost_usd=0.07)     # the bill is known: count what was charged

A price is reserved before a request is sent, so concurrent calls cannot
together overrun the limit.  Only a reservation can be given back, and only
once: a task recovered from the journal reserved nothing in this session, so
its failure gives nothing back.  Several clients may share one budget (the
magic and the panel of one kernel do).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from ..errors import BudgetExceededError, InvalidRequestError

_SLACK_USD = 1e-9  # prices are sums of micro-USDC; float rounding must not refuse an exact fit


@dataclass
class Reservation:
    """What one call holds against the budget until it is settled or released."""

    price_usd: float
    open: bool = True


class Budget:
    """Spend so far against an optional limit (None: no limit).  Thread-safe."""

    def __init__(self, limit_usd: float | None = None) -> None:
        self._lock = threading.Lock()
        self._spent_usd = 0.0
        self.limit_usd = limit_usd

    @property
    def limit_usd(self) -> float | None:
        return self._limit_usd

    @limit_usd.setter
    def limit_usd(self, value: float | None) -> None:
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InvalidRequestError("budget_usd", f"must be a finite number of dollars above 0, or None, not {value!r}")
            value = float(value)
        self._limit_usd = value

    @property
    def spent_usd(self) -> float:
        return self._spent_usd

    def check(self, total_usd: float) -> None:
        """Raise `BudgetExceededError` if `total_usd` more would pass the limit."""
        with self._lock:
            self._check(total_usd)

    def _check(self, total_usd: float) -> None:
        limit = self._limit_usd
        if limit is not None and self._spent_usd + total_usd > limit + _SLACK_USD:
            raise BudgetExceededError(self._spent_usd, total_usd, limit)

    def reserve(self, price_usd: float) -> Reservation:
        """Check and count `price_usd` at once (before the request is sent)."""
        with self._lock:
            self._check(price_usd)
            self._spent_usd += price_usd
        return Reservation(price_usd)

    def release(self, reservation: Reservation) -> None:
        """Give a reservation back: nothing was billed for it."""
        with self._lock:
            if reservation.open:
                reservation.open = False
                self._spent_usd = max(0.0, self._spent_usd - reservation.price_usd)

    def settle(self, reservation: Reservation, cost_usd: float) -> None:
        """The bill is known: count `cost_usd` instead of the price reserved."""
        with self._lock:
            if reservation.open:
                reservation.open = False
                self._spent_usd = max(0.0, self._spent_usd - reservation.price_usd + cost_usd)

    def __repr__(self) -> str:
        limit = "none" if self._limit_usd is None else f"${self._limit_usd:.2f}"
        return f"<Budget spent=${self._spent_usd:.2f} limit={limit}>"
