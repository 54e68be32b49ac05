"""weekly_zones: zones and bias by hand, each of S1-S8 at a known bar and its near-miss,
the stop on an hourly close, the entry basket, exits, guards and the seed's payload.

Every week below follows ``_weekly_support.prev_week``: upper zone [25200, 25300], lower
zone [24700, 24800], margins max(100 x 3, 0.25) = 300; PWC 24850 is 50 from the min body and
350 from the max body (BULLISH), PWC 25150 the reverse (BEARISH).
"""

from __future__ import annotations

import pytest
from _dnss_support import Exchange, at, chain
from _weekly_support import (
    BEAR_PWC,
    BULL_PWC,
    MON,
    TUE,
    feed,
    hour,
    prev_week,
    session,
    wz_config,
)

from optrunner.core.types import LegRole, Right, Side, Tag
from optrunner.strategies.base import StrategyHalt
from optrunner.strategies.weekly_context import Bias, WeeklyContext
from optrunner.strategies.weekly_zones import PositionState, WeeklyZones


def strategy(tmp_path, pwc: float = BULL_PWC, **section) -> WeeklyZones:
    s = WeeklyZones(wz_config(tmp_path, **section))
    feed(s, prev_week(pwc))
    return s


def fired(s: WeeklyZones) -> list[tuple[str, int]]:
    return [(r["signal"], r["inputs"]["bar"]) for r in s.history]


# --- context ------------------------------------------------------------------------------


def test_zones_margins_and_bias_by_hand():
    z = WeeklyContext.build((2026, 47), 25300, 24700, 24850, 25200, 24800)
    assert (z.upper_top, z.upper_bottom, z.lower_top, z.lower_bottom) == (25300, 25200, 24800, 24700)
    assert (z.margin_high, z.margin_low) == (300, 300)
    assert z.bias is Bias.BULLISH  # |24850 - 24800| = 50 < |24850 - 25200| = 350
    # a 4h body above PWH swaps the zone's ends; a zone of zero height gets the 0.25 floor
    z = WeeklyContext.build((2026, 47), 25300, 24700, 25000, 25340, 24700)
    assert (z.upper_top, z.upper_bottom, z.margin_high) == (25340, 25300, 120)
    assert (z.lower_top, z.lower_bottom, z.margin_low) == (24700, 24700, 0.25)
    assert z.bias is Bias.BULLISH  # 300 from the min body, 340 from the max body
    assert WeeklyContext.build((2026, 47), 25300, 24700, 25000, 25200, 24800).bias is Bias.NEUTRAL


def test_context_comes_from_the_previous_weeks_session_4h_bars(tmp_path):
    s = strategy(tmp_path, BEAR_PWC)
    assert s.context.context is None  # the first week only builds a context
    feed(s, [hour(MON, 0, 25000, 25010, 24990, 25000)])
    z = s.context.context
    assert (z.prev_high, z.prev_low, z.prev_close, z.max_4h_body, z.min_4h_body) == (
        25300, 24700, 25150, 25200, 24800)  # fmt: skip
    assert z.bias is Bias.BEARISH and z.week == (2026, 47)


def test_a_monday_holiday_week_starts_at_its_first_session(tmp_path):
    s = strategy(tmp_path)
    # first session on Tuesday: it is F, and Tuesday's second bar is "second"
    feed(s, [hour(TUE, 0, 24820, 24900, 24790, 24870), hour(TUE, 1, 24870, 24910, 24850, 24890)])
    assert fired(s) == [("S2", 2)]


# --- S1..S8 at a known bar, and the near-miss that must not fire ---------------------------

