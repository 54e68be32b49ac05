"""The simulated exchange against hand-computed fills, rejects, expiry and settlement."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta

import pytest
from _execution_support import DAY, EXPIRY, LOT, NAN, T0, chain, contract, intent

from optrunner.core.clock import SimClock
from optrunner.core.events import FillEvent
from optrunner.core.orders import Order
from optrunner.core.timeutil import ist
from optrunner.core.types import OrderState, OrderType, Side, Tag
from optrunner.execution import OrderManager
from optrunner.execution.brokers import (
    BrokerEventKind,
    FaultConfig,
    FaultInjector,
    RejectReason,
    SimConfig,
    SimulatedExchange,
)

K = BrokerEventKind
S = OrderState
_ids = itertools.count(1)


def order(side=Side.BUY, qty=LOT, strike=25000.0, right="CE", *, type_=OrderType.MARKET, limit=None,
          trigger=None, expiry=EXPIRY, strategy="s") -> Order:  # fmt: skip
    return Order(f"o{next(_ids)}", strategy, Tag.ENTRY, contract(strike, right, expiry), side, qty,
                 order_type=type_, limit_price=limit, trigger_price=trigger)  # fmt: skip


def exchange(ts: datetime = T0, config: SimConfig | None = None, faults=None, **quotes):
    clock = SimClock(ts)
    ex = SimulatedExchange(clock, config, faults)
    ex.on_snapshot(chain(ts, **quotes))
    return clock, ex


def fills(events):
    return [(e.quantity, e.price) for e in events if e.kind is K.FILL]


def feed(clock, ex, seconds, **quotes):
    snap = chain(T0 + timedelta(seconds=seconds), **quotes)
    clock.advance(snap.ts)
    ex.on_snapshot(snap)


# --- prices -----------------------------------------------------------------------------------


def test_buys_fill_at_the_ask_and_sells_at_the_bid():
    _, ex = exchange()
    b, s = order(Side.BUY), order(Side.SELL)
    ex.submit(b)
    ex.submit(s)
    evs = ex.events()
    assert [(e.kind, e.client_id) for e in evs] == [(K.ACK, b.client_id), (K.FILL, b.client_id),
                                                     (K.ACK, s.client_id), (K.FILL, s.client_id)]  # fmt: skip
    assert fills(evs) == [(LOT, 151.0), (LOT, 150.0)]


@pytest.mark.parametrize(
    "ltp, side, expected",
    [
        (100.0, Side.BUY, 100.5),  # half-spread 0.5 % of 100 = 0.50 (> 1 tick)
        (100.0, Side.SELL, 99.5),
        (2.0, Side.BUY, 2.05),  # 0.5 % of 2 = 0.01 < 1 tick: one tick
        (2.0, Side.SELL, 1.95),
        (100.02, Side.BUY, 100.55),  # 100.52 rounded against the buyer
        (100.02, Side.SELL, 99.50),  # 99.52 rounded against the seller
    ],
)
def test_missing_quote_side_is_ltp_plus_minus_a_modelled_half_spread(ltp, side, expected):
    _, ex = exchange(c25000=(NAN, 0.0, ltp, 10.0, 10.0))  # no bid (NaN), no ask (0): sizes ignored
    ex.submit(order(side, 2 * LOT))
    assert fills(ex.events()) == [(2 * LOT, expected)]


def test_no_price_at_all_rests_until_one_appears():
    clock, ex = exchange(c25000=(NAN, NAN, NAN, NAN, NAN))
    o = order()
    ex.submit(o)
    assert [e.kind for e in ex.events()] == [K.ACK]
    feed(clock, ex, 60)
    assert fills(ex.events()) == [(LOT, 151.0)]


@pytest.mark.parametrize(
    "config, side, expected",
    [
        (SimConfig(slippage_ticks=2), Side.BUY, 151.10),
        (SimConfig(slippage_ticks=2), Side.SELL, 149.90),
        (SimConfig(slippage_pct=1.0), Side.BUY, 152.55),  # 151 + 1.51 = 152.51 -> up
        (SimConfig(slippage_pct=1.0), Side.SELL, 148.50),  # 150 - 1.50
    ],
)
def test_slippage_goes_against_the_trader_on_the_tick(config, side, expected):
    _, ex = exchange(config=config)
    ex.submit(order(side))
    assert fills(ex.events()) == [(LOT, expected)]


def test_limit_orders_fill_only_when_marketable_at_the_better_price():
    clock, ex = exchange()
    buy = order(Side.BUY, type_=OrderType.LIMIT, limit=150.0)
    sell = order(Side.SELL, type_=OrderType.LIMIT, limit=151.0)
    ex.submit(buy)
    ex.submit(sell)
    assert fills(ex.events()) == []
    feed(clock, ex, 1, c25000=(152.0, 149.5, 150.0, NAN, NAN))  # crossed quotes: both marketable
    evs = ex.events()
    assert [(e.client_id, e.price) for e in evs] == [(buy.client_id, 149.5), (sell.client_id, 152.0)]


def test_slippage_never_takes_a_limit_order_through_its_limit():
    _, ex = exchange(config=SimConfig(slippage_ticks=2), c25000=(150.0, 150.0, 150.0, NAN, NAN))
    ex.submit(order(Side.BUY, type_=OrderType.LIMIT, limit=150.05))
    assert fills(ex.events()) == [(LOT, 150.05)]


def test_stop_orders_trigger_on_the_trade_price():
    clock, ex = exchange()
    stop_sell = order(Side.SELL, type_=OrderType.SL_M, trigger=140.0)
    stop_buy = order(Side.BUY, type_=OrderType.SL, trigger=160.0, limit=162.0)
    ex.submit(stop_sell)
    ex.submit(stop_buy)
    assert fills(ex.events()) == []  # LTP 150.5: neither crossed
    feed(clock, ex, 1, c25000=(139.0, 140.0, 139.5, NAN, NAN))
    assert fills(ex.events()) == [(LOT, 139.0)]  # SL-M: at the bid once triggered
    feed(clock, ex, 2, c25000=(160.5, 163.0, 161.0, NAN, NAN))
    assert fills(ex.events()) == []  # SL triggered, but the ask is above its limit
    feed(clock, ex, 3, c25000=(159.0, 162.0, 158.0, NAN, NAN))
    assert fills(ex.events()) == [(LOT, 162.0)]  # already triggered: works as a limit


def test_latency_fills_at_the_first_snapshot_at_or_after_it():
    clock, ex = exchange(config=SimConfig(latency_ms=500))
    ex.submit(order())
    assert [e.kind for e in ex.events()] == [K.ACK]
    feed(clock, ex, 0.3, c25000=(150.0, 151.5, 150.5, NAN, NAN))
    assert fills(ex.events()) == []
    feed(clock, ex, 0.5, c25000=(150.0, 152.0, 150.5, NAN, NAN))
    assert fills(ex.events()) == [(LOT, 152.0)]


def test_zero_latency_fills_against_the_snapshot_the_strategy_saw():
    clock, ex = exchange()
    clock.advance(T0 + timedelta(seconds=20))  # no newer snapshot yet
    ex.submit(order())
    assert fills(ex.events()) == [(LOT, 151.0)]


def test_partial_fills_against_displayed_size_in_whole_lots():
    clock, ex = exchange(c25000=(150.0, 151.0, 150.5, NAN, 130.0))
    o = order(qty=4 * LOT)
    ex.submit(o)
    assert fills(ex.events()) == [(130, 151.0)]
    feed(clock, ex, 1, c25000=(150.0, 151.5, 150.5, NAN, 100.0))  # 100 shown = 1 whole lot
    assert fills(ex.events()) == [(65, 151.5)]
    feed(clock, ex, 2)  # NaN size: unlimited
    assert fills(ex.events()) == [(65, 151.0)]
    status = ex.order_status(o.client_id)
    assert (status.state, status.filled_qty) == (S.FILLED, 260)
    assert status.avg_price == pytest.approx((130 * 151.0 + 65 * 151.5 + 65 * 151.0) / 260)


def test_displayed_size_taken_by_one_order_is_gone_for_that_snapshot():
    clock, ex = exchange(c25000=(150.0, 151.0, 150.5, NAN, 65.0))
    a, b = order(), order()
    ex.submit(a)
    ex.submit(b)
    assert [e.client_id for e in ex.events() if e.kind is K.FILL] == [a.client_id]
    feed(clock, ex, 1, c25000=(150.0, 151.0, 150.5, NAN, 65.0))
    assert [e.client_id for e in ex.events() if e.kind is K.FILL] == [b.client_id]


# --- rejections -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, when, reason",
    [
        (lambda: order(qty=28 * LOT), T0, RejectReason.FREEZE_LIMIT),  # 1,820 >= 1,800
        (lambda: order(qty=100), T0, RejectReason.LOT_SIZE),
        (lambda: order(strike=30000.0), T0, RejectReason.UNKNOWN_CONTRACT),
        (lambda: order(expiry=date(2025, 12, 30)), T0, RejectReason.EXPIRED_CONTRACT),
        (lambda: order(), ist(DAY, time(9, 0)), RejectReason.OUTSIDE_SESSION),
        (lambda: order(), ist(DAY, time(15, 30)), RejectReason.OUTSIDE_SESSION),
        (lambda: order(), ist(date(2026, 1, 10), time(10, 0)), RejectReason.OUTSIDE_SESSION),  # Saturday
        (lambda: order(type_=OrderType.LIMIT, limit=150.02), T0, RejectReason.TICK_SIZE),
        (lambda: order(type_=OrderType.SL_M, trigger=140.03), T0, RejectReason.TICK_SIZE),
    ],
)
def test_each_rejection(make, when, reason):
    _, ex = exchange(when)
    o = make()
    ex.submit(o)
    (ev,) = ex.events()
    assert (ev.kind, ev.reject_reason) == (K.REJECT, reason)
    assert ex.order_status(o.client_id).state is S.REJECTED
    assert ex.accepted[o.client_id] == 0


def test_trading_holiday_is_outside_the_session():
    when, later = ist(date(2026, 1, 15), time(10, 0)), date(2026, 1, 27)  # NSE holiday (MARKET_FACTS)
    clock = SimClock(when)
    ex = SimulatedExchange(clock)
    ex.on_snapshot(chain(when, expiry=later))
    ex.submit(order(expiry=later))
    assert ex.events()[0].reject_reason is RejectReason.OUTSIDE_SESSION


def test_freeze_limit_exactly_at_the_freeze_depends_on_the_setting():
    # a contract with lot 75 (expiring before 2026) traded on 2025-12-01: 1,800 = 24 lots
    ts = ist(date(2025, 12, 1), time(10, 0))
    dec = date(2025, 12, 30)
    for inclusive, kind in ((False, K.REJECT), (True, K.ACK)):
        clock = SimClock(ts)
        ex = SimulatedExchange(clock, SimConfig(freeze_inclusive=inclusive))
        ex.on_snapshot(chain(ts, expiry=dec))
        ex.submit(order(qty=1800, expiry=dec))
        assert ex.events()[0].kind is kind


# --- the session end --------------------------------------------------------------------------


def test_day_orders_expire_at_the_session_end():
    _, ex = exchange()
    o = order(type_=OrderType.LIMIT, limit=100.0)
    ex.submit(o)
    ex.events()
    ex.end_of_day(DAY)
    (ev,) = ex.events()
    assert (ev.kind, ev.client_id, ev.ts) == (K.EXPIRED, o.client_id, ist(DAY, time(15, 30)))
    ex.cancel(o.client_id)
    assert ex.events()[0].kind is K.CANCEL_REJECTED


def test_next_days_first_snapshot_closes_the_previous_day_if_the_kernel_did_not():
    clock, ex = exchange()
    ex.submit(order(type_=OrderType.LIMIT, limit=100.0))
    ex.events()
    nxt = chain(ist(date(2026, 1, 6), time(9, 15)))
    clock.advance(nxt.ts)
    ex.on_snapshot(nxt)
    assert [e.kind for e in ex.events()] == [K.EXPIRED]


def test_expiry_settlement_of_itm_and_otm_longs_and_shorts():
    day = EXPIRY
    clock, ex = exchange(ist(day, time(10, 0)))
    trades = [  # (strategy, side, qty, strike, right) at the default quotes
        ("a", Side.BUY, 65, 25000.0, "CE"),  # long ITM call
        ("a", Side.SELL, 130, 25200.0, "CE"),  # short OTM call
        ("b", Side.SELL, 65, 25200.0, "PE"),  # short ITM put
        ("b", Side.BUY, 65, 24800.0, "PE"),  # long OTM put
    ]
    for strategy, side, qty, strike, right in trades:
        ex.submit(order(side, qty, strike, right, strategy=strategy))
    ex.events()
    last = chain(ist(day, time(15, 29)), spot=25123.45)
    clock.advance(last.ts)
    ex.on_snapshot(last)
    ex.end_of_day(day)
    got = {(e.strategy, e.contract.id, e.side, e.quantity, e.price) for e in ex.events()}
    assert got == {
        ("a", contract(25000.0).id, Side.SELL, 65, 123.45),  # 25123.45 - 25000
        ("a", contract(25200.0).id, Side.BUY, 130, 0.0),  # OTM: expires worthless
        ("b", contract(25200.0, "PE").id, Side.BUY, 65, 76.55),  # 25200 - 25123.45
        ("b", contract(24800.0, "PE").id, Side.SELL, 65, 0.0),
    }
    assert not any(ex.net_positions.values())


def test_settlement_reaches_the_order_manager_as_settlement_fills():
    day = EXPIRY
    clock, ex = exchange(ist(day, time(10, 0)))
    om = OrderManager(ex, clock)
    om.on_snapshot(chain(ist(day, time(10, 0))))
    got = []
    om.add_listener(got.append)
    om.place(intent(Side.BUY, LOT))
    om.drain()
    clock.advance(ist(day, time(15, 29)))
    ex.on_snapshot(chain(ist(day, time(15, 29)), spot=25123.45))
    ex.end_of_day(day)
    om.drain()
    settle = [e.fill for e in got if isinstance(e, FillEvent) and e.fill.is_settlement]
    assert [(f.strategy, f.tag, f.side, f.quantity, f.price) for f in settle] == [("s", Tag.EXIT, Side.SELL, 65, 123.45)]
    # bought at the ask (151.00), settled at 123.45: (123.45 - 151.00) x 65 = -1,790.75
    buys = [e.fill for e in got if isinstance(e, FillEvent) and not e.fill.is_settlement]
    assert sum(f.premium for f in buys + settle) == pytest.approx(-1790.75)


def test_contracts_expiring_later_are_not_settled():
    _, ex = exchange()
    ex.submit(order())
    ex.events()
    ex.end_of_day(DAY)
    assert ex.events() == []
    assert ex.net_positions[("s", contract())] == LOT


# --- status, cancel, modify, faults -----------------------------------------------------------


def test_order_status_reports_the_trade_book():
    _, ex = exchange()
    o = order(qty=2 * LOT)
    ex.submit(o)
    evs = ex.events()
    st = ex.order_status(o.client_id)
    assert (st.state, st.filled_qty, st.avg_price) == (S.FILLED, 130, 151.0)
    assert st.fills == tuple(e for e in evs if e.kind is K.FILL)
    assert ex.order_status("never-seen") is None


def test_modify_and_cancel_answers():
    _, ex = exchange()
    o = order(type_=OrderType.LIMIT, limit=100.0)
    ex.submit(o)
    ex.events()
    ex.modify(o.client_id, 100.02)
    ex.modify(o.client_id, 120.0)
    ex.cancel(o.client_id)
    ex.cancel("nope")
    evs = ex.events()
    assert [(e.kind, e.reject_reason) for e in evs] == [
        (K.MODIFY_REJECTED, RejectReason.TICK_SIZE),
        (K.MODIFIED, None),
        (K.CANCELLED, None),
        (K.CANCEL_REJECTED, RejectReason.NOT_WORKING),
    ]


def test_modify_to_a_marketable_price_fills_at_once():
    _, ex = exchange()
    o = order(type_=OrderType.LIMIT, limit=100.0)
    ex.submit(o)
    ex.events()
    ex.modify(o.client_id, 155.0)
    assert fills(ex.events()) == [(LOT, 151.0)]


def _faulty_run(seed: int) -> list[tuple[str, str]]:
    cfg = FaultConfig(reject_rate=0.2, timeout_rate=0.2, partial_fill_rate=0.3, rate_limit_burst_rate=0.05)
    clock, ex = exchange(faults=FaultInjector(cfg, seed))
    out = []
    for k in range(200):
        clock.advance(T0 + timedelta(milliseconds=100 * k))
        ex.submit(order(qty=3 * LOT))
        out += [(e.kind.value, str(e.quantity)) for e in ex.events()]
    return out


def test_fault_injection_is_deterministic_per_seed():
    assert _faulty_run(7) == _faulty_run(7)
    assert _faulty_run(7) != _faulty_run(8)


def test_lost_answers_are_still_visible_through_order_status():
    cfg = FaultConfig(timeout_rate=1.0)
    _, ex = exchange(faults=FaultInjector(cfg, 1))
    o = order()
    ex.submit(o)
    assert ex.events() == []
    assert ex.order_status(o.client_id).state is S.FILLED
    assert ex.accepted[o.client_id] == 1


def test_hidden_status_means_no_answer_at_all():
    _, ex = exchange(faults=FaultInjector(FaultConfig(timeout_rate=1.0, status_unknown_rate=1.0), 1))
    o = order()
    ex.submit(o)
    assert ex.events() == [] and ex.order_status(o.client_id) is None


def test_fault_config_is_validated():
    with pytest.raises(ValueError, match="reject_rate"):
        FaultConfig(reject_rate=1.5)
