"""What pre-trade checks may read: a narrow, read-only view the kernel provides.

Checks depend on this protocol rather than on the portfolio, order manager and market
state directly, so each check can be tested against a tiny hand-built view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from optrunner.data.snapshot import OptionQuote
from optrunner.instruments.contracts import OptionContract


@dataclass(frozen=True, slots=True)
class PositionInfo:
    strategy: str
    contract: OptionContract
    qty: int  # signed units
    avg_price: float
    unrealized: float
    opened_ts: datetime | None


class RiskView(Protocol):
    def now(self) -> datetime: ...
    def position_qty(self, strategy: str, contract: OptionContract) -> int: ...
    def pending_qty(self, strategy: str, contract: OptionContract) -> int: ...
    def open_positions(self, strategy: str | None = None) -> Sequence[PositionInfo]: ...
    def pending_contracts(self, strategy: str) -> Sequence[tuple[OptionContract, int]]: ...
    def strategy_pnl(
        self, strategy: str
    ) -> tuple[float, float]: ...  # (net since start, net today)
    def strategy_greeks(
        self, strategy: str
    ) -> tuple[float, float]: ...  # (vega, gamma) of open positions
    def quote(self, contract: OptionContract) -> OptionQuote | None: ...
    def spot(self, symbol: str) -> float | None: ...
    def data_age_seconds(self, symbol: str) -> float | None: ...
    def available_capital(self) -> float: ...
    def last_exit(self, contract: OptionContract) -> datetime | None: ...
    def is_strategy_halted(self, strategy: str) -> bool: ...
