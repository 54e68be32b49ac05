"""Baskets: fill-confirmed phases (hedge first on entry, main first on exit), unwinding on failure,
halting when an unwind fails, never a naked short (REFERENCE_SYSTEMS §3.4's bugs as tests)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from _execution_support import LOT, NAN, T0, Harness, ScriptedBroker, chain, intent

from optrunner.core.clock import SimClock
from optrunner.core.events import AlertEvent
from optrunner.core.orders import Basket, Order
from optrunner.core.types import LegRole, OrderState, Side, Tag
from optrunner.execution import BasketState, ExecutionPolicy, OrderManager, Router, StrategyHalted
from optrunner.execution.brokers import BrokerEventKind as K
from optrunner.execution.brokers import RejectReason, SimConfig, SimulatedExchange
from optrunner.execution.journal import Transition

S = OrderState
B = BasketState
MAIN, HEDGE = intent().contract, intent(strike=25200.0).contract


class RejectingExchange(SimulatedExchange):
    """The simulated exchange, refusing the orders ``refuse`` picks (a margin shortfall, say)."""

    def refuse(self, order: Order) -> bool:
        return False

    def submit(self, order: Order) -> None:
        if self.refuse(order):
            self._reject(order.client_id, self._clock.now(), RejectReason.BROKER, "margin shortfall")
            return
        super().submit(order)


def entry(qty: int = 2 * LOT, strategy: str = "s") -> Basket:
    return Basket(
        [
            intent(Side.SELL, qty, strategy=strategy, leg="main"),
            intent(Side.BUY, qty, 25200.0, strategy=strategy, leg="hedge", role=LegRole.HEDGE),
        ]
    )


def exit_basket(qty: int = 2 * LOT) -> Basket:
    return Basket(
        [
            intent(Side.BUY, qty, tag=Tag.EXIT, leg="main"),
            intent(Side.SELL, qty, 25200.0, tag=Tag.EXIT, leg="hedge", role=LegRole.HEDGE),
        ],
        is_exit=True,
    )


def alerts(h: Harness) -> list[AlertEvent]:
    return [e for e in h.events if isinstance(e, AlertEvent)]


def positions(h: Harness, strategy: str = "s") -> dict[str, int]:
    return {c.id: q for (s, c), q in h.exchange.net_positions.items() if s == strategy and q}


def creation_index(h: Harness, client_id: str) -> int:
    return next(k for k, e in enumerate(h.journal.entries) if isinstance(e, Transition) and e.client_id == client_id)


def filled_index(h: Harness, client_id: str) -> int:
    return next(
        k for k, e in enumerate(h.journal.entries)
        if isinstance(e, Transition) and e.client_id == client_id and e.to_state is S.FILLED
    )  # fmt: skip


def test_entry_sends_the_main_only_after_the_hedge_is_filled():
    h = Harness(sim=SimConfig(latency_ms=500))
    bid = h.router.submit_basket(entry())
    h.om.drain()
    st = h.router.basket(bid)
    assert (st.state, st.phase) == (B.WORKING, 0)
    assert [o.leg for o in h.om.orders()] == ["hedge"]  # accepted, not filled: no main yet
    h.at(1)  # the hedge fills on the first snapshot after its latency; the main goes out
    assert [(o.leg, o.state) for o in h.om.orders()] == [("hedge", S.FILLED), ("main", S.ACCEPTED)]
    h.at(2)
    st = h.router.basket(bid)
    assert st.state is B.COMPLETED
    assert [(leg.leg, leg.filled_qty) for leg in st.legs] == [("hedge", 130), ("main", 130)]
    assert positions(h) == {HEDGE.id: 130, MAIN.id: -130}
    hedge, main = (o.client_id for o in h.om.orders())
    assert filled_index(h, hedge) < creation_index(h, main)


def test_exit_buys_back_the_main_before_selling_the_hedge():
    h = Harness(sim=SimConfig(latency_ms=500))
    h.router.submit_basket(entry())
    h.at(1)
    h.at(2)
    bid = h.router.submit_basket(exit_basket())
    h.om.drain()
    exits = [o for o in h.om.orders() if o.tag is Tag.EXIT]
    assert [(o.leg, o.side) for o in exits] == [("main", Side.BUY)]
    h.at(3)
    h.at(4)
    assert h.router.basket(bid).state is B.COMPLETED
    main, hedge = (o.client_id for o in h.om.orders() if o.tag is Tag.EXIT)
    assert filled_index(h, main) < creation_index(h, hedge)
    assert positions(h) == {}


def test_main_rejected_after_the_hedge_filled_unwinds_the_hedge():
    h = Harness(exchange_cls=RejectingExchange)
    h.exchange.refuse = lambda o: o.contract == MAIN and o.tag is Tag.ENTRY
    bid = h.router.submit_basket(entry())
    h.om.drain()
    st = h.router.basket(bid)
    assert st.state is B.UNWOUND
    assert "margin shortfall" in st.reason
    assert [(u.contract, u.side, u.filled_qty) for u in st.unwind_legs] == [(HEDGE.id, Side.SELL, 130)]
    unwinds = [o for o in h.om.orders() if o.tag is Tag.UNWIND]
    assert [(o.side, o.quantity, o.state, o.basket_id) for o in unwinds] == [(Side.SELL, 130, S.FILLED, bid)]
    assert positions(h) == {}
    assert not h.om.is_halted("s")
    assert [a.level for a in alerts(h)] == ["warning"]


def test_failed_unwind_halts_the_strategy_with_a_critical_alert():
    h = Harness(exchange_cls=RejectingExchange)
    h.exchange.refuse = lambda o: o.contract == MAIN or o.tag is Tag.UNWIND
    bid = h.router.submit_basket(entry())
    h.om.drain()
    st = h.router.basket(bid)
    assert st.state is B.FAILED and "unwind order" in st.reason
    assert h.om.is_halted("s")
    assert any(a.level == "critical" and bid in a.message for a in alerts(h))
    assert positions(h) == {HEDGE.id: 130}  # long the hedge: never a naked short
    with pytest.raises(StrategyHalted, match="halted"):
        h.router.submit_basket(entry())
    assert len(h.om.orders()) == 3  # nothing created for the refused basket


def test_partially_filled_hedge_that_times_out_is_unwound_and_the_main_never_sent():
    h = Harness(policy=ExecutionPolicy(timeout_seconds=30))
    h.at(0, c25200=(60.0, 61.0, 60.5, NAN, 65.0))
    bid = h.router.submit_basket(entry())
    h.om.drain()
    assert [(o.leg, o.state, o.filled_qty) for o in h.om.orders()] == [("hedge", S.PARTIALLY_FILLED, 65)]
    h.at(30, c25200=(60.0, 61.0, 60.5, NAN, 0.0))  # nothing more offered; the timeout cancels
    st = h.router.basket(bid)
    assert st.state is B.UNWOUND
    assert [(u.side, u.quantity, u.filled_qty) for u in st.unwind_legs] == [(Side.SELL, 65, 65)]
    assert [o.leg for o in h.om.orders() if o.tag is Tag.ENTRY] == ["hedge"]
    assert positions(h) == {}


def test_partially_filled_main_unwinds_buying_back_first_then_selling_the_hedge():
    h = Harness(policy=ExecutionPolicy(timeout_seconds=30))
    h.at(0, c25000=(150.0, 151.0, 150.5, 65.0, NAN))
    bid = h.router.submit_basket(entry())
    h.om.drain()
    main = next(o for o in h.om.orders() if o.leg == "main")
    assert (main.state, main.filled_qty) == (S.PARTIALLY_FILLED, 65)
    h.at(30, c25000=(150.0, 151.0, 150.5, 0.0, NAN))
    st = h.router.basket(bid)
    assert st.state is B.UNWOUND
    buy, sell = (o for o in h.om.orders() if o.tag is Tag.UNWIND)
    assert (buy.contract, buy.side, buy.quantity) == (MAIN, Side.BUY, 65)
    assert (sell.contract, sell.side, sell.quantity) == (HEDGE, Side.SELL, 130)
    assert filled_index(h, buy.client_id) < creation_index(h, sell.client_id)
    assert positions(h) == {}


def test_sliced_legs_phase_on_every_slice():
    h = Harness(sim=SimConfig(latency_ms=500))
    bid = h.router.submit_basket(entry(2600))
    h.om.drain()
    assert [(o.client_id, o.quantity) for o in h.om.orders()] == [("s-000001-s1", 1755), ("s-000001-s2", 845)]
    h.at(1)
    h.at(2)
    st = h.router.basket(bid)
    assert st.state is B.COMPLETED
    assert [leg.client_ids for leg in st.legs] == [("s-000001-s1", "s-000001-s2"), ("s-000002-s1", "s-000002-s2")]
    assert positions(h) == {HEDGE.id: 2600, MAIN.id: -2600}


def test_failed_exit_is_not_reversed_and_halts():
    h = Harness(exchange_cls=RejectingExchange)
    h.router.submit_basket(entry())
    h.om.drain()
    h.exchange.refuse = lambda o: o.tag is Tag.EXIT and o.contract == MAIN
    bid = h.router.submit_basket(exit_basket())
    h.om.drain()
    st = h.router.basket(bid)
    assert st.state is B.FAILED and "exit stopped" in st.reason
    assert [o for o in h.om.orders() if o.tag is Tag.EXIT and o.contract == HEDGE] == []  # hedge kept
    assert positions(h) == {HEDGE.id: 130, MAIN.id: -130}
    assert h.om.is_halted("s")


def test_unknown_leg_parks_the_basket_and_nothing_is_guessed():
    clock = SimClock(T0)
    broker = ScriptedBroker(clock)
    om = OrderManager(broker, clock, ack_query_seconds=1, ack_timeout_seconds=5)
    om.on_snapshot(chain())
    router = Router(om)
    bid = router.submit_basket(entry())
    (hedge_id,) = broker.submitted
    clock.advance(T0 + timedelta(seconds=5))
    om.check_timers()
    assert router.basket(bid).state is B.UNKNOWN and om.is_halted("s")
    assert broker.submitted == [hedge_id]  # the main is not sent on a guess
    broker.answer(K.ACK, hedge_id)
    broker.fill(hedge_id, 130, 61.0)  # resolved late: entries are halted, so the hedge is unwound
    om.drain()
    st = router.basket(bid)
    assert st.state is B.UNWINDING and "halted" in st.reason
    unwind = broker.submitted[-1]
    assert om.get(unwind).tag is Tag.UNWIND and om.get(unwind).side is Side.SELL


def test_router_state_survives_a_restart_mid_basket():
    h = Harness(sim=SimConfig(latency_ms=500))
    bid = h.router.submit_basket(entry())
    h.om.drain()
    om_state = json.loads(json.dumps(h.om.to_state()))
    router_state = json.loads(json.dumps(h.router.to_state()))
    om2 = OrderManager.from_state(om_state, h.exchange, h.clock)
    router2 = Router(om2)
    router2.load_state(router_state)
    for t in (1, 2):
        snap = chain(T0 + timedelta(seconds=t))
        h.clock.advance(snap.ts)
        h.exchange.on_snapshot(snap)
        om2.on_snapshot(snap)
        om2.check_timers()
    assert router2.basket(bid).state is B.COMPLETED
    assert positions(h) == {HEDGE.id: 130, MAIN.id: -130}
