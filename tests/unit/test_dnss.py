"""DNSS driven by hand-built chains: every trigger, leg rule, limit and exit, asserted on the exact orders.

Expected strikes come from the closed-form chain in _dnss_support (w = 150 unless stated):
at spot 25000 the 0.25-delta call is 25150 (delta 0.269) and the 0.25-delta put is 24850 (|delta| 0.269).
"""

import math
from datetime import date

import pytest
from _dnss_support import DAY, EXPIRY, Exchange, at, ce_delta, chain, legs_of, make_config

from optrunner.core.events import StaleDataEvent
from optrunner.core.orders import Basket, Fill
from optrunner.core.types import Right, Side, Tag
from optrunner.strategies.dnss import DNSS, Phase


def summary(legs):
    return [(leg.tag.value, leg.side.value, leg.contract.right.value, leg.contract.strike, leg.quantity) for leg in legs]


@pytest.fixture
def entered(tmp_path):
    """A DNSS that entered at 09:30 at spot 25000 and whose two legs filled."""
    s, ex = DNSS(make_config(tmp_path)), Exchange()
    ex.step(s, chain(at(9, 30), 25000.0))
    assert s.phase is Phase.ACTIVE
    return s, ex


def test_no_entry_before_entry_time(tmp_path):
    s = DNSS(make_config(tmp_path))
    assert s.on_chain(chain(at(9, 29, 59), 25000.0)) == ()
    assert s.phase is Phase.IDLE


def test_entry_sells_both_legs_nearest_target_by_absolute_delta(tmp_path):
    s = DNSS(make_config(tmp_path))
    intents = s.on_chain(chain(at(9, 30), 25000.0))
    assert len(intents) == 1 and isinstance(intents[0], Basket) and not intents[0].is_exit
    assert summary(legs_of(intents)) == [
        ("ENTRY", "SELL", "CE", 25150.0, 65),
        ("ENTRY", "SELL", "PE", 24850.0, 65),  # |delta| 0.269 — never the far-OTM put of a signed search
    ]
    assert all(leg.contract.expiry == EXPIRY for leg in legs_of(intents))


def test_both_fills_confirm_entry_and_legs_come_from_the_contract(entered):
    s, _ = entered
    assert set(s.legs) == {Right.CE, Right.PE}
    assert s.legs[Right.CE].avg_price == pytest.approx(47.0)
    assert s.book.premium_collected == pytest.approx(94.0 * 65)


def test_entry_once_per_day_and_again_next_day(entered):
    s, ex = entered
    ex.step(s, chain(at(15, 15), 25000.0))  # time exit
    assert s.phase is Phase.DONE
    assert ex.step(s, chain(at(15, 16), 25000.0)) == []
    nxt = DAY.replace(day=DAY.day + 1)  # Tuesday 17th is expiry day: the entry goes to the next weekly
    sent = ex.step(s, chain(at(9, 30, d=nxt), 25000.0, expiry=date(2026, 11, 23)))
    assert [x[0] for x in summary(sent)] == ["ENTRY", "ENTRY"]


def test_no_entry_without_greeks_or_on_stale_data(tmp_path):
    s = DNSS(make_config(tmp_path))
    assert s.on_chain(chain(at(9, 30), 25000.0, nan_delta=True)) == ()
    s.on_stale(StaleDataEvent(at(9, 31), "NIFTY", 300.0))
    assert s.on_chain(chain(at(9, 31), 25000.0)) != ()  # a fresh snapshot clears the stale flag


def test_no_entry_when_nothing_is_within_tolerance(tmp_path):
    s = DNSS(make_config(tmp_path))
    # without 25150/25200 CE the nearest are 25100 (0.339) and 25250 (0.159): both > 0.05 away
    snap = chain(at(9, 30), 25000.0, drop={(25150.0, "CE"), (25200.0, "CE")})
    assert s.on_chain(snap) == ()
    assert s.phase is Phase.IDLE


def test_same_day_expiry_skipped_unless_allowed(tmp_path):
    today = chain(at(9, 30), 25000.0, expiry=DAY)
    later = chain(at(9, 30), 25000.0)
    from optrunner.data.snapshot import ChainSnapshot

    both = ChainSnapshot.from_quotes("NIFTY", at(9, 30), 25000.0, today.to_rows() + later.to_rows())
    s = DNSS(make_config(tmp_path))
    assert {leg.contract.expiry for leg in legs_of(s.on_chain(both))} == {EXPIRY}
    s2 = DNSS(make_config(tmp_path, entry__trade_expiry_day=True))
    assert {leg.contract.expiry for leg in legs_of(s2.on_chain(both))} == {DAY}


