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
* ``latency_spike_rate``: an accepted order becomes executable only ``latency_spike_ms``
  later (on a later snapshot), like an exchange that stalls.

The injector's whole state — the RNG included — is part of the exchange's book
(``to_state``), so a paper session resumed with ``--recover`` continues the same sequence.
Users turn it on with ``--faults reject=0.05,lost=0.03,...`` (:func:`parse_faults`).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True, slots=True)
class FaultConfig:
    reject_rate: float = 0.0
    timeout_rate: float = 0.0
    status_unknown_rate: float = 0.0
    partial_fill_rate: float = 0.0
    rate_limit_burst_rate: float = 0.0
    rate_limit_burst_seconds: float = 1.0
    latency_spike_rate: float = 0.0
    latency_spike_ms: float = 5_000.0

    def __post_init__(self) -> None:
        for name in ("reject_rate", "timeout_rate", "status_unknown_rate", "partial_fill_rate", "rate_limit_burst_rate",
                     "latency_spike_rate"):  # fmt: skip
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"FaultConfig.{name} must be a probability in [0, 1], got {v}")
        if self.rate_limit_burst_seconds <= 0:
            raise ValueError(f"FaultConfig.rate_limit_burst_seconds must be > 0, got {self.rate_limit_burst_seconds}")
        if not self.latency_spike_ms > 0:
            raise ValueError(f"FaultConfig.latency_spike_ms must be > 0, got {self.latency_spike_ms}")

    @property
    def active(self) -> bool:
        return any((self.reject_rate, self.timeout_rate, self.partial_fill_rate, self.rate_limit_burst_rate,
                    self.latency_spike_rate))  # fmt: skip


#: ``--faults`` keys: (FaultConfig field, what it means) — the CLI help and docs/recovery.md.
FAULT_KEYS: dict[str, tuple[str, str]] = {
    "reject": ("reject_rate", "share of submissions the broker refuses (reason BROKER)"),
    "lost": ("timeout_rate", "share of accepted submissions whose answers (ack, fills) are lost"),
    "hidden": ("status_unknown_rate", "share of those lost ones whose status the broker never tells"),
    "partial": ("partial_fill_rate", "share of fills cut to fewer lots (the rest keeps working)"),
    "burst": ("rate_limit_burst_rate", "chance per submission that a 429 burst starts"),
    "burst_seconds": ("rate_limit_burst_seconds", "how long a 429 burst lasts"),
    "spike": ("latency_spike_rate", "share of accepted orders delayed by a latency spike"),
    "spike_ms": ("latency_spike_ms", "how long a latency spike delays an order"),
}


def parse_faults(text: str) -> tuple[FaultConfig, int]:
    """``"reject=0.05,lost=0.03,partial=0.15,seed=7"`` -> (FaultConfig, RNG seed).

    Raises ValueError naming every problem (unknown key, not a number, out of range)."""
    values: dict[str, float] = {}
    seed = 0
    problems: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, eq, raw = part.partition("=")
        key = key.strip()
        if not eq:
            problems.append(f"{part!r} is not key=value")
            continue
        try:
            number = float(raw)
        except ValueError:
            problems.append(f"{key}={raw!r} is not a number")
            continue
        if key == "seed":
            if not number.is_integer() or number < 0:
                problems.append(f"seed={raw} must be a whole number >= 0")
            seed = int(number) if number.is_integer() and number >= 0 else 0
        elif key in FAULT_KEYS:
            values[FAULT_KEYS[key][0]] = number
        else:
            problems.append(f"unknown fault {key!r} (known: {', '.join([*FAULT_KEYS, 'seed'])})")
    if not problems:
        try:
            return FaultConfig(**values), seed
        except ValueError as exc:
            problems.append(str(exc).replace("FaultConfig.", ""))
    raise ValueError("--faults: " + "; ".join(problems))


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

    def latency_spike(self) -> timedelta | None:
        """Extra delay for an accepted order, or None."""
        c = self.config
        if not (c.latency_spike_rate and self._rng.random() < c.latency_spike_rate):
            return None
        self.injected["latency_spikes"] += 1
        return timedelta(milliseconds=c.latency_spike_ms)

    def cap_fill(self, quantity: int, lot: int) -> int:
        """``quantity`` or, for an injected partial, a random smaller whole number of lots."""
        lots = quantity // lot
        if lots < 2 or not (self.config.partial_fill_rate and self._rng.random() < self.config.partial_fill_rate):
            return quantity
        self.injected["partial_fills"] += 1
        return self._rng.randint(1, lots - 1) * lot

    # --- state (part of the exchange's book) -------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        version, internal, gauss = self._rng.getstate()
        return {
            "rng": [version, list(internal), gauss],
            "burst_until": None if self._burst_until is None else self._burst_until.isoformat(),
            "hidden": sorted(self._hidden),
            "injected": dict(self.injected),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        version, internal, gauss = state["rng"]
        self._rng.setstate((version, tuple(internal), gauss))
        until = state["burst_until"]
        self._burst_until = None if until is None else datetime.fromisoformat(until)
        self._hidden = set(state["hidden"])
        self.injected = Counter({k: int(v) for k, v in state["injected"].items()})
