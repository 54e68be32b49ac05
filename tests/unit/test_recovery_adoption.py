"""Orders that may have reached the broker before a crash: adopted from the broker, never resent.

Each test runs an order manager up to a "checkpoint" (its saved state), places an order whose
answers are then lost with the process, and restarts: a new order manager from the checkpoint
state, a paper broker reloaded from its file, the journaled order marked possibly sent, and the
same decision placed again (same intent, same restored id counter, so the same client id).
"""

from __future__ import annotations

import json
from datetime import timedelta

from _execution_support import LOT, NAN, T0, ScriptedBroker, chain, intent

from optrunner.core.clock import SimClock
from optrunner.core.events import AlertEvent, FillEvent, OrderUpdateEvent
from optrunner.core.types import OrderState, OrderType, Side
from optrunner.execution import MemoryJournal, OrderManager
from optrunner.execution.brokers import BrokerOrderStatus
from optrunner.live.paper_broker import PaperBroker
from optrunner.live.recovery import StoreJournal
from optrunner.store import Store

S = OrderState


def story(events):
    """What listeners saw: order states and fills, in order."""
    out = []
    for e in events:
        if isinstance(e, OrderUpdateEvent):
            out.append((e.order.client_id, e.order.state, e.order.filled_qty))
        elif isinstance(e, FillEvent):
            out.append((e.fill.fill_id, e.fill.quantity, e.fill.price))
    return out


class Session:
    """An order manager on a paper broker whose book lives in ``path``."""

    def __init__(self, path, clock, snap, state=None, journal=None):
        self.broker = PaperBroker(path, clock)
        self.broker.on_snapshot(snap)
        self.journal = journal if journal is not None else MemoryJournal()
        self.om = OrderManager(self.broker, clock, journal=self.journal)
        if state is not None:
            self.om.load_state(state)
        self.om.on_snapshot(snap)
        self.seen = []
        self.om.add_listener(self.seen.append)


def crash_after_submit(tmp_path, snap, qty=LOT):
    """Checkpoint, place, lose the answers. Returns (clock, checkpoint state, journaled orders, path)."""
    clock = SimClock(T0)
    path = tmp_path / "book.json"
    first = Session(path, clock, snap)
    checkpoint = json.loads(json.dumps(first.om.to_state()))
    first.om.place(intent(Side.BUY, qty))  # journaled, flushed, submitted; answers never read
    return clock, checkpoint, list(first.journal.orders.values()), path


def uninterrupted(tmp_path, snap, qty=LOT):
    s = Session(tmp_path / "ref.json", SimClock(T0), snap)
    s.om.place(intent(Side.BUY, qty))
    s.om.drain()
    return s


def test_an_order_the_broker_filled_is_adopted_with_its_fills_not_resent(tmp_path):
    snap = chain()
    clock, checkpoint, journaled, path = crash_after_submit(tmp_path, snap)
    assert [o.client_id for o in journaled] == ["s-000001"]
    again = Session(path, clock, snap, checkpoint)
    again.om.mark_possibly_sent(journaled)
    again.om.place(intent(Side.BUY, LOT))
    again.om.drain()
    assert again.broker.accepted == {"s-000001": 1}  # not sent a second time
    assert again.om.counters["adopted"] == 1
    ref = uninterrupted(tmp_path, snap)
    assert story(again.seen) == story(ref.seen) == [
        ("s-000001", S.NEW, 0), ("s-000001", S.SUBMITTED, 0), ("s-000001", S.ACCEPTED, 0),
        ("sim-E00000001", LOT, 151.0), ("s-000001", S.FILLED, LOT),
    ]  # fmt: skip


def test_a_partly_filled_order_is_adopted_and_keeps_working(tmp_path):
    snap = chain(c25000=(150.0, 151.0, 150.5, NAN, LOT))  # one lot shown
    clock, checkpoint, journaled, path = crash_after_submit(tmp_path, snap, qty=3 * LOT)
    again = Session(path, clock, snap, checkpoint)
    again.om.mark_possibly_sent(journaled)
    again.om.place(intent(Side.BUY, 3 * LOT))
    again.om.drain()
    o = again.om.get("s-000001")
    assert (o.state, o.filled_qty) == (S.PARTIALLY_FILLED, LOT)
    nxt = chain(
        T0 + timedelta(seconds=1)
    )  # unlimited size: the rest trades through the usual outbox
    clock.advance(nxt.ts)
    again.broker.on_snapshot(nxt)
    again.om.on_snapshot(nxt)
    again.om.check_timers()
    assert (o.state, o.filled_qty) == (S.FILLED, 3 * LOT)
    assert [f[0] for f in story(again.seen) if f[0].startswith("sim-")] == [
        "sim-E00000001",
        "sim-E00000002",
    ]
    assert again.broker.accepted == {"s-000001": 1}


def test_a_modify_whose_answer_was_lost_shows_in_the_resynced_order(tmp_path):
    """The order rested at the checkpoint; the crashed process repriced it and the broker
    filled it at the new limit. order_status reports the limit, so the record is not left
    claiming a buy limited at 140 filled at 150.5."""
    snap = chain()
    clock = SimClock(T0)
    path = tmp_path / "book.json"
    first = Session(path, clock, snap)
    first.om.place(intent(Side.BUY, LOT, order_type=OrderType.LIMIT, limit=140.0))
    first.om.drain()
    checkpoint = json.loads(json.dumps(first.om.to_state()))
    nxt = chain(T0 + timedelta(seconds=60), c25000=(150.0, 150.5, 150.2, NAN, NAN))
    clock.advance(nxt.ts)
    first.broker.on_snapshot(nxt)
    first.om.on_snapshot(nxt)
    first.om.modify("s-000001", 150.5)  # executed at the broker; the answers die with the process
    again = Session(path, clock, nxt, checkpoint)
    again.om.reconcile()
    o = again.om.get("s-000001")
    assert (o.state, o.limit_price, o.filled_qty, o.avg_price) == (S.FILLED, 150.5, LOT, 150.5)
    assert again.broker.accepted == {"s-000001": 1}


