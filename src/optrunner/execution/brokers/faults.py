"""Seeded fault injection for the simulated exchange: what a real broker does on a bad day.

Faults (each a probability per request, drawn from one seeded RNG so a run is repeatable):

* ``reject_rate``: the broker refuses the order (reason BROKER).
* ``timeout_rate``: the exchange accepts the order but every answer produced while
  submitting it (ack, immediate fills) is lost. ``order_status`` reveals it, except for a
  ``status_unknown_rate`` share of those orders, for which the broker never can say.
* ``partial_fill_rate``: a fill is cut to a random smaller whole number of lots; the rest
  keeps working on later snapshots.
* ``rate_limit_burst_rate``: a burst starts in which every submission for
  ``rate_limit_burst_seconds`` is answered RATE_LIMITED.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class FaultConfig:
    reject_rate: float = 0.0
    timeout_rate: float = 0.0
    status_unknown_rate: float = 0.0
    partial_fill_rate: float = 0.0
    rate_limit_burst_rate: float = 0.0
    rate_limit_burst_seconds: float = 1.0

    def __post_init__(self) -> None:
        for name in ("reject_rate", "timeout_rate", "status_unknown_rate", "partial_fill_rate", "rate_limit_burst_rate"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"FaultConfig.{name} must be a probability in [0, 1], got {v}")
        if self.rate_limit_burst_seconds <= 0:
            raise ValueError(f"FaultConfig.rate_limit_burst_seconds must be > 0, got {self.rate_limit_burst_seconds}")


class FaultInjector:
    """Decides, request by request, which fault (if any) the simulated exchange applies."""

    def __init__(self, config: FaultConfig, seed: int = 0) -> None:
        self.config = config
        self._rng = random.Random(seed)
        self._burst_until: datetime | None = None
        self._hidden: set[str] = set()
        self.injected: Counter[str] = Counter()

    def on_submit(self, now: datetime) -> str | None:
        """"rate_limited", "rejected" or None for a submission at ``now``."""
        c = self.config
        if self._burst_until is not None and now < self._burst_until:
            self.injected["rate_limited"] += 1
            return "rate_limited"
        if c.rate_limit_burst_rate and self._rng.random() < c.rate_limit_burst_rate:
            self._burst_until = now + timedelta(seconds=c.rate_limit_burst_seconds)
            self.injected["rate_limit_bursts"] += 1
            self.injected["rate_limited"] += 1
            return "rate_limited"
        if c.reject_rate and self._rng.random() < c.reject_rate:
            self.injected["rejected"] += 1
            return "rejected"
        return None

    def lose_answer(self, client_id: str) -> bool:
        """True when the answers to this accepted submission are lost."""
        c = self.config
        if not (c.timeout_rate and self._rng.random() < c.timeout_rate):
            return False
        self.injected["answers_lost"] += 1
        if c.status_unknown_rate and self._rng.random() < c.status_unknown_rate:
            self._hidden.add(client_id)
            self.injected["status_hidden"] += 1
        return True

    def hides_status(self, client_id: str) -> bool:
        return client_id in self._hidden

    def cap_fill(self, quantity: int, lot: int) -> int:
        """``quantity`` or, for an injected partial, a random smaller whole number of lots."""
        lots = quantity // lot
        if lots < 2 or not (self.config.partial_fill_rate and self._rng.random() < self.config.partial_fill_rate):
            return quantity
        self.injected["partial_fills"] += 1
        return self._rng.randint(1, lots - 1) * lot
