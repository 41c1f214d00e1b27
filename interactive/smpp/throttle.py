"""Rate control of one bind: the TPS token bucket, the measured rate and reconnect backoff.

None of these classes lock: the session calls them under its own lock. Times are
``time.monotonic()`` seconds passed in by the caller, so the wall clock never matters.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

#: Burst allowance of the bucket, as seconds of the contract rate (at least one token).
BURST_SECONDS = 0.05
_EPSILON = 1e-9


class TokenBucket:
    """A token bucket refilled continuously at ``rate`` tokens per second.

    ``rate`` 0 means unlimited. The bucket starts full with ``burst`` tokens (default
    ``max(1, rate * 0.05)``), so a quiet bind may send a small burst, and oversleeping by
    less than the burst is caught up: over a long run the rate is exact.
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate < 0:
            raise ValueError("rate must not be negative")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate * BURST_SECONDS)
        self._tokens = self.capacity
        self._stamp: float | None = None

    def take(self, now: float) -> float:
        """Take one token and return 0.0, or return the seconds until one is available."""
        if self.rate <= 0:
            return 0.0
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:  # refills are sums of floats
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def _refill(self, now: float) -> None:
        if self._stamp is not None and now > self._stamp:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        if self._stamp is None or now > self._stamp:
            self._stamp = now


class RateMeter:
    """Events per second over the last ``horizon`` seconds (or since the first event)."""

    def __init__(self, horizon: float = 10.0) -> None:
        self.horizon = horizon
        self._events: deque[float] = deque()
        self._first: float | None = None

    def record(self, now: float) -> None:
        if self._first is None:
            self._first = now
        self._events.append(now)
        self._trim(now)

    def rate(self, now: float) -> float:
        self._trim(now)
        if self._first is None or not self._events:
            return 0.0
        span = max(1.0, min(self.horizon, now - self._first))
        return len(self._events) / span

    def _trim(self, now: float) -> None:
        while self._events and now - self._events[0] > self.horizon:
            self._events.popleft()


class Backoff:
    """Exponential reconnect delays with jitter, capped.

    Attempt *n* (from 0) waits between half and all of ``min(maximum, initial * 2**n)``
    ("equal jitter"): binds of many gateways spread out after an SMSC outage, yet the delay
    never drops below half the base, so refusals (ESME_RBINDFAIL, ESME_RALYBND, ...) can
    never make the gateway hot-loop. ``reset()`` after a successful bind.
    """

    def __init__(
        self, initial: float, maximum: float, rng: Callable[[], float] = random.random
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError("need 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self._rng = rng
        self._attempt = 0

    @property
    def attempt(self) -> int:
        return self._attempt

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * 2 ** min(self._attempt, 62))
        self._attempt += 1
        return base / 2 + base / 2 * self._rng()

    def reset(self) -> None:
        self._attempt = 0
