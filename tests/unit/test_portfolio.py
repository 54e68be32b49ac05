"""Position and portfolio P&L on hand-computed scenarios (average cost, settlement, aggregation)."""

import json
from datetime import date

import numpy as np
import pytest
from _portfolio_support import EXPIRY, at, chain, fill, nifty

from optrunner.core.orders import ChargeBreakdown
from optrunner.portfolio import ChargeSchedule, Portfolio

CE, PE = nifty(26000, "CE"), nifty(25000, "PE")


def brk(brokerage: float = 20.0, stt: float = 0.0, stamp: float = 0.0) -> ChargeBreakdown:
    return ChargeBreakdown(brokerage=brokerage, stt=stt, stamp=stamp)


def test_short_strangle_opened_marked_partially_closed_and_closed():
    pf = Portfolio(500_000)
    # Open: sell 130 CE @ 120 (charges 30) and 130 PE @ 100 (charges 28).
    pf.apply_fill(fill(CE, "SELL", 130, 120.0, charges=brk(stt=10.0)))
    pf.apply_fill(fill(PE, "SELL", 130, 100.0, charges=brk(stt=8.0)))
    s = pf.summary("strangle")
    assert s.premium_collected == 130 * 120 + 130 * 100 == 28_600
    assert s.charges == pytest.approx(58.0)
    assert s.open_legs == 2
    assert s.notional == 130 * 26000 + 130 * 25000

    # Mark: CE 110, PE 90 -> each leg gains 10 x 130.
    pf.mark(chain(at(10, 5), [{"contract": CE, "ltp": 110.0}, {"contract": PE, "ltp": 90.0}]))
    s = pf.summary("strangle")
    assert s.unrealized == pytest.approx(2_600.0)
    assert s.realized == 0.0
    assert s.net == pytest.approx(2_600.0 - 58.0)
    assert pf.equity == pytest.approx(500_000 + 2_600 - 58)

    # Partial close: buy 65 CE @ 105 (charges 21) realises (120 - 105) x 65 = 975.
    pf.apply_fill(fill(CE, "BUY", 65, 105.0, charges=brk(stamp=1.0)))
    ce = pf.position("strangle", CE)
    assert (ce.quantity, ce.avg_price) == (-65, 120.0)
    pf.mark(chain(at(11, 0), [{"contract": CE, "ltp": 100.0}, {"contract": PE, "ltp": 95.0}]))
    s = pf.summary("strangle")
    assert s.realized == pytest.approx(975.0)
    assert s.unrealized == pytest.approx(20 * 65 + 5 * 130)  # 1,300 + 650
    assert s.charges == pytest.approx(79.0)
    assert s.gross == pytest.approx(975 + 1_950)
    assert s.net == pytest.approx(975 + 1_950 - 79)
    assert s.premium_collected == pytest.approx(28_600 - 65 * 105)

    # Close the rest: CE 65 @ 98 (+1,430), PE 130 @ 93 (+910).
    pf.apply_fill(fill(CE, "BUY", 65, 98.0, charges=brk(stamp=1.0)))
    pf.apply_fill(fill(PE, "BUY", 130, 93.0, charges=brk(stamp=2.0)))
    s = pf.summary("strangle")
    assert s.realized == pytest.approx(975 + 1_430 + 910)
    assert s.unrealized == 0.0 and s.open_legs == 0 and s.notional == 0.0
    assert s.charges == pytest.approx(122.0)
    assert s.net == pytest.approx(3_315 - 122)
    # Once everything is closed by trades, premium collected equals realised P&L.
    assert s.premium_collected == pytest.approx(s.realized)
    assert pf.positions() == []
    assert len(pf.positions(open_only=False)) == 2
    assert pf.equity == pytest.approx(500_000 + 3_315 - 122)


