"""Marking to the chain, greeks, day P&L, drawdown and the crash-recovery state round trip."""

import json
import math
from datetime import date

import pytest
from _portfolio_support import NAN, at, chain, fill, nifty

from optrunner.core.orders import ChargeBreakdown
from optrunner.core.types import Right
from optrunner.instruments.contracts import OptionContract
from optrunner.portfolio import Portfolio

CE, PE = nifty(26000, "CE"), nifty(25000, "PE")
GREEKS_CE = {"delta": 0.30, "gamma": 0.0002, "vega": 12.0, "theta": -8.0}
GREEKS_PE = {"delta": -0.25, "gamma": 0.00018, "vega": 11.0, "theta": -7.0}


def strangle(capital: float = 500_000) -> Portfolio:
    pf = Portfolio(capital)
    pf.apply_fill(fill(CE, "SELL", 130, 120.0, charges=ChargeBreakdown(brokerage=20.0)))
    pf.apply_fill(fill(PE, "SELL", 130, 100.0, charges=ChargeBreakdown(brokerage=20.0)))
    return pf


def test_greeks_aggregate_with_signs_short_put_has_positive_delta():
    pf = strangle()
    pf.mark(
        chain(
            at(10, 5),
            [
                {"contract": CE, "ltp": 110.0, **GREEKS_CE},
                {"contract": PE, "ltp": 90.0, **GREEKS_PE},
            ],
        )
    )
    put = pf.position("strangle", PE).greeks()
    assert put.delta == pytest.approx(-130 * -0.25) and put.delta > 0
    assert put.gamma < 0 and put.vega < 0 and put.theta > 0  # short premium: earns theta
    s = pf.summary()
    assert s.delta == pytest.approx(-130 * 0.30 + 130 * 0.25)  # -6.5
    assert s.gamma == pytest.approx(-130 * (0.0002 + 0.00018))
    assert s.vega == pytest.approx(-130 * 23.0)
    assert s.theta == pytest.approx(130 * 15.0)
    assert s.greeks_missing == 0


def test_legs_without_greeks_are_counted_not_summed_as_zero():
    pf = strangle()
    pf.mark(
        chain(
            at(10, 5), [{"contract": CE, "ltp": 110.0, **GREEKS_CE}, {"contract": PE, "ltp": 90.0}]
        )
    )
    s = pf.summary()
    assert s.greeks_missing == 1
    assert s.delta == pytest.approx(-130 * 0.30)
    # A later row with NaN greeks (at/below intrinsic: no IV) keeps the last known ones.
    pf.mark(
        chain(
            at(10, 6), [{"contract": CE, "ltp": 111.0}, {"contract": PE, "ltp": 91.0, **GREEKS_PE}]
        )
    )
    assert pf.summary().delta == pytest.approx(-6.5)


def test_missing_contract_keeps_last_mark_and_is_counted():
    pf = strangle()
    pf.mark(chain(at(10, 5), [{"contract": CE, "ltp": 110.0}, {"contract": PE, "ltp": 90.0}]))
    marked = pf.mark(
        chain(
            at(10, 6),
            [{"contract": CE, "ltp": 108.0}, {"contract": nifty(25050, "PE"), "ltp": 1.0}],
        )
    )
    assert marked == 1
    pe = pf.position("strangle", PE)
    assert pe.mark_price == 90.0 and pe.mark_ts == at(10, 5)
    assert pe.missed_marks == 1 and pf.mark_misses == 1
    assert pf.unrealized == pytest.approx(12 * 130 + 10 * 130)
    # A row present but with no usable price (LTP NaN, no two-sided quote) is also a miss.
    pf.mark(
        chain(
            at(10, 7),
            [{"contract": CE, "ltp": NAN, "bid": 0.0, "ask": 107.0}, {"contract": PE, "ltp": 89.0}],
        )
    )
    assert pf.position("strangle", CE).mark_price == 108.0 and pf.mark_misses == 2


def test_snapshot_of_another_underlying_touches_nothing():
    pf = strangle()
    bank = OptionContract("BANKNIFTY", date(2026, 11, 24), 52000, Right.CE)
    assert pf.mark(chain(at(10, 5), [{"contract": bank, "ltp": 300.0}], symbol="BANKNIFTY")) == 0
    assert pf.mark_misses == 0


