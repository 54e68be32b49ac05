"""The order state machine: every legal and illegal transition, and the order manager refusing
impossible broker answers instead of folding them into some state."""

from __future__ import annotations

import itertools

import pytest
from _execution_support import LOT, T0, ScriptedBroker, intent

from optrunner.core.clock import SimClock
from optrunner.core.events import AlertEvent
from optrunner.core.orders import Order
from optrunner.core.types import OrderState, OrderType
from optrunner.execution import (
    LEGAL_TRANSITIONS,
    IllegalTransition,
    MemoryJournal,
    OrderManager,
    OverfillError,
)
from optrunner.execution.brokers import BrokerEventKind as K
from optrunner.execution.brokers import RejectReason
from optrunner.execution.states import check_transition

S = OrderState

# The brief's machine, written out independently of the implementation's table:
# NEW -> SUBMITTED -> ACCEPTED -> PARTIALLY_FILLED -> FILLED, or REJECTED / CANCELLED / EXPIRED,
# plus: local reject/cancel of an unsent order, SUBMITTED -> NEW when the broker rate-limits
# (or never received) the request, REJECTED -> NEW when a retry reopens an unconsumed id, and
# self-loops recording actions (cancel/modify requests, further partial fills).
EXPECTED = {
    (S.NEW, S.SUBMITTED), (S.NEW, S.REJECTED), (S.NEW, S.CANCELLED),
    (S.SUBMITTED, S.SUBMITTED), (S.SUBMITTED, S.ACCEPTED), (S.SUBMITTED, S.REJECTED),
    (S.SUBMITTED, S.NEW),
    (S.ACCEPTED, S.ACCEPTED), (S.ACCEPTED, S.PARTIALLY_FILLED), (S.ACCEPTED, S.FILLED),
    (S.ACCEPTED, S.CANCELLED), (S.ACCEPTED, S.EXPIRED),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED), (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.CANCELLED), (S.PARTIALLY_FILLED, S.EXPIRED),
    (S.REJECTED, S.NEW),
}  # fmt: skip
ALL_PAIRS = list(itertools.product(S, S))


def _order(state: OrderState) -> Order:
    return Order("s-000001", "s", intent().tag, intent().contract, intent().side, LOT, state=state)


def test_the_table_is_exactly_the_specified_machine():
    table = {(f, t) for f, tos in LEGAL_TRANSITIONS.items() for t in tos}
    assert table == EXPECTED


@pytest.mark.parametrize("frm, to", sorted(EXPECTED))
def test_legal_transition_passes(frm, to):
    check_transition(_order(frm), to, "test")


@pytest.mark.parametrize("frm, to", sorted(p for p in ALL_PAIRS if p not in EXPECTED))
def test_illegal_transition_raises(frm, to):
    with pytest.raises(IllegalTransition, match=f"{frm} -> {to}"):
        check_transition(_order(frm), to, "test")


def test_terminal_states_except_rejected_are_dead_ends():
    for st in (S.FILLED, S.CANCELLED, S.EXPIRED):
        assert LEGAL_TRANSITIONS[st] == frozenset()
    assert all(s.is_terminal for s in (S.FILLED, S.CANCELLED, S.EXPIRED, S.REJECTED))


# --- the order manager applies the table to broker answers ------------------------------


@pytest.fixture
def rig():
    clock = SimClock(T0)
    broker = ScriptedBroker(clock)
    journal = MemoryJournal()
    om = OrderManager(broker, clock, journal=journal)
    return clock, broker, journal, om


def _limit_order(om):
    return om.place(intent(order_type=OrderType.LIMIT, limit=150.0))


def test_fill_on_submitted_order_records_accepted_then_filled(rig):
    _, broker, journal, om = rig
    o = _limit_order(om)
    broker.fill(o.client_id, LOT, 150.0)  # the ack never came
    om.drain()
    assert o.state is S.FILLED
    assert journal.states_of(o.client_id) == [S.NEW, S.SUBMITTED, S.ACCEPTED, S.FILLED]
    implied = [t for t in journal.transitions if t.to_state is S.ACCEPTED]
    assert implied[0].reason == "implied by fill"


