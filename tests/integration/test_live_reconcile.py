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


def test_an_order_cancelled_at_the_broker_halts_the_strategy(venue: Venue) -> None:
    kernel = trading(venue)
    broker_id = resting_order(kernel, venue)
    venue.cancel_by_hand(broker_id)
    kernel.om.drain()  # the next poll of the order book sees it
    assert kernel.om.is_halted("a") and not kernel.om.is_halted("b")
    msg = next(m for m in criticals(kernel) if "cancelled at the broker, not by us" in m)
    assert venue.call.id in msg and f"0/{venue.lot} filled" in msg
    assert kernel.reconciler.run("periodic") == []  # the books agree: the order is cancelled in ours too


def test_positions_that_do_not_parse_halt_every_strategy(venue: Venue) -> None:
    kernel = trading(venue)
    venue.fault_positions("500")  # once: a broker hiccup is retried, nobody halted
    assert kernel.reconciler.run("periodic") == []
    assert not kernel.om.is_halted("a") and kernel.reconciler.wanted == "periodic"
    venue.fault_positions("garbage")
    assert kernel.reconciler.run("periodic") == []
    assert kernel.om.is_halted("a") and kernel.om.is_halted("b")
    assert any("did not parse" in m and "every strategy halted" in m for m in criticals(kernel))