def test_an_order_the_broker_never_got_is_sent_normally(tmp_path):
    """The crash came between the journal flush and the submission."""
    clock = SimClock(T0)
    snap = chain()
    lost = OrderManager(
        ScriptedBroker(clock), clock, journal=MemoryJournal()
    )  # its submission goes nowhere
    lost.on_snapshot(snap)
    checkpoint = lost.to_state()
    lost.place(intent(Side.BUY, LOT))
    again = Session(tmp_path / "book.json", clock, snap, checkpoint)
    again.om.mark_possibly_sent([lost.get("s-000001")])
    again.om.place(intent(Side.BUY, LOT))
    again.om.drain()
    assert again.broker.accepted == {"s-000001": 1}
    assert again.om.get("s-000001").state is S.FILLED and again.om.counters["adopted"] == 0


def test_when_the_broker_cannot_say_nothing_is_sent_and_the_order_goes_unknown():
    class Flaky(ScriptedBroker):
        def order_status(self, client_id):
            raise TimeoutError("broker API down")

    clock = SimClock(T0)
    broker = Flaky(clock)
    om = OrderManager(broker, clock, ack_query_seconds=1, ack_timeout_seconds=5)
    om.on_snapshot(chain())
    journaled = OrderManager(ScriptedBroker(clock), clock)
    journaled.on_snapshot(chain())
    journaled.place(intent(Side.BUY, LOT))
    om.mark_possibly_sent([journaled.get("s-000001")])
    om.place(intent(Side.BUY, LOT))
    assert broker.submitted == [] and om.get("s-000001").state is S.SUBMITTED
    clock.advance(T0 + timedelta(seconds=6))
    om.check_timers()
    assert om.is_unknown("s-000001") and om.is_halted("s") and broker.submitted == []


def test_a_different_order_under_a_journaled_id_is_refused_and_halts():
    clock = SimClock(T0)
    broker = ScriptedBroker(clock)
    om = OrderManager(broker, clock)
    om.on_snapshot(chain())
    before = OrderManager(ScriptedBroker(clock), clock)
    before.on_snapshot(chain())
    before.place(intent(Side.SELL, LOT, 25200.0))  # what the crashed process sent as s-000001
    broker.status["s-000001"] = BrokerOrderStatus("s-000001", S.ACCEPTED, broker_id="B1")
    om.mark_possibly_sent([before.get("s-000001")])
    alerts = []
    om.add_listener(lambda e: alerts.append(e) if isinstance(e, AlertEvent) else None)
    om.place(intent(Side.BUY, LOT))  # the replay decided something else
    assert broker.submitted == []
    o = om.get("s-000001")
    assert o.state is S.REJECTED and "25200" in o.reason and om.is_halted("s")
    assert any(a.level == "critical" and "s-000001" in a.message for a in alerts)


def test_orphans_are_adopted_when_at_the_broker_and_closed_when_not(tmp_path):
    snap = chain()
    clock, checkpoint, journaled, path = crash_after_submit(tmp_path, snap)
    never_sent = OrderManager(ScriptedBroker(clock), clock)
    never_sent.on_snapshot(snap)
    never_sent.place(intent(Side.SELL, LOT, strategy="t"))
    again = Session(path, clock, snap, checkpoint)
    again.om.mark_possibly_sent([*journaled, never_sent.get("t-000001")])
    assert sorted(again.om.adopt_orphans()) == ["s-000001", "t-000001"]  # the replay placed neither
    again.om.drain()
    adopted, closed = again.om.get("s-000001"), again.om.get("t-000001")
    assert (adopted.state, adopted.filled_qty, adopted.avg_price) == (S.FILLED, LOT, 151.0)
    assert ("sim-E00000001", LOT, 151.0) in story(
        again.seen
    )  # its fill reaches the portfolio's listener
    assert again.om.is_halted("s") and not again.om.is_halted("t")
    assert closed.state is S.REJECTED and "never sent" in closed.reason
    assert (
        again.om.ids.next("s") == "s-000002" and again.om.ids.next("t") == "t-000002"
    )  # ids not reused
    assert again.broker.accepted == {"s-000001": 1}


def test_a_fill_already_in_the_store_is_not_saved_twice(tmp_path):
    """Crash after the fill was journaled but before the checkpoint: the adopted order's fill
    comes again under the same id; the store keeps one and keeps working."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = Store(url)
    store.create_schema()
    snap = chain()
    clock = SimClock(T0)
    path = tmp_path / "book.json"
    first = Session(path, clock, snap, journal=StoreJournal(store))
    checkpoint = json.loads(json.dumps(first.om.to_state()))
    first.om.place(intent(Side.BUY, LOT))
    first.om.drain()  # fill journaled and committed
    assert [f.fill_id for f in store.load_fills()] == ["sim-E00000001"]
    journal = StoreJournal(store, store.load_fills())
    again = Session(path, clock, snap, checkpoint, journal=journal)
    again.om.mark_possibly_sent(store.load_orders())
    again.om.place(intent(Side.BUY, LOT))
    again.om.drain()
    assert journal.skipped == 1
    assert [(f.fill_id, f.quantity, f.price) for f in store.load_fills()] == [
        ("sim-E00000001", LOT, 151.0)
    ]
    assert again.om.get("s-000001").state is S.FILLED and again.broker.accepted == {"s-000001": 1}
    assert store.load_orders()[0].state is S.FILLED
    store.close()
