"""weekly_zones' entry basket through the real router and simulated exchange: hedge first,
fill-confirmed; a refused hedge means no main leg is ever sent; a refused main is unwound by
the router and the strategy ends flat (REFERENCE_SYSTEMS §3.4: the old seller sold the main
0.3 s after *sending* the hedge, filled or not)."""

from __future__ import annotations

from _dnss_support import at, chain
from _execution_support import Harness
from _weekly_support import BULL_PWC, MON, feed, hour, prev_week, wz_config
from test_router_baskets import RejectingExchange

from optrunner.core.events import FillEvent, OrderUpdateEvent
from optrunner.core.types import Tag
from optrunner.execution import BasketState
from optrunner.strategies.weekly_zones import WeeklyZones


def run(tmp_path, refuse):
    s = WeeklyZones(wz_config(tmp_path))
    feed(s, prev_week(BULL_PWC))
    feed(s, [hour(MON, 0, 24820, 24900, 24790, 24870), hour(MON, 1, 24870, 24910, 24850, 24890)])
    h = Harness(exchange_cls=RejectingExchange)
    h.exchange.refuse = refuse
    h.om.add_listener(lambda e: (s.on_order_update(e.order) if isinstance(e, OrderUpdateEvent)
                                 else s.on_fill(e.fill) if isinstance(e, FillEvent) else None))  # fmt: skip
    snap = chain(at(11, 16), 24890.0)
    h.feed(snap)
    (basket,) = s.on_chain(snap)
    bid = h.router.submit_basket(basket)
    h.om.drain()
    h.feed(chain(at(11, 17), 24890.0))
    h.om.drain()
    return s, h, bid


def test_a_refused_hedge_sends_no_main_leg(tmp_path):
    s, h, bid = run(tmp_path, lambda o: o.leg == "P1:hedge")
    assert [(o.leg, o.state.value) for o in h.om.orders()] == [("P1:hedge", "REJECTED")]
    assert h.router.basket(bid).state in (BasketState.FAILED, BasketState.UNWOUND)
    assert s.positions == {} and s.exits == {"ENTRY_NOT_FILLED": 1}
    assert not h.om.is_halted(s.name)


def test_a_refused_main_is_unwound_and_the_strategy_ends_flat(tmp_path):
    s, h, bid = run(tmp_path, lambda o: o.tag is Tag.ENTRY and o.leg == "P1:main")
    assert h.router.basket(bid).state is BasketState.UNWOUND
    unwinds = [o for o in h.om.orders() if o.tag is Tag.UNWIND]
    assert [(o.leg, o.state.value) for o in unwinds] == [("unwind:P1:hedge", "FILLED")]
    assert s.positions == {} and s.exits == {"ENTRY_INCOMPLETE": 1}  # closed by the router's unwind
    assert {o.leg for o in h.om.orders() if o.tag is Tag.EXIT} == set()  # no double sale of the hedge


def test_both_legs_fill_hedge_first(tmp_path):
    s, h, bid = run(tmp_path, lambda o: False)
    assert h.router.basket(bid).state is BasketState.COMPLETED
    assert [o.leg for o in h.om.orders()] == ["P1:hedge", "P1:main"]
    (p,) = s.positions.values()
    assert p.state.value == "OPEN" and {leg.contract.id for leg in p.book.open_legs()} == {p.main.id, p.hedge.id}


def test_through_the_kernel_a_refused_hedge_sends_no_main(tmp_path):
    """The same, with the kernel in between: risk checks, router, simulated exchange."""
    from optrunner.core.clock import SimClock
    from optrunner.execution.brokers import SimConfig
    from optrunner.kernel import Kernel
    from optrunner.risk import RiskEngine

    clock = SimClock(at(9, 0))
    exchange = RejectingExchange(clock, SimConfig())
    exchange.refuse = lambda o: o.leg == "P1:hedge"
    kernel = Kernel(exchange, clock, capital=5_000_000.0, risk=RiskEngine(), log_alerts=False)
    cfg = wz_config(tmp_path)
    s = WeeklyZones(cfg)
    kernel.add_strategy(s, cfg)
    for bar in [*prev_week(BULL_PWC), hour(MON, 0, 24820, 24900, 24790, 24870), hour(MON, 1, 24870, 24910, 24850, 24890)]:
        kernel.runner.dispatch(bar)
    kernel.on_chain(chain(at(11, 16), 24890.0))
    kernel.on_chain(chain(at(11, 17), 24890.0))
    assert [(o.leg, o.state.value) for o in kernel.om.orders()] == [("P1:hedge", "REJECTED")]
    assert s.positions == {} and s.exits == {"ENTRY_NOT_FILLED": 1}
