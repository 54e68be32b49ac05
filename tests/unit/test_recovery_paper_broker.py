"""The simulated exchange's book across a restart, and the paper broker that keeps it on disk."""

from __future__ import annotations

import json
from datetime import time, timedelta

import pytest
from _execution_support import EXPIRY, LOT, NAN, T0, chain, contract, intent

from optrunner.core.clock import SimClock
from optrunner.core.orders import Order
from optrunner.core.timeutil import ist
from optrunner.core.types import OrderState, OrderType, Side, Tag
from optrunner.execution import OrderManager
from optrunner.execution.brokers import BrokerEventKind, SimConfig, SimulatedExchange
from optrunner.live.paper_broker import CrashPoint, PaperBroker

K = BrokerEventKind
S = OrderState


def order(cid: str, side: Side = Side.BUY, qty: int = LOT, strike: float = 25000.0, right: str = "CE",
          limit: float | None = None, strategy: str = "s") -> Order:  # fmt: skip
    kind = OrderType.MARKET if limit is None else OrderType.LIMIT
    return Order(
        cid,
        strategy,
        Tag.ENTRY,
        contract(strike, right),
        side,
        qty,
        order_type=kind,
        limit_price=limit,
    )


def at(seconds: float, **quotes):
    return chain(T0 + timedelta(seconds=seconds), **quotes)


def busy_exchange(clock: SimClock) -> SimulatedExchange:
    """Working, partly filled, filled, rejected and cancelled orders, positions, taken size."""
    ex = SimulatedExchange(clock, SimConfig(latency_ms=0))
    ex.on_snapshot(at(0, c25000=(150.0, 151.0, 150.5, NAN, 2 * LOT)))
    ex.submit(order("filled", qty=LOT))  # takes 1 of the 2 lots shown
    ex.submit(order("partial", qty=3 * LOT))  # gets the other lot, 2 keep working
    ex.submit(order("resting", Side.SELL, limit=160.0))  # above the bid: rests
    ex.submit(order("rejected", qty=LOT + 1))  # not a lot multiple
    ex.submit(order("cancelled", limit=100.0))
    ex.cancel("cancelled")
    ex.events()
    return ex


def test_exchange_state_round_trips_through_json():
    clock = SimClock(T0)
    ex = busy_exchange(clock)
    state = json.loads(json.dumps(ex.to_state(), allow_nan=False))
    again = SimulatedExchange.from_state(state, clock, SimConfig(latency_ms=0))
    assert again.to_state() == ex.to_state()
    assert again.order_status("partial") == ex.order_status("partial")
    assert (again.order_status("partial").state, again.order_status("partial").filled_qty) == (
        S.PARTIALLY_FILLED,
        LOT,
    )
    assert again.order_status("rejected").state is S.REJECTED
    assert again.accepted == ex.accepted and again.net_positions == ex.net_positions == {
        ("s", contract()): 2 * LOT
    }


def test_a_restored_exchange_trades_on_exactly_like_the_original():
    clock = SimClock(T0)
    ex = busy_exchange(clock)
    again = SimulatedExchange.from_state(ex.to_state(), clock, SimConfig(latency_ms=0))
    later = at(
        60, c25000=(161.0, 162.0, 161.5, NAN, NAN)
    )  # the rest of "partial" and "resting" trade
    clock.advance(later.ts)
    for x in (ex, again):
        x.on_snapshot(later)
        x.submit(order("next", Side.SELL))
        x.end_of_day(T0.date())
    assert again.events() == ex.events()
    assert again.to_state() == ex.to_state()
    fills = {
        e.client_id: (e.quantity, e.price)
        for e in again.executions
        if e.client_id in ("partial", "resting")
    }
    assert fills == {"partial": (2 * LOT, 162.0), "resting": (LOT, 161.0)}


def test_the_same_snapshot_again_only_becomes_current():
    """After a restart the kernel feeds the interrupted snapshot again: orders already worked
    against it must not trade twice, and the size they took stays taken."""
    clock = SimClock(T0)
    ex = SimulatedExchange(clock)
    snap = at(0, c25000=(150.0, 151.0, 150.5, NAN, 2 * LOT))
    ex.on_snapshot(snap)
    ex.submit(order("a", qty=3 * LOT))
    ex.events()
    again = SimulatedExchange.from_state(ex.to_state(), clock)
    again.on_snapshot(
        at(0, c25000=(150.0, 151.0, 150.5, NAN, 2 * LOT))
    )  # a fresh copy of the same snapshot
    assert again.events() == [] and again.order_status("a").filled_qty == 2 * LOT
    again.submit(order("b"))  # priced off the current snapshot, whose shown size is used up
    assert [e.kind for e in again.events()] == [K.ACK]
    nxt = at(1, c25000=(150.0, 151.0, 150.5, NAN, NAN))
    clock.advance(nxt.ts)
    again.on_snapshot(nxt)  # a new snapshot trades as usual
    assert [(e.client_id, e.quantity) for e in again.events()] == [("a", LOT), ("b", LOT)]


