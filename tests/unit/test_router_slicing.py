"""Freeze-quantity slicing: whole-lot children strictly below the freeze limit, sizes from the specs."""

from __future__ import annotations

import math
from datetime import date

import pytest
from _execution_support import T0, Harness, ScriptedBroker, intent
from hypothesis import assume, given
from hypothesis import strategies as st

from optrunner.core.clock import SimClock
from optrunner.core.orders import OrderIntent
from optrunner.core.types import OrderState, Side, Tag
from optrunner.execution import (
    ExecutionPolicy,
    InvalidOrder,
    OrderManager,
    Router,
    slice_quantities,
    slices_for,
)
from optrunner.instruments.contracts import OptionContract

S = OrderState


def test_market_facts_example_2600_nifty_units():
    # 40 lots of 65 with freeze 1,800: max child 27 lots = 1,755 (28 lots = 1,820 is above)
    assert slice_quantities(2600, 65, 1800) == [1755, 845]


def test_freeze_is_strictly_below_by_default_and_inclusive_on_request():
    # lot 75, freeze 1,800 = 24 lots exactly: strict allows 23 lots per child
    assert slice_quantities(1800, 75, 1800) == [1725, 75]
    assert slice_quantities(1800, 75, 1800, freeze_inclusive=True) == [1800]
    assert slice_quantities(3600, 75, 1800, freeze_inclusive=True) == [1800, 1800]
    assert slice_quantities(3600, 75, 1800) == [1725, 1725, 150]


def test_below_the_freeze_is_one_order():
    assert slice_quantities(65, 65, 1800) == [65]
    assert slice_quantities(1755, 65, 1800) == [1755]


@pytest.mark.parametrize("qty", [0, -65, 100, 64, 66])
def test_non_lot_multiple_is_rejected(qty):
    with pytest.raises(InvalidOrder, match="multiple of the lot size 65"):
        slice_quantities(qty, 65, 1800)


def test_freeze_below_one_lot_is_rejected():
    with pytest.raises(InvalidOrder, match="even one lot"):
        slice_quantities(100, 100, 100)


@given(lots=st.integers(1, 2000), lot=st.integers(1, 200), freeze=st.integers(1, 20_000), inclusive=st.booleans())
def test_slices_sum_are_whole_lots_below_freeze_and_ceil_many(lots, lot, freeze, inclusive):
    assume((freeze if inclusive else freeze - 1) >= lot)
    qty = lots * lot
    out = slice_quantities(qty, lot, freeze, freeze_inclusive=inclusive)
    max_child = max(q for q in out)
    assert sum(out) == qty
    assert all(q % lot == 0 and q > 0 for q in out)
    assert all(q < freeze or (inclusive and q == freeze) for q in out)
    # max_child is the largest allowed lot multiple, so the count is ceil(qty / max_child)
    largest_allowed = ((freeze if inclusive else freeze - 1) // lot) * lot
    assert len(out) == math.ceil(qty / largest_allowed)
    assert max_child == min(largest_allowed, qty)


def test_lot_and_freeze_come_from_the_specs_by_expiry_and_trade_date():
    # NIFTY: lot 75 for contracts expiring before 2026, 65 from Jan 2026 expiries
    dec = OptionContract("NIFTY", date(2025, 12, 30), 25000, "CE")
    jan = OptionContract("NIFTY", date(2026, 1, 13), 25000, "CE")
    assert slices_for(dec, 2700, date(2025, 12, 1)) == [1725, 975]  # 23 lots of 75
    assert slices_for(jan, 2600, date(2025, 12, 1)) == [1755, 845]
    with pytest.raises(InvalidOrder, match=r"NIFTY:20251230:25000:CE: quantity 2600 .* lot size 75"):
        slices_for(dec, 2600, date(2025, 12, 1))
    # BANKNIFTY: freeze 900 until 2026-01-31, 600 from 2026-02-01 (lot 30)
    bn = OptionContract("BANKNIFTY", date(2026, 2, 24), 60000, "PE")
    assert slices_for(bn, 1200, date(2026, 1, 30)) == [870, 330]
    assert slices_for(bn, 1200, date(2026, 2, 2)) == [570, 570, 60]


def test_router_slices_with_deterministic_ids_and_fills_every_child():
    h = Harness()
    i = intent(Side.SELL, quantity=2600)
    orders = h.router.submit(i)
    h.om.drain()
    assert [(o.client_id, o.quantity, o.parent_id) for o in orders] == [
        ("s-000001-s1", 1755, "s-000001"),
        ("s-000001-s2", 845, "s-000001"),
    ]
    assert i.client_id == "s-000001"
    assert all(o.state is S.FILLED for o in orders)
    assert h.exchange.net_positions[("s", i.contract)] == -2600
    assert h.router.children("s-000001") == orders


def test_resubmitting_a_sliced_intent_does_not_duplicate():
    h = Harness()
    i = intent(Side.SELL, quantity=2600)
    first = h.router.submit(i)
    h.om.drain()
    again = h.router.submit(i)
    h.om.drain()
    assert again == first
    assert sum(h.exchange.accepted.values()) == 2
    assert h.exchange.net_positions[("s", i.contract)] == -2600


def test_router_rejects_a_non_lot_multiple_before_sending_anything():
    h = Harness()
    with pytest.raises(InvalidOrder, match="lot size 65"):
        h.router.submit(intent(quantity=100))
    assert h.om.orders() == [] and not h.exchange.accepted


@pytest.mark.parametrize("inclusive, expected", [(False, [870, 30]), (True, [900])])
def test_router_freeze_inclusive(inclusive, expected):
    # BANKNIFTY on 2026-01-05: lot 30, freeze 900 = exactly 30 lots
    clock = SimClock(T0)
    om = OrderManager(ScriptedBroker(clock), clock, default_policy=ExecutionPolicy(market_as_limit=False))
    bn = OptionContract("BANKNIFTY", date(2026, 1, 27), 60000, "CE")
    orders = Router(om, freeze_inclusive=inclusive).submit(OrderIntent("s", Tag.ENTRY, bn, Side.BUY, 900))
    assert [o.quantity for o in orders] == expected
