"""A hand-built RiskView: each test states exactly the world a check sees."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from optrunner.core.orders import OrderIntent
from optrunner.core.timeutil import IST
from optrunner.core.types import Right, Side, Tag
from optrunner.data.snapshot import OptionQuote
from optrunner.instruments.contracts import OptionContract
from optrunner.risk.view import PositionInfo

EXPIRY = date(2026, 11, 17)  # a Tuesday weekly; NIFTY lot 65
NOW = datetime(2026, 11, 16, 10, 0, tzinfo=IST)


def contract(strike: float = 26000, right: str = "CE", underlying: str = "NIFTY") -> OptionContract:
    return OptionContract(underlying, EXPIRY, strike, Right(right))


def quote(c: OptionContract, ltp: float = 100.0, vega: float = 10.0, gamma: float = 0.001) -> OptionQuote:
    nan = float("nan")
    return OptionQuote(c, NOW, 26000.0, ltp - 0.5, ltp + 0.5, ltp, nan, nan, 1e5, 1e6, 26010.0,
                       0.12, 0.3 if c.is_call else -0.3, gamma, -5.0, vega)  # fmt: skip


def intent(c: OptionContract | None = None, side: Side = Side.SELL, qty: int = 65, tag: Tag = Tag.ENTRY,
           strategy: str = "S1") -> OrderIntent:  # fmt: skip
    return OrderIntent(strategy, tag, c or contract(), side, qty)


@dataclass
class FakeView:
    clock: datetime = NOW
    positions: list[PositionInfo] = field(default_factory=list)
    pending: dict[tuple[str, OptionContract], int] = field(default_factory=dict)
    pnl: dict[str, tuple[float, float]] = field(default_factory=dict)
    greeks: dict[str, tuple[float, float]] = field(default_factory=dict)
    quotes: dict[OptionContract, OptionQuote] = field(default_factory=dict)
    ages: dict[str, float] = field(default_factory=lambda: {"NIFTY": 5.0, "BANKNIFTY": 5.0})
    capital: float = 1_000_000.0
    exits: dict[OptionContract, datetime] = field(default_factory=dict)
    halted: set[str] = field(default_factory=set)
    raise_in: str = ""

    def _maybe_raise(self, name: str) -> None:
        if self.raise_in == name:
            raise RuntimeError(f"{name} is broken")

    def now(self) -> datetime:
        return self.clock

    def position_qty(self, strategy, c):
        self._maybe_raise("position_qty")
        return sum(p.qty for p in self.positions if p.strategy == strategy and p.contract == c)

    def pending_qty(self, strategy, c):
        return self.pending.get((strategy, c), 0)

    def open_positions(self, strategy=None):
        return [p for p in self.positions if strategy in (None, p.strategy) and p.qty]

    def pending_contracts(self, strategy):
        return [(c, q) for (s, c), q in self.pending.items() if s == strategy]

    def strategy_pnl(self, strategy):
        self._maybe_raise("strategy_pnl")
        return self.pnl.get(strategy, (0.0, 0.0))

    def strategy_greeks(self, strategy):
        return self.greeks.get(strategy, (0.0, 0.0))

    def quote(self, c):
        return self.quotes.get(c, quote(c))

    def spot(self, symbol):
        return 26000.0

    def data_age_seconds(self, symbol):
        return self.ages.get(symbol)

    def available_capital(self):
        return self.capital

    def last_exit(self, c):
        return self.exits.get(c)

    def is_strategy_halted(self, strategy):
        return strategy in self.halted


def position(c: OptionContract, qty: int, strategy: str = "S1", unrealized: float = 0.0,
             opened: datetime | None = None) -> PositionInfo:  # fmt: skip
    return PositionInfo(strategy, c, qty, 100.0, unrealized, opened or NOW)
