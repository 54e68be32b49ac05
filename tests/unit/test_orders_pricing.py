"""Marketable-limit pricing, resting-order timeouts (cancel / reprice) and the rate limiter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from _execution_support import NAN, T0, Harness, intent
from hypothesis import given
from hypothesis import strategies as st

from optrunner.core.types import OrderState, OrderType, Side
from optrunner.execution import (
    ExecutionPolicy,
    ExponentialBackoff,
    TokenBucket,
    marketable_limit_price,
)

S = OrderState
TICK = 0.05


@pytest.mark.parametrize(
    "side, bid, ask, ltp, pct, expected",
    [
        (Side.BUY, 150.0, 151.0, 150.5, 2.0, 154.00),  # 154.02 -> down to the tick
        (Side.BUY, 99.0, 100.0, 99.5, 0.0, 100.00),
        (Side.SELL, 150.0, 151.0, 150.5, 2.0, 147.00),
        (Side.SELL, 151.35, 152.0, 151.5, 2.0, 148.35),  # 148.323 -> up to the tick
        (Side.SELL, 0.10, 0.15, 0.10, 60.0, 0.05),  # 0.04 -> up -> 0.05, never below a tick
        (Side.BUY, 79.0, NAN, 80.0, 2.0, 81.60),  # no ask: from the LTP
        (Side.SELL, 0.0, 81.0, 80.0, 2.0, 78.40),  # no bid (0): from the LTP
        (Side.BUY, NAN, NAN, NAN, 2.0, None),
        (Side.SELL, -1.0, NAN, 0.0, 2.0, None),
    ],
)
def test_marketable_limit_price(side, bid, ask, ltp, pct, expected):
    got = marketable_limit_price(side, bid, ask, ltp, pct, TICK)
    assert got == expected


@given(ticks=st.integers(1, 100_000), pct=st.floats(0.0, 20.0))
def test_marketable_limit_is_on_tick_at_or_through_the_touch_and_within_the_buffer(ticks, pct):
    touch = round(ticks * TICK, 2)
    buy = marketable_limit_price(Side.BUY, NAN, touch, NAN, pct, TICK)
    sell = marketable_limit_price(Side.SELL, touch, NAN, NAN, pct, TICK)
    for p in (buy, sell):
        assert abs(p / TICK - round(p / TICK)) < 1e-6
    assert touch <= buy <= touch * (1 + pct / 100) + 1e-9
    assert sell <= touch and (sell >= touch * (1 - pct / 100) - 1e-9 or sell == TICK)


def test_market_intent_goes_out_as_a_marketable_limit_and_fills_at_the_touch():
    h = Harness()
    o = h.place(intent(Side.SELL))
    assert (o.order_type, o.limit_price) == (OrderType.LIMIT, 147.0)  # bid 150 x 0.98
    assert (o.state, o.avg_price) == (S.FILLED, 150.0)


def test_plain_market_when_the_policy_says_so():
    h = Harness(policy=ExecutionPolicy(market_as_limit=False))
    o = h.place(intent(Side.BUY))
    assert (o.order_type, o.limit_price, o.avg_price) == (OrderType.MARKET, None, 151.0)


def test_no_quote_means_a_local_reject_that_does_not_consume_the_id():
    h = Harness()
    i = intent(Side.BUY, strike=26000.0)  # not in the chain the order manager was given
    o = h.place(i)
    assert o.state is S.REJECTED and "no quote" in o.reason
    assert h.exchange.accepted[o.client_id] == 0
    h.at(1, c26000=(20.0, 20.5, 20.2, NAN, NAN))
    assert h.place(i) is o
    assert (o.state, o.avg_price) == (S.FILLED, 20.5)


def test_timeout_cancels_a_resting_order():
    h = Harness(policy=ExecutionPolicy(timeout_seconds=30))
    o = h.place(intent(Side.BUY, order_type=OrderType.LIMIT, limit=140.0))
    h.at(29)
    assert o.state is S.ACCEPTED
    h.at(30)
    assert o.state is S.CANCELLED
    assert any("unfilled after 30" in t.reason for t in h.journal.transitions)


def test_timeout_reprice_to_the_marketable_price_fills():
    h = Harness(policy=ExecutionPolicy(timeout_seconds=30, on_timeout="reprice", price_limit_percent=0.0))
    o = h.place(intent(Side.BUY, order_type=OrderType.LIMIT, limit=140.0))
    h.at(30)
    assert (o.state, o.limit_price, o.avg_price) == (S.FILLED, 151.0, 151.0)


def test_reprice_at_most_max_reprices_then_cancel():
    pol = ExecutionPolicy(timeout_seconds=10, on_timeout="reprice", max_reprices=2, price_limit_percent=0.0)
    h = Harness(policy=pol)
    o = h.place(intent(Side.BUY, order_type=OrderType.LIMIT, limit=140.0))
    for s, ask in ((10, 152.0), (20, 153.0), (30, 154.0)):
        h.at(s, c25000=(150.0, ask, 150.5, 0.0, 0.0))  # quoted, but nothing shown to take
    modified = [e for e in h.journal.transitions if e.reason.startswith("modified")]
    assert [m.reason for m in modified] == ["modified: limit 140.0 -> 152.0", "modified: limit 152.0 -> 153.0"]
    assert o.state is S.CANCELLED


def test_token_bucket_spaces_requests_without_sleeping():
    h = Harness(rate_limit=TokenBucket(rate=2.0, burst=2))
    with h.om.batch():
        orders = [h.om.place(intent(Side.BUY, strategy=f"s{k}")) for k in range(5)]
    assert [o.state for o in orders] == [S.SUBMITTED] * 2 + [S.NEW] * 3
    assert h.om.next_wakeup() == T0 + timedelta(seconds=0.5)
    h.at(0.5)
    assert [o.state for o in orders] == [S.FILLED] * 3 + [S.NEW] * 2
    h.at(1.5)
    assert all(o.state is S.FILLED for o in orders)


def test_token_bucket_refill_and_backoff_schedule():
    b = TokenBucket(rate=10.0, burst=3)
    assert [b.try_acquire(T0) for _ in range(4)] == [True, True, True, False]
    assert b.next_available(T0) == T0 + timedelta(seconds=0.1)
    assert b.try_acquire(T0 + timedelta(seconds=0.1))
    assert not b.try_acquire(T0 + timedelta(seconds=0.1))
    assert b.try_acquire(T0 + timedelta(seconds=10))  # refilled, capped at the burst
    assert [ExponentialBackoff().delay(a) for a in range(1, 8)] == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, burst=1)


def test_policy_validation_names_every_problem():
    with pytest.raises(ValueError) as err:
        ExecutionPolicy(price_limit_percent=-1, timeout_seconds=0, on_timeout="wait", max_reprices=-2)
    msg = str(err.value)
    for field in ("price_limit_percent", "timeout_seconds", "on_timeout", "max_reprices"):
        assert field in msg


def test_modify_of_an_order_that_is_not_a_resting_limit_is_refused():
    h = Harness()
    o = h.place(intent(Side.BUY))
    with pytest.raises(ValueError, match="cannot be modified"):
        h.om.modify(o.client_id, 150.0)
    assert not any(t.reason.startswith("modify") for t in h.journal.transitions)
