"""Signals (what a processor concludes from ticks) and the validator that vets them.

A processor says "BUY this instrument, this many units, with this confidence"; the
validator checks the signal is well formed before the executor turns it into an order
intent. The old system's validator accepted confidence 0..100 while its runner divided by
100 afterwards, so a 0.9 and a 90 meant the same thing in one place and not in the other.
Here a signal's confidence is always a fraction in [0, 1]: processors normalise (see
``normalise_confidence``) and the validator rejects anything else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from optrunner.core.events import TickEvent


class SignalType(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


@dataclass(frozen=True, slots=True)
class Signal:
    """A processor's conclusion for one instrument. ``quantity`` is in units (lots x lot size)."""

    strategy_id: str
    instrument: str
    signal_type: SignalType
    quantity: int
    price: float
    confidence: float  # a fraction in [0, 1]
    ts: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)


def normalise_confidence(value: float) -> float:
    """A score as a fraction in [0, 1]: fractions pass, percentages (1, 100] are divided by 100.

    Anything else (negative, above 100, NaN) is a processor bug and raises ValueError rather
    than being clipped into something that looks plausible.
    """
    v = float(value)
    if not math.isfinite(v) or v < 0.0 or v > 100.0:
        raise ValueError(
            f"confidence {value!r} is neither a fraction in [0, 1] nor a percentage in (1, 100]"
        )
    return v if v <= 1.0 else v / 100.0


class SignalValidator(Protocol):
    def validate_signal(self, signal: Signal, tick: TickEvent) -> list[str]:
        """Every problem with ``signal`` (empty when it may become an order)."""
        ...


class StandardValidator:
    """The checks every signal passes: well-formed type, quantity, price and confidence.

    ``max_quantity`` (units) caps the size of any one signal; None means no cap here (the
    risk engine still applies the strategy's limits).
    """

    def __init__(self, max_quantity: int | None = None) -> None:
        if max_quantity is not None and max_quantity < 1:
            raise ValueError(f"max_quantity must be at least 1 unit, got {max_quantity}")
        self.max_quantity = max_quantity

    def validate_signal(self, signal: Signal, tick: TickEvent) -> list[str]:
        problems: list[str] = []
        if not isinstance(signal.signal_type, SignalType):
            problems.append(f"signal_type {signal.signal_type!r} is not one of BUY, SELL, HOLD")
        if (
            isinstance(signal.quantity, bool)
            or not isinstance(signal.quantity, int)
            or signal.quantity < 1
        ):
            problems.append(f"quantity {signal.quantity!r} is not a whole number of units >= 1")
        elif self.max_quantity is not None and signal.quantity > self.max_quantity:
            problems.append(f"quantity {signal.quantity} exceeds the {self.max_quantity}-unit cap")
        if not (isinstance(signal.confidence, int | float) and 0.0 <= signal.confidence <= 1.0):
            problems.append(f"confidence {signal.confidence!r} is not a fraction in [0, 1]")
        if not (math.isfinite(signal.price) and signal.price > 0.0):
            problems.append(f"signal price {signal.price!r} is not a positive number")
        if not (math.isfinite(tick.ltp) and tick.ltp > 0.0):
            problems.append(f"tick price {tick.ltp!r} is not a positive number")
        if signal.instrument != tick.instrument:
            problems.append(
                f"signal is for {signal.instrument!r} but the tick is for {tick.instrument!r}"
            )
        return problems
