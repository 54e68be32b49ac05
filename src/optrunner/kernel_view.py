"""The kernel's read-only view for pre-trade checks (``optrunner.risk.RiskView``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from optrunner.data.snapshot import OptionQuote
from optrunner.instruments.contracts import OptionContract
from optrunner.risk.view import PositionInfo

if TYPE_CHECKING:
    from optrunner.kernel import Kernel


class KernelView:
    """Answers from the portfolio (positions, P&L), the order manager (working orders) and
    the latest snapshot per underlying (quotes, data age).

    ``quote_hits``/``quote_misses`` count quote lookups in the latest snapshots — the
    kernel's tick cache — for the ``tick_cache_hit_rate`` metric."""

    def __init__(self, kernel: Kernel) -> None:
        self.k = kernel
        self.quote_hits = 0
        self.quote_misses = 0

    def now(self) -> datetime:
        return self.k.clock.now()

    def position_qty(self, strategy: str, contract: OptionContract) -> int:
        pos = self.k.portfolio.position(strategy, contract)
        return pos.quantity if pos is not None else 0

    def pending_qty(self, strategy: str, contract: OptionContract) -> int:
        return sum(
            o.side.sign * o.remaining
            for o in self.k.om.open_orders(strategy)
            if o.contract == contract
        )

    def open_positions(self, strategy: str | None = None) -> Sequence[PositionInfo]:
        return [
            PositionInfo(
                p.strategy,
                p.contract,
                p.quantity,
                p.avg_price,
                p.unrealized,
                self.k.opened.get((p.strategy, p.contract)),
            )
            for p in self.k.portfolio.positions(strategy)
        ]

    def pending_contracts(self, strategy: str) -> Sequence[tuple[OptionContract, int]]:
        out: dict[OptionContract, int] = {}
        for o in self.k.om.open_orders(strategy):
            out[o.contract] = out.get(o.contract, 0) + o.side.sign * o.remaining
        return list(out.items())

    def strategy_pnl(self, strategy: str) -> tuple[float, float]:
        if strategy not in self.k.portfolio.strategies():
            return 0.0, 0.0  # nothing traded yet
        net = self.k.portfolio.summary(strategy).net
        return net, net - self.k.day_start_net.get(strategy, 0.0)

    def strategy_greeks(self, strategy: str) -> tuple[float, float]:
        if strategy not in self.k.portfolio.strategies():
            return 0.0, 0.0
        s = self.k.portfolio.summary(strategy)
        return s.vega, s.gamma

    def quote(self, contract: OptionContract) -> OptionQuote | None:
        snap = self.k.latest.get(contract.underlying)
        q = snap.quote_for(contract) if snap is not None else None
        if q is None:
            self.quote_misses += 1
        else:
            self.quote_hits += 1
        return q

    def spot(self, symbol: str) -> float | None:
        snap = self.k.latest.get(symbol)
        return snap.spot if snap is not None else None

    def data_age_seconds(self, symbol: str) -> float | None:
        snap = self.k.latest.get(symbol)
        return None if snap is None else (self.now() - snap.ts).total_seconds()

    def available_capital(self) -> float:
        return self.k.portfolio.equity

    def last_exit(self, contract: OptionContract) -> datetime | None:
        return self.k.last_exit.get(contract)

    def is_strategy_halted(self, strategy: str) -> bool:
        return strategy in self.k.runner.get_status()["halted"] or self.k.om.is_halted(strategy)