def test_average_cost_re_averages_and_flips_through_zero():
    pf = Portfolio(100_000)
    c = nifty(25500, "CE")
    pf.apply_fill(fill(c, "BUY", 65, 100.0))
    pf.apply_fill(fill(c, "BUY", 130, 85.0))
    p = pf.position("strangle", c)
    assert (p.quantity, p.avg_price) == (195, pytest.approx(90.0))  # (6,500 + 11,050) / 195
    pf.apply_fill(fill(c, "SELL", 65, 95.0))  # reduce: (95 - 90) x 65
    assert (p.quantity, p.avg_price, p.realized) == (130, pytest.approx(90.0), pytest.approx(325.0))
    pf.apply_fill(fill(c, "SELL", 200, 80.0))  # closes 130 at -10 each, opens short 70 @ 80
    assert p.quantity == -70
    assert p.avg_price == 80.0
    assert p.realized == pytest.approx(325.0 - 1_300.0)
    pf.apply_fill(fill(c, "SELL", 30, 90.0))  # add to the short: (70 x 80 + 30 x 90) / 100
    assert (p.quantity, p.avg_price) == (-100, pytest.approx(83.0))
    pf.apply_fill(fill(c, "BUY", 100, 70.0))  # short covered 13 lower: +1,300
    assert (p.quantity, p.avg_price) == (0, 0.0)
    assert p.realized == pytest.approx(325.0 - 1_300.0 + 1_300.0)
    assert pf.realized == pytest.approx(p.realized)


def test_worked_example_through_the_portfolio_with_real_charges():
    sched = ChargeSchedule.load()
    day = date(2026, 11, 2)
    pf = Portfolio(100_000)
    for side, price in (("SELL", 100.0), ("BUY", 80.0)):
        charges = sched.charges_for_fill("NSE", side, 65, price, day, first_fill_of_order=True)
        pf.apply_fill(fill(nifty(25500, "CE"), side, 65, price, charges=charges))
    s = pf.summary()
    assert s.gross == pytest.approx(1_300.0)
    assert round(s.charges, 2) == 62.01
    assert round(s.net, 2) == 1_237.99
    assert s.charge_breakdown.brokerage == 40.0
    assert s.charge_breakdown.stt == pytest.approx(9.75)


class TestExpirySettlement:
    """Index closes at 25,120 on expiry day; settlement fills are at intrinsic value."""

    def test_itm_long_pays_exercise_stt_and_realises_intrinsic_minus_cost(self):
        pf = Portfolio(100_000)
        c = nifty(25000, "CE")
        pf.apply_fill(fill(c, "BUY", 65, 150.0, charges=brk()))
        stt = ChargeSchedule.load().settlement_charges("NSE", "SELL", 65, 120.0, EXPIRY)
        pf.apply_fill(
            fill(c, "SELL", 65, 120.0, charges=stt, settlement=True, ts=at(15, 30, EXPIRY))
        )
        p = pf.position("strangle", c)
        assert not p.is_open and p.mark_price == 120.0
        assert p.realized == pytest.approx((120 - 150) * 65)
        assert p.charges_paid == pytest.approx(20.0 + 0.0015 * 120 * 65)  # 11.70 exercise STT
        assert p.premium_collected == pytest.approx(-150 * 65)  # settlement is not premium

    def test_itm_short_pays_intrinsic_and_no_stt(self):
        pf = Portfolio(100_000)
        c = nifty(25200, "PE")
        pf.apply_fill(fill(c, "SELL", 65, 60.0))
        charges = ChargeSchedule.load().settlement_charges("NSE", "BUY", 65, 80.0, EXPIRY)
        assert charges.total == 0.0
        pf.apply_fill(fill(c, "BUY", 65, 80.0, charges=charges, settlement=True))
        assert pf.position("strangle", c).realized == pytest.approx(-20 * 65)
        assert pf.summary().premium_collected == pytest.approx(60 * 65)

    def test_otm_short_keeps_the_premium(self):
        pf = Portfolio(100_000)
        c = nifty(25500, "CE")
        pf.apply_fill(fill(c, "SELL", 65, 40.0))
        pf.apply_fill(fill(c, "BUY", 65, 0.0, settlement=True))
        s = pf.summary()
        assert s.realized == pytest.approx(2_600.0) and s.charges == 0.0 and s.open_legs == 0

    def test_settlement_cannot_open_or_flip_a_position(self):
        pf = Portfolio(100_000)
        c = nifty(25500, "CE")
        with pytest.raises(ValueError, match="no open position to settle"):
            pf.apply_fill(fill(c, "SELL", 65, 10.0, settlement=True))
        pf.apply_fill(fill(c, "BUY", 65, 40.0))
        with pytest.raises(ValueError, match="BUY 65 does not close position 65"):
            pf.apply_fill(fill(c, "BUY", 65, 10.0, settlement=True))
        with pytest.raises(ValueError, match="SELL 130 does not close position 65"):
            pf.apply_fill(fill(c, "SELL", 130, 10.0, settlement=True))
        assert pf.position("strangle", c).quantity == 65