def test_delta_drift_closes_the_untested_leg_then_sells_its_replacement(entered):
    s, ex = entered
    # spot 25150: CE 25150 delta 0.5, PE 24850 delta -0.119 -> net 0.38 > 0.30, no leg above 0.65
    sent = ex.step(s, chain(at(10, 0), 25150.0))
    assert summary(sent) == [
        ("ADJUST_EXIT", "BUY", "PE", 24850.0, 65),
        ("ADJUST_ENTRY", "SELL", "PE", 25150.0, 65),  # at the surviving CE's |delta| 0.5
    ]
    assert s.phase is Phase.ACTIVE and s.adjustments_today == 1
    assert s.legs[Right.PE].contract.strike == 25150.0
    assert sent[0].reason == "DELTA_DRIFT 0.38>0.3"  # the trigger, for the report's adjustment log


def test_replacement_is_not_sold_until_the_old_leg_is_bought_back(entered):
    s, ex = entered
    ex.reject = True
    sent = ex.step(s, chain(at(10, 0), 25150.0))
    assert summary(sent) == [("ADJUST_EXIT", "BUY", "PE", 24850.0, 65)]
    assert s.phase is Phase.ACTIVE and set(s.legs) == {Right.CE, Right.PE}
    assert s.adjustments_today == 0


def test_emergency_rule_closes_the_tested_leg_above_max_leg_delta(entered):
    s, ex = entered
    assert ce_delta(25300.0, 25150.0) > 0.65
    sent = ex.step(s, chain(at(10, 0), 25300.0))
    # surviving PE 24850 has |delta| 1 - 1/(1+e^-3) = 0.0474 -> CE at (K - S)/150 = 3 -> 25750
    assert summary(sent) == [("ADJUST_EXIT", "BUY", "CE", 25150.0, 65), ("ADJUST_ENTRY", "SELL", "CE", 25750.0, 65)]


def test_rebalance_target_delta_overrides_the_surviving_legs_delta(tmp_path):
    s, ex = DNSS(make_config(tmp_path, adjustment__rebalance_target_delta=0.2)), Exchange()
    ex.step(s, chain(at(9, 30), 25000.0))
    sent = ex.step(s, chain(at(10, 0), 25150.0))
    # a 0.2-delta put at spot 25150: CE delta 0.8 -> (K - S)/150 = -ln 4 -> K = 24942 -> 24950 (|delta| 0.209)
    assert summary(sent)[1] == ("ADJUST_ENTRY", "SELL", "PE", 24950.0, 65)


def test_cooldown_between_adjustments(entered):
    s, ex = entered
    ex.step(s, chain(at(10, 0), 25150.0))
    assert ex.step(s, chain(at(10, 0, 30), 25400.0)) == []  # drifted again, 30 s later
    assert ex.step(s, chain(at(10, 1, 1), 25400.0)) != []  # cooldown of 60 s over


def test_daily_adjustment_cap(entered):
    s, ex = entered
    ex.step(s, chain(at(10, 0), 25150.0))
    ex.step(s, chain(at(10, 5), 25400.0))
    assert s.adjustments_today == 2
    assert ex.step(s, chain(at(10, 10), 25700.0)) == []  # cap of 2 reached
    assert s.phase is Phase.ACTIVE


def test_profit_step_really_steps_up(tmp_path):
    s, ex = DNSS(make_config(tmp_path, adjustment__profit_step=1500)), Exchange()
    ex.step(s, chain(at(9, 30), 25000.0))  # both legs sold at 47.00
    # w=120: both legs at 30.25 -> P&L (47 - 30.25) x 130 = 2177.5 >= 1500 with no delta drift
    sent = ex.step(s, chain(at(10, 0), 25000.0, w=120.0))
    assert [x[:2] for x in summary(sent)] == [("ADJUST_EXIT", "BUY"), ("ADJUST_ENTRY", "SELL")]
    assert s.recentre_pnl == pytest.approx(2177.5)
    # w=100: P&L 3490.5 is only 1313 above the re-centre: the old code (base reset to 0) would adjust here
    assert ex.step(s, chain(at(10, 10), 25000.0, w=100.0)) == []
    assert s.book.pnl == pytest.approx(3490.5)
    # w=90: P&L 4095 is 1917.5 above it: the next step
    assert ex.step(s, chain(at(10, 20), 25000.0, w=90.0)) != []


