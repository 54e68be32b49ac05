"""The numbers behind the report's trade and breakdown sections, against hand computations:
excursions, streaks, drawdown episodes, payoff, the margin model, contract names, and the
weekday / days-to-expiry / charges-per-day sums."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
from _report_support import small_run

from optrunner.backtest.margin import (
    PositionLeg,
    expiry_payoff,
    load_margin_model,
    payoff_points,
    position_margin,
    worst_expiry_loss,
)
from optrunner.backtest.metrics import drawdown_episodes, excursions, streaks
from optrunner.backtest.report_analysis import (
    breakevens,
    by_days_to_expiry,
    by_weekday,
    charges_by_day,
    days_to_expiry,
)
from optrunner.backtest.report_data import load_run
from optrunner.core.types import Right
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.names import contract_name

EXP = date(2026, 10, 6)
MODEL = load_margin_model()


def leg(strike: float, right: str, qty: int, price: float, expiry: date = EXP) -> PositionLeg:
    return PositionLeg(OptionContract("NIFTY", expiry, strike, Right(right)), qty, price)


# --- excursions, streaks, drawdowns ---------------------------------------------------------


def test_mae_mfe_are_the_extremes_of_the_path_counting_the_flat_start():
    assert excursions([-50.0, 120.0, -300.0, 40.0]) == (-300.0, 120.0)
    assert excursions([10.0, 25.0, 5.0]) == (0.0, 25.0)  # never went red: MAE 0
    assert excursions([-10.0, -2.0]) == (-10.0, 0.0)
    assert excursions([]) == (0.0, 0.0)


def test_streaks_by_hand():
    s = streaks([100, 50, -20, -30, -10, 0, 70, 80, 90, -5])
    assert (s.longest_win, s.longest_win_sum) == (3, 240)  # 70 + 80 + 90 beats 100 + 50
    assert (s.longest_loss, s.longest_loss_sum) == (3, -60)
    assert s.current == -1
    assert streaks([5, 5]).current == 2 and streaks([5, 0]).current == 0 and streaks([]).longest_win == 0


def test_drawdown_episodes_deepest_first_with_peak_trough_recovery():
    eq = [100, 110, 90, 95, 111, 105, 108, 100, 99]
    first, second = drawdown_episodes(eq, 5)
    assert (first.peak, first.trough, first.recovery, first.depth) == (1, 2, 4, 20)
    assert first.depth_pct == pytest.approx(100 * 20 / 110)
    assert (second.peak, second.trough, second.recovery, second.depth) == (4, 8, None, 12)  # not recovered
    assert drawdown_episodes([1, 2, 3]) == [] and len(drawdown_episodes(eq, 1)) == 1


# --- payoff and margin ----------------------------------------------------------------------


def test_payoff_at_given_spots_is_the_hand_sum_of_leg_payoffs():
    legs = [leg(26000, "CE", -65, 120.0), leg(26200, "CE", 65, 60.0), leg(25800, "PE", -65, 100.0)]
    got = expiry_payoff(legs, [25500, 26100, 26500])
    # 25,500: calls worthless (+120 - 60) x 65 = 3,900; put 300 intrinsic: -65 x (300 - 100) = -13,000.
    # 26,100: short call -65 x (100 - 120) = 1,300; long call -60 x 65 = -3,900; put +6,500.
    # 26,500: short call -65 x (500 - 120) = -24,700; long call 65 x (300 - 60) = 15,600; put +6,500.
    assert got.tolist() == [3_900 - 13_000, 1_300 - 3_900 + 6_500, -24_700 + 15_600 + 6_500]


def test_payoff_points_are_the_corners_and_breakevens_interpolate():
    legs = [leg(26000, "CE", -65, 100.0), leg(26000, "PE", -65, 100.0)]  # straddle, credit 200 x 65
    x, y = payoff_points(legs, 25_000, 27_000)
    assert x.tolist() == [25_000, 26_000, 27_000]
    assert y.tolist() == [-65 * 800, 65 * 200, -65 * 800]
    assert breakevens(x, y) == [25_800, 26_200]


def test_short_option_margin_scan_minus_otm_with_floor_and_exposure():
    spot = 26_000.0
    notional = spot * 65
    # 26500 CE is 500 OTM: 10% x notional - 500 x 65 = 1,36,500; exposure 2% = 33,800.
    assert position_margin([leg(26500, "CE", -65, 50.0)], spot, None, MODEL) == pytest.approx(
        0.10 * notional - 500 * 65 + 0.02 * notional)
    # 3,000 OTM: the floor (5% of notional) applies.
    assert position_margin([leg(23000, "PE", -65, 5.0)], spot, None, MODEL) == pytest.approx(0.07 * notional)
    # On its expiry day the extra 2% ELM is added.
    assert position_margin([leg(23000, "PE", -65, 5.0)], spot, EXP, MODEL) == pytest.approx(0.09 * notional)


def test_strangle_is_charged_for_one_side_plus_exposure_on_both():
    spot, notional = 26_000.0, 26_000.0 * 65
    got = position_margin([leg(26200, "CE", -65, 80.0), leg(25600, "PE", -65, 70.0)], spot, None, MODEL)
    call, put = 0.10 * notional - 200 * 65, 0.10 * notional - 400 * 65
    assert got == pytest.approx(max(call, put) + 2 * 0.02 * notional)


def test_a_credit_spread_blocks_its_maximum_loss():
    spread = [leg(26000, "CE", -65, 120.0), leg(26200, "CE", 65, 60.0)]
    # Worst expiry loss: width 200 x 65 - credit (120 - 60) x 65 = 9,100 — far below the naked short margin.
    assert worst_expiry_loss(spread) == pytest.approx(9_100)
    assert position_margin(spread, 26_000.0, None, MODEL) == pytest.approx(9_100)
    condor = [*spread, leg(25800, "PE", -65, 100.0), leg(25600, "PE", 65, 50.0)]
    # Only one side can lose at expiry: 200 x 65 - total credit (60 + 50) x 65 = 5,850.
    assert position_margin(condor, 26_000.0, None, MODEL) == pytest.approx(5_850)


def test_long_options_cost_their_premium_and_naked_calls_are_unbounded():
    assert position_margin([leg(26000, "CE", 65, 120.0)], 26_000.0, None, MODEL) == pytest.approx(7_800)
    assert worst_expiry_loss([leg(26000, "CE", -65, 120.0)]) == float("inf")


def test_different_expiries_offset_nothing():
    near, far = leg(26000, "CE", -65, 120.0), leg(26200, "CE", 65, 90.0, date(2026, 10, 13))
    alone = position_margin([near], 26_000.0, None, MODEL) + position_margin([far], 26_000.0, None, MODEL)
    assert position_margin([near, far], 26_000.0, None, MODEL) == pytest.approx(alone)


def test_margin_constants_come_from_a_file_users_can_change(tmp_path):
    f = tmp_path / "margin.json"
    f.write_text(json.dumps({"default": {"scan_pct": 0.12, "floor_pct": 0.04, "exposure_pct": 0.03,
                                         "expiry_day_extra_pct": 0.0}, "indices": {"NIFTY": {"scan_pct": 0.2}}}))  # fmt: skip
    model = load_margin_model(f)
    assert model.rates("NIFTY").scan_pct == 0.2 and model.rates("NIFTY").exposure_pct == 0.03
    assert model.rates("SENSEX").scan_pct == 0.12 and model.source == str(f)
    f.write_text(json.dumps({"default": {"scan_pct": 1.5, "floor_pct": 0, "exposure_pct": 0, "expiry_day_extra_pct": 0}}))
    with pytest.raises(ValueError, match="scan_pct"):
        load_margin_model(f)


# --- names and breakdowns -------------------------------------------------------------------


def test_contract_names_read_like_a_trader_says_them():
    assert contract_name("NIFTY:20261006:26250:CE") == "NIFTY 06 Oct 26 26250 CE"
    assert contract_name(OptionContract("BANKNIFTY", date(2026, 2, 24), 56500.5, Right.PE)) == "BANKNIFTY 24 Feb 26 56500.5 PE"
    assert contract_name("not an id") == "not an id"


def test_weekday_sums_equal_the_total_and_charges_per_day_sum_to_the_run(tmp_path):
    run = load_run(small_run(tmp_path / "run"))
    weekdays = by_weekday(run.daily)
    assert list(weekdays) == ["Monday", "Tuesday", "Friday"]
    assert sum(b.pnl for b in weekdays.values()) == pytest.approx(float(run.daily["pnl"].sum()))
    assert weekdays["Friday"].pnl == -10_000 and weekdays["Monday"].wins == 1
    per_day = charges_by_day(run.fills)
    assert {d: round(v["total"], 2) for d, v in per_day.items()} == {
        "2026-01-30": 1_000.0, "2026-02-02": 1_000.0, "2026-02-03": 3_543.22}
    assert sum(v["total"] for v in per_day.values()) == pytest.approx(run.summary["charges"])
    for v in per_day.values():  # the components add up to each day's total
        assert sum(v[k] for k in ("brokerage", "stt", "exchange", "sebi", "stamp", "ipft", "gst")) == pytest.approx(v["total"])


def test_days_to_expiry_at_entry_in_calendar_days(tmp_path):
    assert days_to_expiry("NIFTY:20260203:25000:CE NIFTY:20260210:25000:PE", "2026-01-30T09:20:00") == 4
    assert days_to_expiry("junk", "2026-01-30T09:20:00") is None
    run = load_run(small_run(tmp_path / "run"))
    got = by_days_to_expiry(run.trades)
    assert {k: (b.count, b.pnl) for k, b in got.items()} == {1: (1, 100_000.0), 4: (1, -10_000.0), 21: (1, 33_456.78)}
    assert sum(b.pnl for b in got.values()) == pytest.approx(float(np.sum(run.trades["net_pnl"])))