def test_two_strategies_on_one_contract_aggregate_to_the_account():
    pf = Portfolio(200_000)
    c = nifty(25500, "CE")
    pf.apply_fill(fill(c, "SELL", 65, 100.0, strategy="seller", charges=brk(stt=6.0)))
    pf.apply_fill(fill(c, "BUY", 65, 102.0, strategy="buyer", charges=brk(stamp=0.2)))
    pf.mark(
        chain(
            at(10, 1),
            [
                {
                    "contract": c,
                    "ltp": 90.0,
                    "delta": 0.4,
                    "gamma": 0.001,
                    "vega": 12.0,
                    "theta": -9.0,
                }
            ],
        )
    )
    seller, buyer, account = pf.summary("seller"), pf.summary("buyer"), pf.summary()
    assert seller.unrealized == pytest.approx(650.0)  # (90 - 100) x -65
    assert buyer.unrealized == pytest.approx(-780.0)  # (90 - 102) x 65
    assert account.unrealized == pytest.approx(-130.0)
    assert seller.delta == pytest.approx(-26.0) and buyer.delta == pytest.approx(26.0)
    assert account.delta == pytest.approx(0.0) and account.vega == pytest.approx(0.0)
    assert account.open_legs == 2 and account.notional == 2 * 65 * 25500
    assert account.charges == pytest.approx(seller.charges + buyer.charges) == pytest.approx(46.2)
    assert account.premium_collected == pytest.approx(65 * 100 - 65 * 102)
    assert [p.strategy for p in pf.positions("buyer")] == ["buyer"]
    assert pf.strategies() == ["buyer", "seller"]
    with pytest.raises(KeyError, match="no fills booked for strategy 'nobody'"):
        pf.summary("nobody")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"qty": 0}, "quantity must be a positive"),
        ({"price": float("nan")}, "price must be finite"),
    ],
)
def test_bad_fills_are_refused_with_their_id(kwargs, message):
    args = {"qty": 65, "price": 10.0} | kwargs
    bad = fill(nifty(25500, "CE"), "BUY", args["qty"], args["price"])
    pf = Portfolio(100_000)
    with pytest.raises(ValueError, match=f"fill '{bad.fill_id}'.*{message}"):
        pf.apply_fill(bad)
    assert pf.positions(open_only=False) == []


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="mark must be 'ltp' or 'mid'"):
        Portfolio(100_000, mark="close")
    with pytest.raises(ValueError, match="capital must be a finite number"):
        Portfolio(float("inf"))


def test_numpy_quantities_from_vectorised_code_are_booked_as_plain_ints():
    pf = Portfolio(100_000)
    pf.apply_fill(fill(nifty(25500, "CE"), "SELL", np.int64(65), np.float64(40.0)))
    state = pf.to_state()
    assert type(state["positions"][0]["quantity"]) is int
    assert json.loads(json.dumps(state)) == state


def test_a_position_reopened_after_being_flat_is_valued_at_its_new_fill_not_its_old_mark():
    """Regression: a short closed at 10:00 (last marked at 182.05) and re-sold at 91.40 two
    hours later showed a ~6,000 loss until the next snapshot, from the stale mark."""
    pf = Portfolio(1_000_000)
    put = nifty(25400, "PE")
    pf.apply_fill(fill(put, "SELL", 65, 150.0, ts=at(9, 30)))
    pf.mark(chain(at(9, 45), [{"contract": put, "ltp": 182.05, "delta": -0.6, "vega": 8.0}]))
    pf.apply_fill(fill(put, "BUY", 65, 182.05, ts=at(9, 46)))
    pf.apply_fill(fill(put, "SELL", 65, 91.40, ts=at(11, 59)))
    pos = pf.position("strangle", put)
    assert pos.mark_price == 91.40 and pos.unrealized == 0.0
    assert pf.unrealized == 0.0
    assert pos.greeks() is None  # the 9:45 per-unit greeks are not carried into the new position
    pf.mark(chain(at(12, 0), [{"contract": put, "ltp": 90.40, "delta": -0.3, "gamma": 1e-3, "vega": 7.0, "theta": -9.0}]))
    assert pos.unrealized == pytest.approx(65.0) and pos.greeks().delta == pytest.approx(-0.3 * -65)