@pytest.mark.parametrize(
    "overrides, snap, reason",
    [
        ({}, chain(at(15, 15), 25000.0), "TIME_EXIT"),
        ({"exit__profit_target": 2000}, chain(at(10, 0), 25000.0, w=120.0), "PROFIT_TARGET"),
        ({"exit__max_loss": 3000}, chain(at(10, 0), 25000.0, w=220.0), "MAX_LOSS"),
        ({"exit__profit_target_percent": 30}, chain(at(10, 0), 25000.0, w=120.0), "PROFIT_TARGET_PERCENT"),
        ({"exit__stop_loss_percent": 40}, chain(at(10, 0), 25000.0, w=190.0), "STOP_LOSS_PERCENT"),
    ],
)
def test_exits_buy_back_everything(tmp_path, overrides, snap, reason):
    s, ex = DNSS(make_config(tmp_path, **overrides)), Exchange()
    ex.step(s, chain(at(9, 30), 25000.0))
    intents = s.on_chain(snap)
    assert len(intents) == 1 and intents[0].is_exit
    assert summary(legs_of(intents)) == [("EXIT", "BUY", "CE", 25150.0, 65), ("EXIT", "BUY", "PE", 24850.0, 65)]
    assert s.exit_reason == reason


def test_loss_exits_use_net_pnl_by_hand(tmp_path):
    # w=220: legs at 220*ln(1+e^(-150/220)) = 90.04 -> 90.05 on the tick -> P&L (47 - 90.05) x 130 = -5596.5
    s, ex = DNSS(make_config(tmp_path, exit__max_loss=5600)), Exchange()
    ex.step(s, chain(at(9, 30), 25000.0))
    assert s.on_chain(chain(at(10, 0), 25000.0, w=220.0)) == ()
    assert s.book.pnl == pytest.approx(-5596.5)
    s2, ex2 = DNSS(make_config(tmp_path, exit__max_loss=5596)), Exchange()
    ex2.step(s2, chain(at(9, 30), 25000.0))
    assert s2.on_chain(chain(at(10, 0), 25000.0, w=220.0)) and s2.exit_reason == "MAX_LOSS"


def test_trailing_stop(tmp_path):
    s, ex = DNSS(make_config(tmp_path, exit__trailing_stop_enabled=True, exit__trailing_stop_activation=1500,
                             exit__trailing_stop_distance=500)), Exchange()  # fmt: skip
    ex.step(s, chain(at(9, 30), 25000.0))
    assert s.on_chain(chain(at(10, 0), 25000.0, w=120.0)) == ()  # peak 2177.5
    intents = s.on_chain(chain(at(10, 5), 25000.0, w=135.0))  # 1189.5: gave back 988 > 500
    assert intents and s.exit_reason == "TRAILING_STOP"


def test_missing_leg_is_never_replaced_by_another_row_and_stale_greeks_force_exit(entered):
    s, _ = entered
    before = s.legs[Right.CE].price
    gone = {(25150.0, "CE")}
    assert s.on_chain(chain(at(9, 31), 25600.0, drop=gone)) == ()
    assert s.legs[Right.CE].contract.strike == 25150.0 and s.legs[Right.CE].price == before
    assert s.on_chain(chain(at(9, 32), 25000.0, drop=gone)) == ()  # 120 s since the last fresh greeks
    intents = s.on_chain(chain(at(9, 32, 1), 25000.0, drop=gone))
    assert intents and s.exit_reason == "STALE_GREEKS"


def test_failed_entry_counts_an_attempt_and_gives_up_after_max_attempts(tmp_path):
    s, ex = DNSS(make_config(tmp_path)), Exchange()
    ex.reject = True
    ex.step(s, chain(at(9, 30), 25000.0))
    assert s.phase is Phase.IDLE and s.attempts_today == 1
    ex.step(s, chain(at(9, 31), 25000.0))
    assert s.phase is Phase.FAILED
    assert ex.step(s, chain(at(9, 32), 25000.0)) == []


def test_state_round_trip_restores_identical_behaviour(entered, tmp_path):
    s, _ = entered
    clone = DNSS(make_config(tmp_path))
    clone.restore_state(s.get_state())
    assert clone.get_state() == s.get_state()
    snap = chain(at(10, 0), 25150.0)
    assert summary(legs_of(clone.on_chain(snap))) == summary(legs_of(s.on_chain(snap)))


def test_externally_closed_legs_finish_the_day(entered):
    """A kill-switch flatten buys the legs back outside the strategy's own exit."""
    s, _ = entered
    snap = chain(at(11, 0), 25000.0)
    for right in (Right.CE, Right.PE):
        leg = s.legs[right]
        s.on_fill(Fill(f"K{right}", f"risk-{right}", s.name, Tag.EXIT, leg.contract, Side.BUY, leg.qty, 30.0, snap.ts))
    assert s.phase is Phase.DONE and not s.legs
    assert math.isclose(s.book.realized, (47.0 - 30.0) * 130)