CASES = {
    # name: (pwc, bars as (day, n, o, h, l, c), the bar it fires at, stop loss, near-miss bars)
    "S1": (BULL_PWC, [(MON, 0, 24750, 24760, 24600, 24650), (MON, 1, 24650, 24720, 24640, 24700)], 2, 24500,
           [(MON, 0, 24690, 24760, 24600, 24650), (MON, 1, 24650, 24720, 24640, 24700)]),  # F.open below the zone
    "S2": (BULL_PWC, [(MON, 0, 24820, 24900, 24790, 24870), (MON, 1, 24870, 24910, 24850, 24890)], 2, 24700,
           [(MON, 0, 24820, 24900, 24790, 24870), (MON, 1, 24870, 24910, 24830, 24840)]),  # C.close <= PWC
    "S3": (BEAR_PWC, [(MON, 0, 25160, 25220, 25140, 25180), (MON, 1, 25180, 25190, 25120, 25130)], 2, 25300,
           [(MON, 0, 25160, 25190, 25140, 25180), (MON, 1, 25180, 25190, 25140, 25145)]),  # no touch, no new low
    "S4": (BEAR_PWC, [(MON, 0, 25350, 25400, 25330, 25380), (MON, 1, 25380, 25430, 25370, 25420)], 2, 25330,
           [(MON, 0, 25350, 25400, 25330, 25380), (MON, 1, 25380, 25400, 25370, 25395)]),  # no close above F.high
    "S5": (BULL_PWC, [(MON, 0, 24650, 24660, 24600, 24620), (MON, 1, 24620, 24630, 24560, 24580)], 2, 24660,
           [(MON, 0, 24650, 24660, 24600, 24620), (MON, 1, 24620, 24630, 24590, 24605)]),  # C.close >= F.low
    "S7": (BULL_PWC, [(MON, 0, 25010, 25050, 24980, 25040), (MON, 1, 25040, 25070, 25030, 25060)], 2, 24980,
           [(MON, 0, 25010, 25050, 24980, 25040), (MON, 1, 25040, 25290, 25030, 25280)]),  # 0.08 % under PWH
    "S8": (BULL_PWC, [(MON, 0, 25150, 25210, 25120, 25140), (MON, 1, 25140, 25150, 25080, 25100)], 2, 25210,
           [(MON, 0, 25150, 25190, 25120, 25140), (MON, 1, 25140, 25150, 25080, 25100)]),  # never reached 25200
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_signal_fires_at_its_bar_and_its_near_miss_does_not(tmp_path, name):
    pwc, bars, at_bar, stop, near = CASES[name]
    s = strategy(tmp_path / "hit", pwc)
    feed(s, [hour(*b) for b in bars])
    assert fired(s) == [(name, at_bar)]
    assert s.history[0]["stop_loss"] == stop
    assert s.history[0]["inputs"]["context"]["bias"] == ("BULLISH" if pwc == BULL_PWC else "BEARISH")
    miss = strategy(tmp_path / "miss", pwc)
    feed(miss, [hour(*b) for b in near])
    assert fired(miss) == []


def test_s6_fires_only_without_s3_whose_conditions_it_implies(tmp_path):
    bars = [hour(MON, 0, 25160, 25220, 25140, 25180), hour(MON, 1, 25180, 25190, 25120, 25130)]
    s = strategy(tmp_path / "a", BEAR_PWC, signal_types=["S6"])
    feed(s, bars)
    assert fired(s) == [("S6", 2)] and s.history[0]["stop_loss"] == 25300
    s = strategy(tmp_path / "b", BEAR_PWC, signal_types=["S6"])
    feed(s, [hour(MON, 0, 25160, 25220, 25140, 25310), hour(MON, 1, 25310, 25320, 25120, 25130)])
    assert fired(s) == []  # F closed above the upper top


def test_s4_needs_the_gap_up_else_the_same_breakout_is_s7(tmp_path):
    s = strategy(tmp_path, BULL_PWC)  # gap up, but the bias is bullish: no S4
    feed(s, [hour(MON, 0, 25350, 25400, 25330, 25380), hour(MON, 1, 25380, 25430, 25370, 25420)])
    assert fired(s) == [("S7", 2)]


def test_breakout_on_a_later_day_needs_a_breakout_bar_then_a_close_above_its_high(tmp_path):
    s = strategy(tmp_path, BULL_PWC)
    monday = [(25010, 25050, 24980, 25040)] + [(25040, 25045, 25000, 25020)] * 6  # never closes above 25050
    feed(s, session(MON, monday))
    tuesday = [(25020, 25080, 25010, 25070),  # bullish, close > F.high, high >= every prior high: level 25080
               (25070, 25079, 25040, 25075),  # below the level: nothing
               (25075, 25100, 25060, 25090)]  # close above 25080: the breakout triggers -> S7
    feed(s, session(TUE, tuesday))
    assert fired(s) == [("S7", 10)] and s.history[0]["stop_loss"] == 24980


def test_a_breakout_that_s7_declines_is_spent_for_the_week(tmp_path):
    s = strategy(tmp_path, BULL_PWC)
    feed(s, [hour(MON, 0, 25010, 25050, 24980, 25040), hour(MON, 1, 25040, 25290, 25030, 25280),
             hour(MON, 2, 25280, 25500, 25270, 25450)])  # fmt: skip
    assert fired(s) == []


def test_at_most_one_signal_a_week_and_the_next_week_starts_afresh(tmp_path):
    s = strategy(tmp_path, BULL_PWC, cooldown_minutes=0)
    feed(s, [hour(MON, 0, 24820, 24900, 24790, 24870), hour(MON, 1, 24870, 24910, 24850, 24890),
             hour(MON, 2, 24890, 25000, 24880, 24990)])  # fmt: skip
    assert fired(s) == [("S2", 2)]


def test_signal_types_filter(tmp_path):
    s = strategy(tmp_path, BULL_PWC, signal_types=["S1", "S7"])
    feed(s, [hour(MON, 0, 24820, 24900, 24790, 24870), hour(MON, 1, 24870, 24910, 24850, 24890)])
    assert fired(s) == []  # S2 held but is not enabled; S7 needs a close above 24900


# --- trade ---------------------------------------------------------------------------------


def s2_entered(tmp_path, **section):
    s = strategy(tmp_path, BULL_PWC, **section)
    feed(s, [hour(MON, 0, 24820, 24900, 24790, 24870), hour(MON, 1, 24870, 24910, 24850, 24890)])
    ex = Exchange()
    legs = ex.step(s, chain(at(11, 16), 24890.0))
    return s, ex, legs


def test_bullish_signal_sells_the_pe_at_the_floored_stop_hedge_first(tmp_path):
    s, _, legs = s2_entered(tmp_path)
    assert [(leg.contract.id, leg.side, leg.role, leg.tag, leg.quantity) for leg in legs] == [
        ("NIFTY:20261117:24500:PE", Side.BUY, LegRole.HEDGE, Tag.HEDGE, 65),
        ("NIFTY:20261117:24700:PE", Side.SELL, LegRole.MAIN, Tag.ENTRY, 65),
    ]
    (p,) = s.positions.values()
    assert p.state is PositionState.OPEN and p.credit > 0
    assert s.history[0]["outcome"] == "entered" and s.history[0]["strike"] == 24700


@pytest.mark.parametrize(("stop", "bullish", "main", "hedge"), [
    (24560.0, True, 24550.0, 24350.0), (24550.0, True, 24550.0, 24350.0),
    (25210.0, False, 25250.0, 25450.0), (25250.0, False, 25250.0, 25450.0),
])  # fmt: skip
def test_strike_is_the_stop_floored_for_pe_ceiled_for_ce(tmp_path, stop, bullish, main, hedge):
    from optrunner.strategies.weekly_signals import Signal

    s = WeeklyZones(wz_config(tmp_path))
    right, got_main, got_hedge = s.strikes(Signal("S1" if bullish else "S8", bullish, stop, None, {}))
    assert (right, got_main, got_hedge) == (Right.PE if bullish else Right.CE, main, hedge)


def test_stop_loss_only_on_an_hourly_close_below_the_sold_pe_strike(tmp_path):
    s, ex, _ = s2_entered(tmp_path)  # sold 24700 PE
    s.on_bar(hour(MON, 2, 24890, 24895, 24600, 24710))  # intrabar breach, closed above
    assert ex.step(s, chain(at(12, 15), 24710.0)) == []
    s.on_bar(hour(MON, 3, 24710, 24720, 24650, 24700))  # a close AT the strike is not a breach
    assert ex.step(s, chain(at(13, 15), 24700.0)) == []
    s.on_bar(hour(MON, 4, 24700, 24705, 24650, 24699.95))
    (basket,) = s.on_chain(chain(at(14, 15), 24699.95))  # the snapshot the bar closed at
    assert basket.is_exit and [leg.leg for leg in basket.ordered_phases()[0]] == ["P1:main"]
    ex.run(s, [basket], chain(at(14, 15), 24699.95))
    assert s.positions == {} and s.exits == {"STOP_LOSS_ON_CLOSE": 1}


def test_time_square_off_on_expiry_day(tmp_path):
    s, ex, _ = s2_entered(tmp_path, stop_loss_type="strike")
    assert ex.step(s, chain(at(15, 14, d=TUE), 24950.0)) == []
    legs = ex.step(s, chain(at(15, 15, d=TUE), 24950.0))
    assert [(leg.leg, leg.side) for leg in legs] == [("P1:main", Side.BUY), ("P1:hedge", Side.SELL)]
    assert s.exits == {"TIME_SQUARE_OFF": 1}


def test_profit_lock_arms_then_exits_below_the_floor(tmp_path):
    s, ex, _ = s2_entered(tmp_path, profit_lock_activate_pct=10.0, profit_lock_exit_pct=5.0)
    (p,) = s.positions.values()
    assert ex.step(s, chain(at(11, 30), 25100.0)) == [] and p.lock_armed  # PE credit decays: > 10 %
    assert p.profit_pct > 10
    legs = ex.step(s, chain(at(11, 45), 24890.0))  # back where it started: profit < 5 % (charges aside)
    assert legs and s.exits == {"PROFIT_LOCK": 1}


def test_a_main_leg_left_unfilled_closes_the_lone_hedge_on_a_later_snapshot(tmp_path):
    s = strategy(tmp_path, BULL_PWC)
    feed(s, [hour(MON, 0, 24820, 24900, 24790, 24870), hour(MON, 1, 24870, 24910, 24850, 24890)])
    ex = Exchange()  # a test double without the router's unwind: the hedge fills, the main is refused
    ex.refuse = lambda leg: leg.role is LegRole.MAIN
    ex.step(s, chain(at(11, 16), 24890.0))
    (p,) = s.positions.values()
    assert p.state is PositionState.EXITING and p.exit_reason == "ENTRY_INCOMPLETE"
    ex.refuse = None
    assert ex.step(s, chain(at(11, 16, 2), 24890.0)) == []  # backoff: 5 s
    legs = ex.step(s, chain(at(11, 17), 24890.0))
    assert [(leg.leg, leg.side, leg.tag) for leg in legs] == [("P1:hedge", Side.SELL, Tag.EXIT)]
    assert s.positions == {} and s.exits == {"ENTRY_INCOMPLETE": 1}


def test_guards_cooldown_and_max_positions(tmp_path):
    s, _ex, _ = s2_entered(tmp_path, max_positions=1)
    assert s._guard(at(12, 0)) == "max_positions"
    s2, _, _ = s2_entered(tmp_path / "b", max_positions=3, cooldown_minutes=120)
    assert s2._guard(at(13, 15)) == "cooldown" and s2._guard(at(13, 16)) == ""


def test_daily_loss_limit_closes_everything_and_blocks_the_day(tmp_path):
    s, ex, _ = s2_entered(tmp_path, daily_loss_limit=1000.0)
    legs = ex.step(s, chain(at(12, 0), 24600.0))  # the sold PE goes deep in the money
    assert legs and s.exits == {"DAILY_LOSS_LIMIT": 1} and s.day_halted
    assert s._guard(at(13, 0)) == "daily_loss_limit"


def test_seed_payload_as_a_file_units_to_lots_with_a_clear_error(tmp_path):
    cfg = wz_config(tmp_path, signal_types=["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"],
                    quantity_units=750, stop_loss_type="lock")  # fmt: skip
    s = WeeklyZones(cfg)
    feed(s, prev_week(BULL_PWC))
    feed(s, [hour(MON, 0, 24820, 24900, 24790, 24870), hour(MON, 1, 24870, 24910, 24850, 24890)])
    with pytest.raises(StrategyHalt, match=r"expiring 2026-11-17: 750 is not a whole number of lots of 65 — use 715 or 780"):
        s.on_chain(chain(at(11, 16), 24890.0))
    ok = strategy(tmp_path / "ok", BULL_PWC, quantity_units=650)
    feed(ok, [hour(MON, 0, 24820, 24900, 24790, 24870), hour(MON, 1, 24870, 24910, 24850, 24890)])
    legs = Exchange().step(ok, chain(at(11, 16), 24890.0))
    assert {leg.quantity for leg in legs} == {650}


def test_state_round_trip_keeps_positions_and_the_week(tmp_path):
    import json

    s, _, _ = s2_entered(tmp_path)
    state = json.loads(json.dumps(s.get_state()))  # strict JSON, as the store writes it
    fresh = strategy(tmp_path / "fresh", BULL_PWC)
    fresh.restore_state(state)
    assert fresh.get_state() == state
    (p,) = fresh.positions.values()
    assert p.state is PositionState.OPEN and p.main.id == "NIFTY:20261117:24700:PE"
    assert fresh.signals.week.fired == "S2" and fresh.context.context.bias is Bias.BULLISH


def test_validate_warns_about_units_that_are_not_whole_lots(tmp_path):
    from optrunner.config.advice import advisories
    from optrunner.config.kinds import lots_from_units

    assert lots_from_units(750, 75) == 10 and lots_from_units(650, 65) == 10
    with pytest.raises(ValueError, match="use 65, or give"):
        lots_from_units(40, 65)
    notes = advisories(wz_config(tmp_path, quantity_units=750, quantity=3))
    assert [(n.path, n.message.split(" — ")[0]) for n in notes] == [
        ("weekly_zones.quantity", "ignored"),
        ("weekly_zones.quantity_units", "750 is not a whole number of lots of 65"),
    ]
    ok = advisories(wz_config(tmp_path / "ok", quantity_units=650))  # whole lots: only the ignored quantity
    assert [n.path for n in ok] == ["weekly_zones.quantity"]
