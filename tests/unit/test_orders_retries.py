"""Client ids and retries: deterministic ids, and the reference placer's coid bug as regressions
(REFERENCE_SYSTEMS §2.2-6: the id was cached even when placement failed, so retries were
silently dropped for 20 minutes)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from _execution_support import LOT, T0, Harness, ScriptedBroker, intent

from optrunner.core.clock import SimClock
from optrunner.core.events import AlertEvent
from optrunner.core.types import OrderState, OrderType, Side, Tag
from optrunner.execution import (
    ClientIds,
    ExponentialBackoff,
    InvalidOrder,
    MemoryJournal,
    OrderManager,
    StrategyHalted,
)
from optrunner.execution.brokers import (
    BrokerEvent,
    BrokerOrderStatus,
    BrokerUnreachable,
    RejectReason,
)
from optrunner.execution.brokers import BrokerEventKind as K

S = OrderState


def _rig(**kw):
    clock = SimClock(T0)
    broker = ScriptedBroker(clock)
    journal = MemoryJournal()
    om = OrderManager(broker, clock, journal=journal, **kw)
    alerts: list[AlertEvent] = []
    om.add_listener(lambda e: alerts.append(e) if isinstance(e, AlertEvent) else None)
    return clock, broker, journal, om, alerts


def _limit(**kw):
    return intent(order_type=OrderType.LIMIT, limit=150.0, **kw)


# --- ids ------------------------------------------------------------------------------------


def test_ids_are_per_strategy_counters_and_written_back_to_the_intent():
    _, _, _, om, _ = _rig()
    a1, b1, a2 = _limit(strategy="alpha"), _limit(strategy="beta"), _limit(strategy="alpha")
    ids = [om.place(i).client_id for i in (a1, b1, a2)]
    assert ids == ["alpha-000001", "beta-000001", "alpha-000002"]
    assert [a1.client_id, b1.client_id, a2.client_id] == ids


def test_same_inputs_give_the_same_ids_and_journal():
    def run():
        _, broker, journal, om, _ = _rig()
        for k in range(5):
            om.place(_limit(strategy=f"s{k % 2}"))
        return broker.submitted, [(t.client_id, t.to_state) for t in journal.transitions]

    assert run() == run()


def test_slice_ids_and_issued_ids():
    ids = ClientIds()
    parent = ids.next("dnss")
    assert ClientIds.slice_id(parent, 2) == "dnss-000001-s2"
    assert ids.was_issued("dnss-000001-s2", "dnss")
    assert not ids.was_issued("dnss-000002", "dnss")  # not issued yet
    assert not ids.was_issued("dnss-000001", "other")
    assert ids.next_basket("dnss") == "dnss-B000001"
    with pytest.raises(ValueError, match="non-empty"):
        ids.next(" ")


def test_a_client_id_not_issued_here_is_refused():
    _, broker, _, om, _ = _rig()
    i = _limit()
    i.client_id = "s-000042"
    with pytest.raises(InvalidOrder, match="not issued"):
        om.place(i)
    assert broker.submitted == []


# --- retries ------------------------------------------------------------------------------


def test_regression_rejected_placement_does_not_block_the_retry():
    _, broker, journal, om, _ = _rig()
    i = _limit()
    o = om.place(i)
    broker.answer(K.REJECT, o.client_id, reject_reason=RejectReason.BROKER, reason="insufficient margin")
    om.drain()
    assert o.state is S.REJECTED and "insufficient margin" in o.reason
    again = om.place(i)  # the same intent: same client id, and it is really sent again
    assert again is o
    assert broker.submitted == [o.client_id, o.client_id]
    broker.answer(K.ACK, o.client_id)
    broker.fill(o.client_id, LOT, 150.0)
    om.drain()
    assert o.state is S.FILLED
    assert len(om.orders()) == 1
    assert journal.states_of(o.client_id) == [S.NEW, S.SUBMITTED, S.REJECTED, S.NEW, S.SUBMITTED, S.ACCEPTED, S.FILLED]


@pytest.mark.parametrize("state_after", [S.ACCEPTED, S.FILLED, S.CANCELLED])
def test_regression_acknowledged_order_is_never_duplicated(state_after):
    _, broker, _, om, _ = _rig()
    i = _limit()
    o = om.place(i)
    broker.answer(K.ACK, o.client_id)
    if state_after is S.FILLED:
        broker.fill(o.client_id, LOT, 150.0)
    if state_after is S.CANCELLED:
        broker.answer(K.CANCELLED, o.client_id)
    om.drain()
    assert om.place(i) is o
    assert o.state is state_after
    assert broker.submitted == [o.client_id]


def test_retry_with_a_different_order_under_the_same_id_is_refused():
    _, _, _, om, _ = _rig()
    i = _limit()
    om.place(i)
    i.quantity = 2 * LOT
    with pytest.raises(InvalidOrder, match="retry asks for"):
        om.place(i)


def test_unreachable_broker_resends_after_backoff_then_gives_up_unconsumed():
    clock, broker, journal, om, _ = _rig(backoff=ExponentialBackoff(initial=1.0, factor=2.0, max_attempts=2))
    broker.raise_on_submit = [BrokerUnreachable("connection refused")] * 3
    i = _limit()
    o = om.place(i)
    assert o.state is S.NEW and broker.submitted == []
    clock.advance(T0 + timedelta(seconds=0.9))
    om.check_timers()
    assert broker.submitted == [] and o.state is S.NEW  # backoff not elapsed: nothing sleeps, nothing sent
    clock.advance(T0 + timedelta(seconds=1.0))
    om.check_timers()  # resend 1 (fails again), next after 2 s
    clock.advance(T0 + timedelta(seconds=3.0))
    om.check_timers()  # resend 2 fails: gave up
    assert o.state is S.REJECTED and "gave up after 2 resends" in o.reason
    assert om.place(i) is o  # still not consumed: a retry goes out under the same id
    assert broker.submitted == [o.client_id]
    assert [t.to_state for t in journal.transitions if t.client_id == o.client_id].count(S.SUBMITTED) == 4


def test_rate_limited_answer_is_resent_with_the_same_id_after_backoff():
    clock, broker, _, om, _ = _rig(backoff=ExponentialBackoff(initial=0.5))
    o = om.place(_limit())
    broker.answer(K.REJECT, o.client_id, reject_reason=RejectReason.RATE_LIMITED, reason="429")
    om.drain()
    assert o.state is S.NEW  # not rejected: no listener sees a failure
    clock.advance(T0 + timedelta(seconds=0.5))
    om.check_timers()
    assert broker.submitted == [o.client_id, o.client_id]
    assert o.state is S.SUBMITTED


def test_submitted_without_answer_is_not_resent_but_asked_about():
    _, broker, _, om, _ = _rig()
    i = _limit()
    o = om.place(i)
    assert om.place(i) is o
    assert broker.submitted == [o.client_id]
    assert broker.status_calls == [o.client_id]


def test_lost_answer_resolved_through_order_status_with_its_trade_book():
    clock, broker, journal, om, _ = _rig(ack_query_seconds=1.0, ack_timeout_seconds=5.0)
    o = om.place(_limit(quantity=2 * LOT))
    assert broker.outbox == []  # the answers were lost
    e1 = BrokerEvent(K.FILL, o.client_id, T0, quantity=LOT, price=150.0, exec_id="E1")
    broker.status[o.client_id] = BrokerOrderStatus(o.client_id, S.PARTIALLY_FILLED, LOT, 150.0, "B9", (e1,))
    clock.advance(T0 + timedelta(seconds=1))
    om.check_timers()
    assert (o.state, o.filled_qty, o.broker_id) == (S.PARTIALLY_FILLED, LOT, "B9")
    broker.answer(K.FILL, o.client_id, quantity=LOT, price=150.0, exec_id="E1")  # late duplicate
    broker.answer(K.FILL, o.client_id, quantity=LOT, price=151.0, exec_id="E2")
    om.drain()
    assert (o.state, o.filled_qty) == (S.FILLED, 2 * LOT)
    assert [f.fill_id for f in journal.fills] == ["E1", "E2"]


def test_status_without_trade_book_derives_the_missing_fill():
    clock, broker, journal, om, _ = _rig()
    o = om.place(_limit(quantity=2 * LOT))
    broker.status[o.client_id] = BrokerOrderStatus(o.client_id, S.FILLED, 2 * LOT, 150.5)
    clock.advance(T0 + timedelta(seconds=1))
    om.check_timers()
    assert o.state is S.FILLED and o.avg_price == pytest.approx(150.5)
    assert journal.fills[0].quantity == 2 * LOT


def test_still_unknown_after_ack_timeout_halts_the_strategy_and_alerts():
    clock, broker, _, om, alerts = _rig(ack_query_seconds=1.0, ack_timeout_seconds=5.0)
    o = om.place(_limit())
    for s in (1, 2, 3, 4):
        clock.advance(T0 + timedelta(seconds=s))
        om.check_timers()
        assert not om.is_halted("s")
    clock.advance(T0 + timedelta(seconds=5))
    om.check_timers()
    assert o.state is S.SUBMITTED and om.is_unknown(o.client_id)  # never guessed into a state
    assert om.is_halted("s")
    assert [a.level for a in alerts] == ["critical"] and o.client_id in alerts[0].message
    assert broker.submitted == [o.client_id]  # and never resent
    with pytest.raises(StrategyHalted, match="halted"):
        om.place(_limit())
    om.place(_limit(side=Side.BUY, tag=Tag.EXIT))  # exits still go out
    assert om.unknown_orders() == [o]
    broker.answer(K.ACK, o.client_id)  # a late answer resolves it; the halt stays for the operator
    om.drain()
    assert not om.is_unknown(o.client_id) and o.state is S.ACCEPTED and om.is_halted("s")
    om.resume("s")
    om.place(_limit())


def test_ambiguous_submit_failure_is_not_resent():
    clock, broker, _, om, alerts = _rig()
    broker.raise_on_submit = [TimeoutError("read timed out")]
    o = om.place(_limit())
    assert o.state is S.SUBMITTED
    assert alerts[0].level == "warning"
    clock.advance(T0 + timedelta(seconds=30))
    om.check_timers()
    assert broker.submitted == []  # nothing resent on a guess
    assert om.is_unknown(o.client_id)


# --- state round trip ---------------------------------------------------------------------


def test_to_state_rebuilds_the_order_manager_exactly():
    clock, broker, _, om, _ = _rig()
    a = om.place(_limit())
    broker.answer(K.ACK, a.client_id, broker_id="B1")
    broker.fill(a.client_id, LOT, 150.0)
    b = om.place(_limit(quantity=2 * LOT, strategy="t"))
    broker.answer(K.ACK, b.client_id, broker_id="B2")
    broker.fill(b.client_id, LOT, 149.0)
    om.drain()
    om.halt("t", "operator test")
    state = json.loads(json.dumps(om.to_state()))  # plain JSON types only
    om2 = OrderManager.from_state(state, broker, clock)
    assert om2.to_state() == state
    assert [(o.client_id, o.state, o.filled_qty, o.avg_price) for o in om2.orders()] == [
        (a.client_id, S.FILLED, LOT, 150.0),
        (b.client_id, S.PARTIALLY_FILLED, LOT, 149.0),
    ]
    assert om2.is_halted("t")
    assert om2.place(_limit()).client_id == "s-000002"  # the counter continues, no id reused
    broker.answer(K.FILL, b.client_id, quantity=LOT, price=149.0, exec_id="X2")  # seen before the restart
    om2.drain()
    assert om2.get(b.client_id).filled_qty == LOT


def test_restart_reconciles_open_orders_with_the_broker():
    clock, broker, _, om, _ = _rig()
    o = om.place(_limit())
    broker.answer(K.ACK, o.client_id)
    om.drain()
    state = om.to_state()
    broker.status[o.client_id] = BrokerOrderStatus(o.client_id, S.CANCELLED, 0, 0.0, reason="by user")
    om2 = OrderManager.from_state(state, broker, clock)
    om2.reconcile()
    assert om2.get(o.client_id).state is S.CANCELLED


def test_harness_market_order_round_trip_on_the_simulated_exchange():
    h = Harness()
    o = h.place(intent(Side.BUY))
    assert o.state is S.FILLED and o.avg_price == 151.0
    assert h.exchange.accepted[o.client_id] == 1


# --- gaps in the answers: resync instead of guessing (found by the fault-injection run) ----


def test_fill_before_any_ack_pulls_the_missed_fills_from_the_broker():
    _, broker, journal, om, _ = _rig()
    o = om.place(_limit(quantity=3 * LOT))
    lost = BrokerEvent(K.FILL, o.client_id, T0, quantity=LOT, price=150.0, exec_id="E1")  # never delivered
    seen = BrokerEvent(K.FILL, o.client_id, T0, quantity=LOT, price=150.5, exec_id="E2")
    broker.status[o.client_id] = BrokerOrderStatus(o.client_id, S.PARTIALLY_FILLED, 2 * LOT, 150.25, "B1", (lost, seen))
    broker.outbox.append(seen)
    om.drain()
    assert (o.state, o.filled_qty) == (S.PARTIALLY_FILLED, 2 * LOT)
    assert [f.fill_id for f in journal.fills] == ["E1", "E2"]
    assert "acknowledged (from order_status)" in [t.reason for t in journal.transitions]


def test_cancel_refused_for_an_order_we_think_is_working_resyncs_once():
    clock, broker, _, om, _ = _rig()
    o = om.place(_limit(quantity=2 * LOT))
    broker.answer(K.ACK, o.client_id)
    broker.fill(o.client_id, LOT, 150.0)  # X1
    om.drain()
    om.cancel(o.client_id, "test")
    lost = BrokerEvent(K.FILL, o.client_id, T0, quantity=LOT, price=150.0, exec_id="X-lost")
    first = BrokerEvent(K.FILL, o.client_id, T0, quantity=LOT, price=150.0, exec_id="X1")
    broker.status[o.client_id] = BrokerOrderStatus(o.client_id, S.FILLED, 2 * LOT, 150.0, "B1", (first, lost))
    broker.answer(K.CANCEL_REJECTED, o.client_id, reject_reason=RejectReason.NOT_WORKING)
    om.drain()
    assert (o.state, o.filled_qty) == (S.FILLED, 2 * LOT)
    clock.advance(T0 + timedelta(seconds=60))
    om.check_timers()
    assert broker.cancelled == [o.client_id]  # asked once, no loop of cancels


def test_cancel_before_any_ack_with_a_silent_broker_halts():
    _, broker, _, om, alerts = _rig()
    o = om.place(_limit())
    broker.answer(K.CANCELLED, o.client_id)
    om.drain()
    assert o.state is S.CANCELLED
    assert om.is_halted("s") and alerts[-1].level == "critical"


def test_reconcile_with_a_silent_broker_flags_unknown_after_the_ack_timeout():
    clock, broker, _, om, _ = _rig(ack_query_seconds=1.0, ack_timeout_seconds=5.0)
    o = om.place(_limit())
    broker.answer(K.ACK, o.client_id)
    om.drain()
    om2 = OrderManager.from_state(om.to_state(), broker, clock, ack_query_seconds=1.0, ack_timeout_seconds=5.0)
    om2.reconcile()  # the broker has no status for it (say, its order book was reset)
    assert not om2.is_unknown(o.client_id)
    clock.advance(T0 + timedelta(seconds=5))
    om2.check_timers()
    assert om2.is_unknown(o.client_id) and om2.is_halted("s")
