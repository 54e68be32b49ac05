"""No input makes a strategy loop, on the real kernel with the simulated exchange.

The leg-off-chain case seen on real scraped data (an ATM±N window moving away from a held
leg): the exit cannot be priced, and the old DNSS re-sent it on the same snapshot ~171,000
times in 20 s. Now the strategy halts with a critical alert, the flatten is retried once per
later input within a budget, and the session goes on.
"""

from __future__ import annotations

from _dnss_support import at, chain, make_config

from optrunner.core.clock import SimClock
from optrunner.core.orders import OrderIntent
from optrunner.core.types import Side, Tag
from optrunner.execution.brokers.simulated import SimConfig, SimulatedExchange
from optrunner.instruments.contracts import OptionContract
from optrunner.kernel import Kernel
from optrunner.strategies.base import BaseStrategy, Subscriptions
from optrunner.strategies.dnss import DNSS


def kernel() -> Kernel:
    clock = SimClock()
    return Kernel(SimulatedExchange(clock, SimConfig()), clock, capital=1_000_000.0, log_alerts=False)


def test_a_held_leg_leaving_the_chain_ends_in_bounded_orders_and_a_halt(tmp_path):
    k = kernel()
    config = make_config(tmp_path)
    k.add_strategy(DNSS(config), config)
    gone = {(25150.0, "CE")}  # the CE leg sold at 09:30 is not in any later snapshot
    k.on_chain(chain(at(9, 30), 25000.0))
    assert len(k.portfolio.positions("T_DNSS")) == 2
    for minute in range(31, 60):
        k.on_chain(chain(at(9, minute), 25000.0, drop=gone))
    k.end_of_day(at(9, 0).date())
    orders = k.om.orders()
    exits = [o for o in orders if o.tag is Tag.EXIT and o.contract.strike == 25150.0]
    # the exit basket that cannot price its CE leg halts the strategy at once (one halt path,
    # safety.py); the flatten that follows tries once per later input, 10 times, then gives up
    assert len(exits) == 11 and all(o.state.value == "REJECTED" for o in exits)
    assert len(orders) <= 15
    assert "T_DNSS" in k.runner.get_status()["halted"]
    critical = [a for a in k.alerts if a.level == "critical"]
    assert any("T_DNSS halted" in a.message for a in critical)
    assert any("needs a human" in a.message for a in critical)
    # the PE leg was bought back; the CE short is reported, not forgotten
    assert [p.contract.strike for p in k.portfolio.positions("T_DNSS")] == [25150.0]


class Looper(BaseStrategy):
    """A buggy strategy: 500 orders in reaction to one snapshot."""

    def subscriptions(self) -> Subscriptions:
        return Subscriptions(chains={"NIFTY"})

    def on_chain(self, snapshot):
        contract = OptionContract.from_id("NIFTY:20261117:25000:CE")
        return [OrderIntent(self.name, Tag.ENTRY, contract, Side.BUY, 65) for _ in range(500)]


def test_one_input_cannot_become_an_order_storm():
    k = kernel()
    k.add_strategy(Looper("LOOP"))
    k.on_chain(chain(at(9, 30), 25000.0))
    k.on_chain(chain(at(9, 31), 25000.0))  # halted: nothing more
    sent = [o for o in k.om.orders() if o.state.value != "REJECTED"]
    capped = [o for o in k.om.orders() if "INTENT_CAP" in o.reason]
    assert len(sent) == 0 and len(capped) == 500  # the whole batch over the cap is refused
    assert k.runner.get_status()["halted"] == ["LOOP"]
    assert any(a.level == "critical" and "LOOP halted" in a.message for a in k.alerts)
