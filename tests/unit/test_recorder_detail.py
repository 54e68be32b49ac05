"""The recorder's trade detail (legs.csv, trade_mtm.csv, adjustments.csv) on a hand-made trade:
a short straddle marked twice, its put rolled up, marked again, then closed."""

from __future__ import annotations

import csv
import dataclasses
import math

import pytest
from _portfolio_support import at, fill, nifty

from optrunner.backtest.recorder import Recorder
from optrunner.core.orders import ChargeBreakdown
from optrunner.core.types import Tag
from optrunner.portfolio.book import Portfolio

CE, PE, PE2 = nifty(26000, "CE"), nifty(26000, "PE"), nifty(26100, "PE")
FEE = ChargeBreakdown(brokerage=20.0)
NAN = math.nan


def _rows(path):
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def recorded(tmp_path):
    pf = Portfolio(1_000_000.0)
    rec = Recorder(1_000_000.0, pf)

    def do(contract, side, price, tag, hh, mm):
        f = dataclasses.replace(fill(contract, side, 65, price, strategy="S", charges=FEE, ts=at(hh, mm)), tag=tag)
        pf.apply_fill(f)
        rec.on_fill(f)

    def mark(hh, mm, prices):
        for contract, (price, delta) in prices.items():
            pf.position("S", contract).set_mark(price, at(hh, mm), (delta, NAN, NAN, NAN))
        rec.on_mark(at(hh, mm), pf.equity, 0.0, pf.charges)

    do(CE, "SELL", 100.0, Tag.ENTRY, 10, 0)
    do(PE, "SELL", 90.0, Tag.ENTRY, 10, 0)
    mark(10, 1, {CE: (110.0, 0.5), PE: (85.0, -0.5)})  # MTM 12,350 - 65 x 195 - 40 = -365; delta 0
    mark(10, 2, {CE: (130.0, 0.6), PE: (70.0, -0.4)})  # MTM -690; delta -39 + 26 = -13
    do(PE, "BUY", 70.0, Tag.ADJUST_EXIT, 10, 3)
    do(PE2, "SELL", 120.0, Tag.ADJUST_ENTRY, 10, 3)
    mark(10, 3, {})  # same minute as the fills: the new put is still at its fill price, no greeks yet
    mark(10, 4, {CE: (130.0, 0.6), PE2: (125.0, -0.55)})  # delta -39 + 35.75 = -3.25
    do(CE, "BUY", 140.0, Tag.EXIT, 10, 5)
    do(PE2, "BUY", 110.0, Tag.EXIT, 10, 5)
    rec.write(tmp_path, {"start": "2026-11-02"})
    return rec, tmp_path


def test_the_trade_adds_up(recorded):
    rec, _ = recorded
    (trade,) = rec.trades
    # 12,350 in, 4,550 out (roll), 7,800 in, 9,100 + 7,150 out; six fills at ₹20.
    assert trade.gross == pytest.approx(-650.0) and trade.charges == pytest.approx(120.0)


def test_legs_carry_entry_and_exit_prices_and_their_pnl(recorded):
    _, out = recorded
    got = [(r["contract"], r["side"], r["quantity"], r["entry_price"], r["exit_price"], r["exit"], r["gross_pnl"],
            r["charges"], r["at_entry"]) for r in _rows(out / "legs.csv")]  # fmt: skip
    assert got == [
        (CE.id, "SELL", "65", "100.0", "140.0", "EXIT", "-2600.0", "40.0", "1"),
        (PE.id, "SELL", "65", "90.0", "70.0", "ADJUST_EXIT", "1300.0", "40.0", "1"),
        (PE2.id, "SELL", "65", "120.0", "110.0", "EXIT", "650.0", "40.0", "0"),
    ]
    assert sum(float(r["gross_pnl"]) for r in _rows(out / "legs.csv")) == pytest.approx(-650.0)


def test_mtm_path_and_excursions(recorded):
    _, out = recorded
    path = [(r["time"][11:16], float(r["mtm"])) for r in _rows(out / "trade_mtm.csv")]
    # 10:03: cash 15,600, open legs 65 x (130 + 120) = 16,250, charges 80 -> -730; 10:04: 65 x 255 -> -1,055.
    assert path == [("10:01", -365.0), ("10:02", -690.0), ("10:03", -730.0), ("10:04", -1055.0), ("10:05", -770.0)]
    (trade,) = _rows(out / "trades.csv")
    assert (float(trade["mae"]), float(trade["mfe"])) == (-1055.0, 0.0)


def test_adjustment_log_has_delta_before_and_after(recorded):
    _, out = recorded
    (adj,) = _rows(out / "adjustments.csv")
    assert adj["trade"] == "1" and adj["time"][11:16] == "10:03" and adj["trigger"] == "ADJUST_EXIT"
    assert float(adj["delta_before"]) == pytest.approx(-13.0)  # at the 10:02 mark the strategy adjusted on
    assert float(adj["delta_after"]) == pytest.approx(-3.25)  # at 10:04, the first mark with the new put's delta
    assert (adj["closed"], adj["opened"]) == (PE.id, PE2.id)


def test_without_a_portfolio_only_the_final_value_is_known(tmp_path):
    rec = Recorder(1_000_000.0)
    for f in (fill(CE, "SELL", 65, 100.0, strategy="S"), fill(CE, "BUY", 65, 90.0, strategy="S", ts=at(11, 0))):
        rec.on_fill(f)
    assert rec.trades[0].mtm == [(at(11, 0), 650.0)] and rec.adjustments == []
