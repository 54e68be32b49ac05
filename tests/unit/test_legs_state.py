"""The ``legs`` strategy's pieces on their own: a leg's stop arithmetic, a strict-JSON state that
restores to identical behaviour mid-structure, and the strike rules on the closed-form chain."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest
from _dnss_support import Exchange, at, chain
from _legs_support import example, load_example

from optrunner.config.legs import LegConfig, StrikeRule
from optrunner.core.orders import Fill
from optrunner.core.types import Right, Side, Tag
from optrunner.instruments.contracts import OptionContract
from optrunner.strategies.legs import LegsStrategy
from optrunner.strategies.legs.slots import LegSlot
from optrunner.strategies.legs.strikes import select_strike

EXPIRY = date(2026, 11, 17)


def opened(leg: dict, price: float, spot: float = 25000.0) -> LegSlot:
    cfg = LegConfig.model_validate({"action": "SELL", "option_type": "CE", "strike": {"rule": "atm_offset", "steps": 0},
                                    **leg})  # fmt: skip
    slot = LegSlot(0, "L1", cfg)
    c = OptionContract("NIFTY", EXPIRY, 25000.0, Right(cfg.option_type))
    side = Side.SELL if cfg.action == "SELL" else Side.BUY
    slot.apply_fill(Fill("F1", "O1", "s", Tag.ENTRY, c, side, 65, price, at(9, 20)))
    slot.arm(spot)
    return slot


def reason_at(slot: LegSlot, price: float, spot: float = 25000.0) -> str:
    slot.price = price
    return slot.exit_reason_now(spot)


def test_short_leg_trailing_stop_by_hand():
    # sold at 100: stop 40 % above = 140; every 10 % (10 rupees) in favour moves it 5 % (5 rupees) down.
    s = opened({"stop_loss_pct": 40, "trail_every": 10, "trail_by": 5}, 100.0)
    assert s.stop == pytest.approx(140.0)
    assert reason_at(s, 80.0) == "" and s.stop == pytest.approx(130.0)  # 20 in favour: 2 steps
    assert reason_at(s, 79.0) == "" and s.stop == pytest.approx(130.0)  # 21: still 2 steps
    assert reason_at(s, 95.0) == "" and s.stop == pytest.approx(130.0)  # a stop never moves back
    assert reason_at(s, 130.0) == "STOP_LOSS"


def test_long_leg_points_stop_target_and_underlying_exits():
    s = opened({"action": "BUY", "stop_loss_points": 20, "target_points": 30}, 100.0)
    assert (s.stop, s.target) == (80.0, 130.0)
    assert reason_at(s, 81.0) == "" and reason_at(s, 80.0) == "STOP_LOSS"
    s = opened({"action": "BUY", "stop_loss_points": 20, "target_points": 30}, 100.0)
    assert reason_at(s, 130.0) == "TARGET"
    # a short CE is hurt by the index going up; a long PE by it going up too
    s = opened({"stop_loss_underlying_points": 100, "target_underlying_points": 150}, 100.0, spot=25000.0)
    assert reason_at(s, 100.0, spot=25099.0) == "" and reason_at(s, 100.0, spot=25100.0) == "STOP_LOSS"
    s = opened({"option_type": "PE", "action": "BUY", "target_underlying_points": 150}, 100.0, spot=25000.0)
    assert reason_at(s, 100.0, spot=24851.0) == "" and reason_at(s, 100.0, spot=24850.0) == "TARGET"


def test_move_to_cost_only_tightens():
    s = opened({"stop_loss_pct": 25}, 100.0)
    s.move_stop_to_cost()
    assert s.stop == 100.0
    b = opened({"action": "BUY", "stop_loss_pct": 25}, 100.0)
    b.move_stop_to_cost()
    assert b.stop == 100.0


@pytest.mark.parametrize(("rule", "right", "strike"), [
    ({"rule": "atm_offset", "steps": 2}, Right.PE, 24900.0),
    ({"rule": "closest_delta", "delta": 0.25}, Right.CE, 25150.0),
    ({"rule": "closest_premium", "premium": 60}, Right.PE, 24900.0),
    ({"rule": "premium_gte", "premium": 60}, Right.CE, 25100.0),  # 60.5; 25150 is 47.0
    ({"rule": "premium_lte", "premium": 60}, Right.CE, 25150.0),
    # ATM straddle 207.9; 25000 + 0.5 x 207.9 = 25104 -> 25100 CE; 25000 - 207.9 = 24792 -> 24800 PE
    ({"rule": "straddle_width", "width": 0.5}, Right.CE, 25100.0),
    ({"rule": "straddle_width", "width": 1.0}, Right.PE, 24800.0),
    ({"rule": "fixed", "strike": 24550}, Right.PE, 24550.0),
])  # fmt: skip
def test_strike_rules_on_the_closed_form_chain(rule, right, strike):
    snap = chain(at(9, 20), 25000.0)
    got = select_strike(snap, StrikeRule.model_validate(rule), right, EXPIRY, 50.0, allow_expiry_day=False)
    assert got == OptionContract("NIFTY", EXPIRY, strike, right)


def test_fixed_strike_not_listed_is_none():
    snap = chain(at(9, 20), 25000.0)
    assert select_strike(snap, StrikeRule(rule="fixed", strike=30000.0), Right.CE, EXPIRY, 50.0,
                         allow_expiry_day=False) is None  # fmt: skip


def test_state_round_trip_mid_structure_restores_identical_behaviour():
    path = [(9, 20, 25000.0), (9, 40, 25050.0), (9, 41, 25050.0), (10, 0, 25100.0), (11, 0, 25200.0), (15, 15, 25200.0)]
    a, ex_a = LegsStrategy(load_example("NIFTY_SHORT_STRADDLE_SL_REENTRY")), Exchange()
    for hh, mm, spot in path[:2]:  # entered, CE stopped, re-entry pending
        ex_a.step(a, chain(at(hh, mm), spot))
    state = json.loads(json.dumps(a.get_state(), allow_nan=False))  # the store's strict JSON
    b, ex_b = LegsStrategy(load_example("NIFTY_SHORT_STRADDLE_SL_REENTRY")), Exchange()
    b.restore_state(state)
    ex_b.n = ex_a.n
    sent_a = [(o.contract.id, o.side, o.reason) for hh, mm, s in path[2:] for o in ex_a.step(a, chain(at(hh, mm), s))]
    sent_b = [(o.contract.id, o.side, o.reason) for hh, mm, s in path[2:] for o in ex_b.step(b, chain(at(hh, mm), s))]
    assert sent_a == sent_b and sent_a[0] == ("NIFTY:20261117:25050:CE", Side.SELL, "CE REENTRY re_execute")
    assert a.metrics()["closed_pnl"] == b.metrics()["closed_pnl"] != 0


def test_wait_and_trade_enters_once_the_combined_premium_has_moved():
    # straddle at 09:20: 103.95 + 103.95 = 207.9 is the reference; wait for 5 % down = 197.5.
    # w is fixed, so the sum moves with the spot only through convexity: 25000 -> it stays; a squeeze of w is
    # needed. chain(w=140): 2 x 140 ln 2 = 194.1 <= 197.5 -> enter then, at the chosen 25000 strikes.
    entry = {"time": "09:20", "wait_and_trade": {"move": "down", "pct": 5}}
    s, ex = LegsStrategy(example("NIFTY_SHORT_STRADDLE_SL_REENTRY", legs_entry=entry)), Exchange()
    assert ex.step(s, chain(at(9, 20), 25000.0)) == [] and s.phase == "WAITING"
    assert ex.step(s, chain(at(9, 21), 25000.0, w=146.0)) == []  # 202.4: not yet
    sent = ex.step(s, chain(at(9, 22), 25000.0, w=140.0))
    assert [(o.contract.id, o.side) for o in sent] == [("NIFTY:20261117:25000:CE", Side.SELL),
                                                        ("NIFTY:20261117:25000:PE", Side.SELL)]  # fmt: skip
    assert math.isclose(s.reference, 207.9, abs_tol=0.01)


@pytest.mark.parametrize(("entry", "spot", "enters"), [
    ({"spot_above": 25100}, 25000.0, False),
    ({"spot_above": 24900, "spot_below": 25100}, 25000.0, True),
    ({"days_of_week": ["TUE"]}, 25000.0, False),  # 16 Nov 2026 is a Monday
    ({"dte_min": 2}, 25000.0, False),  # one calendar day to the 17 Nov weekly
    ({"dte_max": 1}, 25000.0, True),
])  # fmt: skip
def test_entry_conditions(entry, spot, enters):
    s = LegsStrategy(example("NIFTY_SHORT_STRADDLE_SL_REENTRY", legs_entry={"time": "09:20", **entry}))
    assert bool(Exchange().step(s, chain(at(9, 20), spot))) is enters


def test_repeated_entries_after_a_structure_closes():
    # on_stop "all": the CE's stop at 09:40 closes both legs; max_entries 2 enters again at 09:41, not a third time.
    legs = json.loads(json.dumps([leg.model_dump(mode="json", exclude_none=True) for leg in
                                  load_example("NIFTY_SHORT_STRADDLE_SL_REENTRY").legs]))  # fmt: skip
    for leg in legs:
        leg.pop("reentry_on_stop")
        leg["on_stop"] = "all"
    cfg = example("NIFTY_SHORT_STRADDLE_SL_REENTRY", legs=legs, legs_entry={"time": "09:20", "max_entries": 2})
    s, ex = LegsStrategy(cfg), Exchange()
    sent = {}
    for hh, mm, spot in [(9, 20, 25000.0), (9, 40, 25050.0), (9, 41, 25050.0), (10, 0, 25150.0), (10, 1, 25150.0)]:
        sent[f"{hh}:{mm:02d}"] = [(o.tag.value, o.contract.strike) for o in ex.step(s, chain(at(hh, mm), spot))]
    assert sent["9:40"] == [("EXIT", 25000.0), ("EXIT", 25000.0)]
    assert sent["9:41"] == [("ENTRY", 25050.0), ("ENTRY", 25050.0)]
    assert sent["10:00"] == [("EXIT", 25050.0), ("EXIT", 25050.0)] and sent["10:01"] == []
    assert s.metrics()["entries"] == 2 and s.phase == "DONE"


def test_a_leg_closed_from_outside_is_done_not_exited_again():
    # the kernel flattens the CE (a fill without our leg name): the strategy books it and never sends a 0-lot exit
    s, ex = LegsStrategy(load_example("NIFTY_SHORT_STRADDLE_SL_REENTRY")), Exchange()
    ex.step(s, chain(at(9, 20), 25000.0))
    ce = OptionContract("NIFTY", EXPIRY, 25000.0, Right.CE)
    s.on_fill(Fill("FX", "KX", "kernel", Tag.EXIT, ce, Side.BUY, 65, 120.0, at(9, 30)))
    assert [(e[1], e[2]) for e in s.timeline][-1] == ("CE", "EXTERNAL_EXIT")
    sent = ex.step(s, chain(at(9, 40), 25050.0))  # the CE's stop level is passed: nothing to close
    assert sent == []
    pe = OptionContract("NIFTY", EXPIRY, 25000.0, Right.PE)
    s.on_fill(Fill("FY", "KY", "kernel", Tag.EXIT, pe, Side.BUY, 65, 80.0, at(9, 41)))
    assert s.phase == "DONE" and s.metrics()["exit_external_exit"] == 1