@pytest.mark.parametrize(
    "mode, row, expected",
    [
        ("ltp", {"ltp": 110.0, "bid": 100.0, "ask": 104.0}, 110.0),
        ("ltp", {"ltp": NAN, "bid": 100.0, "ask": 104.0}, 102.0),
        ("ltp", {"ltp": 0.0, "bid": 100.0, "ask": 104.0}, 102.0),
        ("mid", {"ltp": 110.0, "bid": 100.0, "ask": 104.0}, 102.0),
        ("mid", {"ltp": 110.0, "bid": NAN, "ask": 104.0}, 110.0),
    ],
)
def test_mark_price_source_and_fallback(mode, row, expected):
    pf = Portfolio(100_000, mark=mode)
    pf.apply_fill(fill(CE, "SELL", 65, 120.0))
    pf.mark(chain(at(10, 5), [{"contract": CE, **row}]))
    assert pf.position("strangle", CE).mark_price == expected
    assert pf.unrealized == pytest.approx((expected - 120.0) * -65)


def test_day_pnl_peak_and_drawdown():
    pf = strangle(500_000)  # equity 499,960 after 40 of brokerage
    pf.start_day(date(2026, 11, 2))
    assert pf.day_start_equity == pytest.approx(499_960.0)
    # Both legs 10 cheaper: +2,600.
    pf.mark(chain(at(10, 5), [{"contract": CE, "ltp": 110.0}, {"contract": PE, "ltp": 90.0}]))
    assert pf.day_pnl == pytest.approx(2_600.0)
    assert pf.peak_equity == pytest.approx(502_560.0)
    # Both legs 5 dearer than sold: -1,300.
    pf.mark(chain(at(11, 0), [{"contract": CE, "ltp": 125.0}, {"contract": PE, "ltp": 105.0}]))
    assert pf.equity == pytest.approx(498_660.0)
    assert pf.drawdown == pytest.approx(3_900.0)
    assert pf.drawdown_pct == pytest.approx(100 * 3_900 / 502_560)
    assert pf.max_drawdown == pytest.approx(3_900.0)
    pf.start_day(date(2026, 11, 2))  # same day again (restart): baseline kept
    assert pf.day_pnl == pytest.approx(-1_300.0)
    pf.start_day(date(2026, 11, 3))
    assert pf.day_pnl == 0.0 and pf.day_start_equity == pytest.approx(498_660.0)
    pf.mark(
        chain(
            at(10, 0, date(2026, 11, 3)),
            [{"contract": CE, "ltp": 100.0}, {"contract": PE, "ltp": 80.0}],
        )
    )
    assert pf.day_pnl == pytest.approx(2 * 25 * 130)
    assert pf.drawdown == 0.0 and pf.max_drawdown == pytest.approx(3_900.0)
    with pytest.raises(ValueError, match="days only move forward"):
        pf.start_day(date(2026, 11, 2))


def test_state_round_trip_is_exact_and_the_copy_behaves_the_same():
    pf = strangle()
    pf.start_day(date(2026, 11, 2))
    pf.apply_fill(
        fill(CE, "BUY", 65, 105.3, charges=ChargeBreakdown(brokerage=20.0, stamp=0.205335, gst=3.6))
    )
    # The PE is missing from this snapshot: one miss.
    pf.mark(chain(at(10, 5), [{"contract": CE, "ltp": 110.15, **GREEKS_CE}]))
    state = pf.to_state()
    restored = Portfolio.from_state(json.loads(json.dumps(state, allow_nan=False)))
    assert restored.to_state() == state
    assert restored.equity == pf.equity and restored.day_pnl == pf.day_pnl
    assert restored.summary() == pf.summary()
    assert restored.positions(open_only=False) == pf.positions(open_only=False)
    assert restored.mark_misses == 1
    nxt = chain(
        at(10, 6), [{"contract": CE, "ltp": 101.0}, {"contract": PE, "ltp": 97.0, **GREEKS_PE}]
    )
    for p in (pf, restored):
        p.mark(nxt)
        p.apply_fill(fill(PE, "BUY", 130, 97.0))
    assert restored.to_state() == pf.to_state()
    assert not any(isinstance(v, float) and math.isnan(v) for v in _leaves(state))


def test_corrupt_state_is_refused_with_the_field():
    state = strangle().to_state()
    del state["positions"][1]["avg_price"]
    with pytest.raises(ValueError, match=r"positions\[1\].*avg_price"):
        Portfolio.from_state(state)
    with pytest.raises(ValueError, match="state version 99"):
        Portfolio.from_state({**state, "version": 99})


def _leaves(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _leaves(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _leaves(v)
    else:
        yield obj