def test_partial_fills_then_complete(rig):
    _, broker, journal, om = rig
    o = om.place(intent(quantity=3 * LOT, order_type=OrderType.LIMIT, limit=150.0))
    broker.answer(K.ACK, o.client_id, broker_id="B1")
    broker.fill(o.client_id, LOT, 150.0)
    broker.fill(o.client_id, LOT, 151.0)
    om.drain()
    assert (o.state, o.filled_qty) == (S.PARTIALLY_FILLED, 2 * LOT)
    broker.fill(o.client_id, LOT, 152.0)
    om.drain()
    assert o.state is S.FILLED
    assert o.avg_price == pytest.approx(151.0)
    assert [f.price for f in journal.fills] == [150.0, 151.0, 152.0]


def test_overfill_is_an_error(rig):
    _, broker, _, om = rig
    o = _limit_order(om)
    broker.answer(K.ACK, o.client_id)
    broker.fill(o.client_id, 2 * LOT, 150.0)
    with pytest.raises(OverfillError, match=o.client_id):
        om.drain()
    assert o.filled_qty == 0


def test_fill_after_cancel_is_illegal(rig):
    _, broker, _, om = rig
    o = _limit_order(om)
    broker.answer(K.ACK, o.client_id)
    broker.answer(K.CANCELLED, o.client_id)
    broker.fill(o.client_id, LOT, 150.0)
    with pytest.raises(IllegalTransition, match="CANCELLED -> PARTIALLY_FILLED"):
        om.drain()


def test_ack_after_reject_is_illegal(rig):
    _, broker, _, om = rig
    o = _limit_order(om)
    broker.answer(K.REJECT, o.client_id, reject_reason=RejectReason.BROKER, reason="margin")
    broker.answer(K.ACK, o.client_id)
    with pytest.raises(IllegalTransition, match="REJECTED -> ACCEPTED"):
        om.drain()
    assert o.state is S.REJECTED


def test_duplicate_execution_is_applied_once(rig):
    _, broker, journal, om = rig
    o = om.place(intent(quantity=2 * LOT, order_type=OrderType.LIMIT, limit=150.0))
    broker.answer(K.ACK, o.client_id)
    broker.answer(K.FILL, o.client_id, quantity=LOT, price=150.0, exec_id="E1")
    broker.answer(K.FILL, o.client_id, quantity=LOT, price=150.0, exec_id="E1")
    om.drain()
    assert o.filled_qty == LOT
    assert len(journal.fills) == 1
    assert om.counters["duplicate_fills"] == 1


def test_second_ack_with_other_broker_id_means_a_duplicate_at_the_broker(rig):
    _, broker, _, om = rig
    o = _limit_order(om)
    broker.answer(K.ACK, o.client_id, broker_id="B1")
    broker.answer(K.ACK, o.client_id, broker_id="B2")
    with pytest.raises(Exception, match="duplicate"):
        om.drain()


def test_answer_for_an_unknown_order_raises_a_critical_alert(rig):
    _, broker, _, om = rig
    alerts = []
    om.add_listener(lambda e: alerts.append(e) if isinstance(e, AlertEvent) else None)
    broker.fill("manual-1", LOT, 10.0)
    om.drain()
    assert alerts and alerts[0].level == "critical" and "manual-1" in alerts[0].message


def test_reject_intent_records_a_refused_order_and_tells_listeners():
    from _execution_support import Harness

    h = Harness()
    order = h.om.reject_intent(intent(), "MAX_DAILY_LOSS: daily loss limit reached")
    h.om.drain()
    assert order.state is S.REJECTED and order.reason.startswith("MAX_DAILY_LOSS")
    assert h.journal.states_of(order.client_id) == [S.NEW, S.REJECTED]
    updates = [(e.order.state, e.order.reason[:14]) for e in h.events if hasattr(e, "order")]
    assert updates == [(S.NEW, ""), (S.REJECTED, "MAX_DAILY_LOSS")]
    assert h.exchange.accepted[order.client_id] == 0  # never sent