def test_an_older_snapshot_is_ignored():
    """A restarted node shows its checkpoint's snapshot again; the broker may already be past it."""
    clock = SimClock(T0)
    ex = SimulatedExchange(clock)
    ex.on_snapshot(at(0))
    ex.submit(order("w", limit=140.0))  # rests
    newer = at(60, c25000=(145.0, 146.0, 145.5, NAN, NAN))
    clock.advance(newer.ts)
    ex.on_snapshot(newer)
    ex.events()
    ex.on_snapshot(at(30, c25000=(138.0, 139.0, 138.5, NAN, NAN)))  # would fill "w" were it current
    assert ex.events() == [] and ex.order_status("w").filled_qty == 0
    ex.submit(order("m"))  # still priced off the newer snapshot
    assert [(e.kind, e.price) for e in ex.events()] == [(K.ACK, 0.0), (K.FILL, 146.0)]


def test_a_mismatched_exchange_name_is_refused():
    clock = SimClock(T0)
    with pytest.raises(ValueError, match="'sim'"):
        SimulatedExchange.from_state(
            busy_exchange(clock).to_state(), clock, SimConfig(name="other")
        )


# --- the paper broker -------------------------------------------------------------------------


def test_paper_broker_book_survives_a_restart_but_unread_answers_do_not(tmp_path):
    clock = SimClock(T0)
    path = tmp_path / "book.json"
    broker = PaperBroker(path, clock)
    broker.on_snapshot(chain())
    broker.submit(order("x", qty=2 * LOT))
    assert broker.saves == 1 and not list(tmp_path.glob("*.tmp"))
    restarted = PaperBroker(path, clock)  # the answers to "x" were never read
    assert restarted.events() == []
    st = restarted.order_status("x")
    assert (st.state, st.filled_qty, st.avg_price) == (S.FILLED, 2 * LOT, 151.0)
    assert [(f.exec_id, f.quantity, f.price) for f in st.fills] == [
        ("sim-E00000001", 2 * LOT, 151.0)
    ]
    assert restarted.accepted["x"] == 1 and restarted.net_positions == {("s", contract()): 2 * LOT}


def test_paper_broker_does_not_write_for_snapshots_that_change_nothing(tmp_path):
    clock = SimClock(T0)
    broker = PaperBroker(tmp_path / "book.json", clock)
    broker.on_snapshot(chain())
    assert broker.saves == 0 and not (tmp_path / "book.json").exists()
    broker.submit(order("w", limit=140.0))  # rests below the ask
    nxt = at(1, c25000=(138.0, 139.0, 138.5, NAN, NAN))
    clock.advance(nxt.ts)
    broker.on_snapshot(nxt)  # executes "w": written before the fill can be read
    assert broker.saves == 2
    assert PaperBroker(tmp_path / "book.json", clock).order_status("w").state is S.FILLED


def test_requests_sent_back_to_back_share_one_write_before_their_answers(tmp_path):
    clock = SimClock(T0)
    path = tmp_path / "book.json"
    broker = PaperBroker(path, clock)
    broker.on_snapshot(chain())
    with broker.batch():  # an emergency stop's flatten orders, sent by the order manager together
        for i in range(80):
            broker.submit(order(f"f{i}"))
        assert broker.saves == 0 and not path.exists()
    assert broker.saves == 1
    assert PaperBroker(path, clock).accepted == broker.accepted  # all on disk before an answer is read
    assert len({e.client_id for e in broker.events()}) == 80
    broker.submit(order("alone"))  # outside a batch: written at once
    assert broker.saves == 2


def test_the_order_manager_sends_a_batch_of_placements_with_one_write(tmp_path):
    clock = SimClock(T0)
    broker = PaperBroker(tmp_path / "book.json", clock)
    snap = chain()
    broker.on_snapshot(snap)
    om = OrderManager(broker, clock)
    om.on_snapshot(snap)
    with om.batch():  # as the flatten pass places its exits
        for side, right in ((Side.SELL, "CE"), (Side.SELL, "PE"), (Side.BUY, "CE"), (Side.BUY, "PE")):
            om.place(intent(side, LOT, 25000.0, right))
    om.drain()
    assert sum(broker.accepted.values()) == 4 and broker.saves == 1


def test_closing_a_closed_session_publishes_its_settlements_again(tmp_path):
    day = EXPIRY
    clock = SimClock(ist(day, time(10, 0)))
    path = tmp_path / "book.json"
    broker = PaperBroker(path, clock)
    broker.on_snapshot(chain(clock.now()))
    broker.submit(order("long"))
    broker.events()
    broker.end_of_day(day)
    settled = [e for e in broker.events() if e.kind is K.SETTLEMENT]
    assert [(e.side, e.quantity, e.price) for e in settled] == [
        (Side.SELL, LOT, 10.0)
    ]  # spot 25010 - 25000
    restarted = PaperBroker(path, clock)  # crashed before reading the settlement
    restarted.end_of_day(day)
    assert restarted.events() == settled


def test_unreadable_broker_state_is_reported_with_its_path(tmp_path):
    path = tmp_path / "book.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"book\.json"):
        PaperBroker(path, SimClock(T0))


def test_crash_point_spec_is_checked():
    assert CrashPoint(None).point is None
    assert (CrashPoint("accepted:3").point, CrashPoint("accepted:3").n) == ("accepted", 3)
    for bad in ("accepted", "nowhere:1", "submit:0", "submit:x"):
        with pytest.raises(ValueError, match="OPTRUNNER_TEST_CRASH"):
            CrashPoint(bad)
