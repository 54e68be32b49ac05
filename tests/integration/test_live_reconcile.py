"""Reconciliation against each live broker (issue 15): the kernel's book compared with the
positions, order book and trade book the adapter reads from the broker's fake over HTTP.

Per broker: matching books leave everyone trading; a position opened by hand, a fill our order
updates never showed and an order cancelled at the broker each halt the affected strategy (only
it) with a critical alert naming the contract and both quantities; positions that do not parse
halt every strategy (fail closed), a broker that fails once is retried, not halted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live_venues import Venue, open_venue

from optrunner.core.orders import OrderIntent
from optrunner.core.types import OrderType, Side, Tag
from optrunner.execution.brokers.live.wiring import attach_kernel
from optrunner.execution.reconcile import ACCOUNT_DIFFERS
from optrunner.kernel import Kernel

pytestmark = pytest.mark.slow


@pytest.fixture(params=["kite", "dhan", "shoonya"])
def venue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Venue]:
    v = open_venue(request.param, tmp_path)
    try:
        yield v
    finally:
        v.close()


def trading(v: Venue) -> Kernel:
    """A kernel on the live adapter where strategy "a" is short the call and "b" the put, both
    filled at the broker. Halted strategies hold (no flatten orders muddle the broker's book)."""
    kernel = Kernel(v.broker, v.clock, capital=10_000_000.0, log_alerts=False)
    kernel.safety.policy = "hold_and_alert"
    attach_kernel(v.broker, kernel)
    v.fake.fill_at_limit = True
    for name, contract in (("a", v.call), ("b", v.put)):
        kernel.router.submit(OrderIntent(name, Tag.ENTRY, contract, Side.SELL, v.lot, OrderType.LIMIT, 100.0))
    kernel.om.drain()
    assert kernel.portfolio.position("a", v.call).quantity == -v.lot
    assert kernel.portfolio.position("b", v.put).quantity == -v.lot
    return kernel


def criticals(kernel: Kernel) -> list[str]:
    return [a.message for a in kernel.alerts if a.level == "critical"]


def resting_order(kernel: Kernel, v: Venue) -> str:
    """Strategy "a" sells one more lot of the call at a limit the broker does not fill yet."""
    v.fake.fill_at_limit = False
    (order,) = kernel.router.submit(OrderIntent("a", Tag.ENTRY, v.call, Side.SELL, v.lot, OrderType.LIMIT, 100.0))
    kernel.om.drain()
    broker_id = order.broker_id
    assert broker_id, "the order reached the broker"
    return broker_id


def test_matching_books_do_not_halt(venue: Venue) -> None:
    kernel = trading(venue)
    assert kernel.reconciler.run("start") == []
    assert kernel.reconciler.run("periodic") == []
    assert not kernel.om.is_halted("a") and not kernel.om.is_halted("b")
    assert criticals(kernel) == []


def test_a_position_opened_by_hand_halts_its_holder(venue: Venue) -> None:
    kernel = trading(venue)
    venue.hand_trade(venue.call, "SELL", venue.lot)
    assert venue.net(venue.call) == -2 * venue.lot
    found = kernel.reconciler.run("periodic")
    assert [(d.contract, d.book, d.venue) for d in found if d.detail == ACCOUNT_DIFFERS] == [
        (venue.call.id, -venue.lot, -2 * venue.lot)]
    assert kernel.om.is_halted("a") and not kernel.om.is_halted("b")  # only the call's holder
    msg = next(m for m in criticals(kernel) if "account position differs" in m)
    assert venue.call.id in msg and f"book {-venue.lot:+d}" in msg and f"venue {-2 * venue.lot:+d}" in msg
    assert "halted: a" in msg
    assert any("unknown to the book" in m for m in criticals(kernel))  # the hand order itself
    before = len(kernel.alerts)
    assert kernel.reconciler.run("periodic") == []  # reported once, not every interval
    assert len(kernel.alerts) == before


def test_a_position_closed_by_hand_halts_its_holder_and_its_book_follows(venue: Venue) -> None:
    kernel = trading(venue)
    venue.hand_trade(venue.call, "BUY", venue.lot)  # someone closes a's short call at the broker
    assert venue.net(venue.call) == 0
    found = kernel.reconciler.run("periodic")
    assert [(d.contract, d.book, d.venue) for d in found if d.detail.startswith(ACCOUNT_DIFFERS)] == [
        (venue.call.id, -venue.lot, 0)]
    assert kernel.om.is_halted("a") and not kernel.om.is_halted("b")
    # a's book now holds what the broker does: a flatten of a would send nothing (no new position)
    assert kernel.portfolio.position("a", venue.call).quantity == 0
    msg = next(m for m in criticals(kernel) if "account position differs" in m)
    assert venue.call.id in msg and f"book {-venue.lot:+d}" in msg and "venue +0" in msg and "halted: a" in msg
    assert kernel.reconciler.run("periodic") == []


def test_a_fill_the_order_updates_missed_halts_the_strategy(venue: Venue) -> None:
    kernel = trading(venue)
    broker_id = resting_order(kernel, venue)
    venue.fill_unseen(broker_id)
    kernel.om.drain()  # the order book still shows the order working: nothing learnt
    assert kernel.portfolio.position("a", venue.call).quantity == -venue.lot
    kernel.reconciler.run("periodic")
    assert kernel.portfolio.position("a", venue.call).quantity == -2 * venue.lot  # read from the trade book
    assert kernel.om.is_halted("a") and not kernel.om.is_halted("b")
    msg = next(m for m in criticals(kernel) if "fill missed" in m)
    assert venue.call.id in msg and f"book {-venue.lot:+d}" in msg and f"venue {-2 * venue.lot:+d}" in msg


def test_fills_lost_in_a_crash_are_read_after_recovery_without_a_halt(venue: Venue) -> None:
    kernel = trading(venue)
    broker_id = resting_order(kernel, venue)
    venue.fill_unseen(broker_id)
    kernel.reconciler.run("after recovery")
    assert kernel.portfolio.position("a", venue.call).quantity == -2 * venue.lot
    assert not kernel.om.is_halted("a") and criticals(kernel) == []
    assert any("read from the trade book" in a.message and venue.call.id in a.message for a in kernel.alerts)


def test_an_order_cancelled_at_the_broker_halts_the_strategy(venue: Venue) -> None:
    kernel = trading(venue)
    broker_id = resting_order(kernel, venue)
    venue.cancel_by_hand(broker_id)
    kernel.om.drain()  # the next poll of the order book sees it
    assert kernel.om.is_halted("a") and not kernel.om.is_halted("b")
    msg = next(m for m in criticals(kernel) if "cancelled at the broker, not by us" in m)
    assert venue.call.id in msg and f"0/{venue.lot} filled" in msg
    assert kernel.reconciler.run("periodic") == []  # the books agree: the order is cancelled in ours too


def test_our_own_cancel_does_not_halt_even_when_confirmed_after_a_restart(venue: Venue) -> None:
    kernel = trading(venue)
    resting_order(kernel, venue)
    (order,) = kernel.om.open_orders("a")
    kernel.om.cancel(order.client_id)
    kernel.om.drain()
    assert str(kernel.om.get(order.client_id).state) == "CANCELLED"
    assert not kernel.om.is_halted("a") and not any("not by us" in m for m in criticals(kernel))
    # a cancel asked just before a restart, confirmed by the broker only after it
    second = resting_order(kernel, venue)
    (order,) = kernel.om.open_orders("a")
    kernel.om.cancel(order.client_id)
    assert kernel.om.cancelling() == {order.client_id}
    venue.cancel_by_hand(second)  # the broker cancels it, as asked
    halts: dict[str, list] = {"resumed": [], "forgot": []}
    for key, cancelling in (("resumed", kernel.om.cancelling()), ("forgot", set())):
        again = venue.reopen()
        again.on_halt = lambda s, why, key=key: halts[key].append((s, why))
        again.resume_orders(kernel.om.open_orders(), cancelling)
        again.poll()
        again.events()
    assert halts["resumed"] == []
    assert halts["forgot"] == [("a", f"{venue.name}: order {order.client_id} cancelled at the broker")]  # the control


def test_positions_that_do_not_parse_halt_every_strategy(venue: Venue) -> None:
    kernel = trading(venue)
    venue.fault_positions("500")  # once: a broker hiccup is retried, nobody halted
    assert kernel.reconciler.run("periodic") == []
    assert not kernel.om.is_halted("a") and any("tried again" in a.message for a in kernel.alerts)
    venue.fault_positions("garbage")
    assert kernel.reconciler.run("periodic") == []
    assert kernel.om.is_halted("a") and kernel.om.is_halted("b")
    assert any("did not parse" in m and "every strategy halted" in m for m in criticals(kernel))


def test_the_start_check_refuses_adopts_and_a_restart_keeps_what_was_adopted(venue: Venue, tmp_path: Path) -> None:
    """``serve --live``'s start check (live/adopt.py) on each broker: matching books pass; a
    position opened by hand refuses (with and without --adopt when no strategy is named); a
    fresh store adopts the strategy's own position by its client id, the hand position into the
    named strategy; a restart from that store finds the books matching."""
    from optrunner.backtest.commands import load_configs
    from optrunner.core.errors import RunFailed, UserError
    from optrunner.live.adopt import reconcile_at_start
    from optrunner.live.node import RECONCILIATION, TradingNode
    from optrunner.store import Store
    from service_cases import STRATEGY, make_case

    cfgs, _ = load_configs([make_case(tmp_path)[1]])

    def node(db: str, make=TradingNode):  # type: ignore[no-untyped-def]
        store = Store(f"sqlite:///{tmp_path / db}")
        store.create_schema()
        return make(cfgs, store, venue.broker, venue.clock, capital=10_000_000.0)
    first = node("first.sqlite")
    venue.fake.fill_at_limit = True
    first.kernel.router.submit(OrderIntent(STRATEGY, Tag.ENTRY, venue.call, Side.SELL, venue.lot, OrderType.LIMIT, 100.0))
    first.kernel.om.drain()
    assert reconcile_at_start(first, adopt=False, adopt_strategy=None, day=None) == []  # the books agree

    fresh = node("fresh.sqlite")  # the store was lost: the broker's position is SVC's by its order's client id
    lines = reconcile_at_start(fresh, adopt=True, adopt_strategy=None, day=None)
    assert lines == [f"adopted from {venue.name}: {STRATEGY} {venue.call.id} {-venue.lot:+d} @ 100"]
    venue.hand_trade(venue.put, "SELL", venue.lot)
    with pytest.raises(UserError) as refused:
        reconcile_at_start(fresh, adopt=False, adopt_strategy=None, day=None)
    assert f"{venue.put.id}: book +0, broker {-venue.lot:+d}" in str(refused.value) and "--adopt" in str(refused.value)
    with pytest.raises(UserError, match="no order of ours explains it"):
        reconcile_at_start(fresh, adopt=True, adopt_strategy=None, day=None)
    reconcile_at_start(fresh, adopt=True, adopt_strategy=STRATEGY, day=None)
    assert fresh.kernel.portfolio.position(STRATEGY, venue.put).quantity == -venue.lot
    assert [e.payload["contract"] for e in fresh.store.journal() if e.kind == RECONCILIATION] == [venue.call.id, venue.put.id]
    fresh.store.close()

    restarted = node("fresh.sqlite", TradingNode.recover)
    assert reconcile_at_start(restarted, adopt=False, adopt_strategy=None, day=None) == []
    assert not restarted.kernel.om.is_halted(STRATEGY)
    venue.fault_positions("garbage")  # fail closed: a broker answer that does not parse never goes live
    with pytest.raises(RunFailed, match="not going live"):
        reconcile_at_start(restarted, adopt=True, adopt_strategy=STRATEGY, day=None)
