"""Typed events flowing from market data and execution into the runner and strategies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from optrunner.core.fastinit import fast_frozen_init

if TYPE_CHECKING:
    from optrunner.core.orders import Fill, Order
    from optrunner.data.snapshot import ChainSnapshot


@fast_frozen_init
@dataclass(slots=True, frozen=True)
class ChainEvent:
    """A whole option-chain snapshot for one underlying (all listed expiries it carries)."""

    snapshot: ChainSnapshot

    @property
    def ts(self) -> datetime:
        return self.snapshot.ts

    @property
    def key(self) -> str:
        return self.snapshot.symbol


@fast_frozen_init
@dataclass(slots=True, frozen=True)
class TickEvent:
    """One instrument's quote: an option (canonical id) or an index (its symbol)."""

    ts: datetime
    instrument: str
    ltp: float
    bid: float = float("nan")
    ask: float = float("nan")
    bid_qty: float = float("nan")
    ask_qty: float = float("nan")
    volume: float = float("nan")
    oi: float = float("nan")

    @property
    def key(self) -> str:
        return self.instrument


@fast_frozen_init
@dataclass(slots=True, frozen=True)
class BarEvent:
    """A closed bar of an index (``timeframe`` like "1m", "1h", "4h" session-aligned)."""

    symbol: str
    timeframe: str
    start: datetime
    end: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0

    @property
    def ts(self) -> datetime:
        return self.end

    @property
    def key(self) -> str:
        return self.symbol


@fast_frozen_init
@dataclass(slots=True, frozen=True)
class FillEvent:
    fill: Fill

    @property
    def ts(self) -> datetime:
        return self.fill.ts

    @property
    def key(self) -> str:
        return self.fill.strategy


@fast_frozen_init
@dataclass(slots=True, frozen=True)
class OrderUpdateEvent:
    order: Order
    ts: datetime

    @property
    def key(self) -> str:
        return self.order.strategy


@dataclass(slots=True, frozen=True)
class TimerEvent:
    ts: datetime


@dataclass(slots=True, frozen=True)
class StaleDataEvent:
    """Market data for ``symbol`` is older than allowed: no entries until fresh data returns."""

    ts: datetime
    symbol: str
    age_seconds: float

    @property
    def key(self) -> str:
        return self.symbol


@fast_frozen_init
@dataclass(slots=True, frozen=True)
class AlertEvent:
    """Something an operator must see (strategy halted, broker answer unknown, limit hit)."""

    ts: datetime
    level: str  # "info" | "warning" | "critical"
    source: str
    message: str


Event = (
    ChainEvent | TickEvent | BarEvent | FillEvent | OrderUpdateEvent | TimerEvent | StaleDataEvent | AlertEvent
)
