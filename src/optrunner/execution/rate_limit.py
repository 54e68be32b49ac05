"""Broker rate limits without sleeping: a token bucket and an exponential backoff, on injected time.

Brokers cap order requests per second (Kite, Dhan and Shoonya all do). The order manager
asks the bucket before each request and, when it is empty, keeps the request queued until
``next_available``; a "rate limited" answer from the broker re-queues the request after
``ExponentialBackoff.delay``. Time always comes from the caller's clock, so a backtest is
deterministic and nothing in the kernel path ever blocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


class TokenBucket:
    """``rate`` requests per second on average, up to ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        if not rate > 0:
            raise ValueError(f"TokenBucket: rate must be > 0 requests/s, got {rate}")
        if not (isinstance(burst, int) and burst >= 1):
            raise ValueError(f"TokenBucket: burst must be an integer >= 1, got {burst!r}")
        self.rate = float(rate)
        self.burst = burst
        self._tokens = float(burst)
        self._last: datetime | None = None

    def _refill(self, now: datetime) -> None:
        # datetime differences are exact to the microsecond; epoch floats are not
        if self._last is not None and now > self._last:
            elapsed = (now - self._last).total_seconds()
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        if self._last is None or now > self._last:
            self._last = now

    def try_acquire(self, now: datetime) -> bool:
        """Take one token if there is one (time never runs backwards for the bucket)."""
        self._refill(now)
        if self._tokens >= 1.0 - 1e-9:
            self._tokens -= 1.0
            return True
        return False

    def next_available(self, now: datetime) -> datetime:
        """The earliest instant (whole microseconds, rounded up) at which ``try_acquire`` succeeds."""
        self._refill(now)
        missing = 1.0 - self._tokens
        if missing <= 1e-9:
            return now
        return now + timedelta(microseconds=math.ceil(missing / self.rate * 1e6))

    def to_state(self) -> dict[str, Any]:
        last = None if self._last is None else self._last.isoformat()
        return {"rate": self.rate, "burst": self.burst, "tokens": self._tokens, "last": last}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> TokenBucket:
        b = cls(d["rate"], d["burst"])
        b._tokens = float(d["tokens"])
        b._last = None if d["last"] is None else datetime.fromisoformat(d["last"])
        return b


@dataclass(frozen=True, slots=True)
class ExponentialBackoff:
    """Delay before resend number ``attempt`` (1-based): initial x factor^(attempt-1), capped.

    No random jitter: the kernel must be deterministic, and one process sends to one broker
    account, so there is no herd of clients to de-synchronise.
    """

    initial: float = 0.25
    factor: float = 2.0
    max_delay: float = 8.0
    max_attempts: int = 8

    def __post_init__(self) -> None:
        if not (self.initial > 0 and self.factor >= 1 and self.max_delay >= self.initial):
            raise ValueError(
                f"ExponentialBackoff: need initial > 0, factor >= 1, max_delay >= initial; got {self}"
            )
        if self.max_attempts < 1:
            raise ValueError(f"ExponentialBackoff: max_attempts must be >= 1, got {self.max_attempts}")

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.initial * self.factor ** max(0, attempt - 1))

    def exhausted(self, attempt: int) -> bool:
        return attempt > self.max_attempts
