"""Per-order execution settings and marketable-limit pricing on the exchange tick.

Brokers increasingly reject plain MARKET orders for options (MARKET_FACTS.md), so a
MARKET intent is normally sent as a limit a few percent through the touch: it trades like
a market order but can never fill at an absurd price in a thin book.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from optrunner.core.types import Side

OnTimeout = Literal["cancel", "reprice"]
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class ExecutionPolicy:
    """How one order is worked. Set by the caller from the strategy's config.

    ``market_as_limit``: send MARKET intents as limits at ask x (1 + p/100) for a buy,
    bid x (1 - p/100) for a sell, p = ``price_limit_percent``.
    ``timeout_seconds``: how long a resting order may sit unfilled (counted from its last
    pricing) before ``on_timeout`` acts: "cancel" it, or "reprice" it to the current
    marketable price, at most ``max_reprices`` times, after which it is cancelled.
    """

    market_as_limit: bool = True
    price_limit_percent: float = 2.0
    timeout_seconds: float | None = None
    on_timeout: OnTimeout = "cancel"
    max_reprices: int = 3

    def __post_init__(self) -> None:
        problems = []
        if not (0.0 <= self.price_limit_percent < 100.0):
            problems.append(f"price_limit_percent must be in [0, 100), got {self.price_limit_percent}")
        if self.timeout_seconds is not None and not self.timeout_seconds > 0:
            problems.append(f"timeout_seconds must be > 0 or None, got {self.timeout_seconds}")
        if self.on_timeout not in ("cancel", "reprice"):
            problems.append(f'on_timeout must be "cancel" or "reprice", got {self.on_timeout!r}')
        if not (isinstance(self.max_reprices, int) and self.max_reprices >= 0):
            problems.append(f"max_reprices must be an integer >= 0, got {self.max_reprices!r}")
        if problems:
            raise ValueError("ExecutionPolicy: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExecutionPolicy:
        return cls(**d)


def to_tick(price: float, tick: float, rounding: Literal["up", "down", "nearest"]) -> float:
    """``price`` on the ``tick`` grid, rounded as asked, without float noise (2 decimals)."""
    x = price / tick
    if rounding == "up":
        n = math.ceil(x - _EPS)
    elif rounding == "down":
        n = math.floor(x + _EPS)
    else:
        n = round(x)
    return round(n * tick, 2)


def is_on_tick(price: float, tick: float) -> bool:
    x = price / tick
    return abs(x - round(x)) < 1e-6


def _valid(x: float) -> bool:
    return math.isfinite(x) and x > 0.0


def marketable_limit_price(
    side: Side, bid: float, ask: float, ltp: float, percent: float, tick: float
) -> float | None:
    """The marketable limit for ``side``, or None when there is no price to start from.

    Buy: ask x (1 + p/100) rounded *down* to the tick; sell: bid x (1 - p/100) rounded *up*.
    Rounding towards the touch keeps the price within the buffer the user allowed, and
    since the touch is itself on the tick the result is still at or through it. A missing
    side (NaN or <= 0) falls back to the last traded price; no price at all gives None.
    """
    if side is Side.BUY:
        ref = ask if _valid(ask) else ltp
        if not _valid(ref):
            return None
        return to_tick(ref * (1.0 + percent / 100.0), tick, "down")
    ref = bid if _valid(bid) else ltp
    if not _valid(ref):
        return None
    return max(tick, to_tick(ref * (1.0 - percent / 100.0), tick, "up"))
