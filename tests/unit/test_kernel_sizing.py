"""The capital allocator sizes premium-buying entries when a strategy file asks for it
(risk_management.capital_alloc_pct), in whole lots, and refuses — counted — what no lot fits.

Hand numbers: the 25000 CE of _dnss_support's chain at spot 25000 is quoted 103.95 / 104.00;
a NIFTY Nov-2026 lot is 65 units, so one lot costs 6,760.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from _dnss_support import at, chain

from optrunner.config.operations import RiskManagementConfig
from optrunner.core.clock import SimClock
from optrunner.core.orders import OrderIntent
from optrunner.core.types import OrderState, Side, Tag
from optrunner.execution.brokers.simulated import SimConfig, SimulatedExchange
from optrunner.instruments.contracts import OptionContract
from optrunner.kernel import Kernel
from optrunner.strategies.base import BaseStrategy, Subscriptions

CE = OptionContract.from_id("NIFTY:20261117:25000:CE")


class Buyer(BaseStrategy):
    def __init__(self, lots: int, tag: Tag = Tag.ENTRY, side: Side = Side.BUY) -> None:
        super().__init__("BUYER")
        self.lots, self.tag, self.side = lots, tag, side

    def subscriptions(self):
        return Subscriptions(chains={"NIFTY"})

    def on_chain(self, snapshot):
        return [OrderIntent(self.name, self.tag, CE, self.side, 65 * self.lots)]


def run(capital: float, lots: int, **risk) -> Kernel:
    clock = SimClock()
    k = Kernel(SimulatedExchange(clock, SimConfig()), clock, capital=capital, log_alerts=False)
    config = SimpleNamespace(risk_management=RiskManagementConfig(**risk))
    k.add_strategy(Buyer(lots), config)
    k.on_chain(chain(at(9, 30), 25000.0))
    return k


@pytest.mark.parametrize(
    ("risk", "asked", "sent"),
    [
        # 10% of 1,000,000 buys 14 lots; 2.5% risk (band above 3 lakh) at a 30% stop: 25,000 / 2,028 = 12
        ({"capital_alloc_pct": 10}, 20, 12 * 65),
        ({"capital_alloc_pct": 10}, 5, 5 * 65),  # never sized up
        ({"capital_alloc_pct": 10, "risk_per_trade_pct": 5}, 20, 14 * 65),  # the allocation binds
        ({"capital_alloc_pct": 10, "capital_multiplier": 2}, 40, 24 * 65),  # both budgets doubled
        ({}, 20, 20 * 65),  # no allocator asked for: the strategy's own size
    ],
)
def test_entries_are_sized_in_whole_lots(risk, asked, sent):
    k = run(1_000_000.0, asked, **risk)
    (order,) = k.om.orders()
    assert order.quantity == sent and order.state is not OrderState.REJECTED


def test_an_entry_no_lot_fits_is_a_counted_insufficient_capital_rejection():
    k = run(5_000.0, 1, capital_alloc_pct=10)  # 10% of 5,000 is 500 < 6,760 for one lot
    (order,) = k.om.orders()
    assert order.state is OrderState.REJECTED and order.reason.startswith("INSUFFICIENT_CAPITAL")
