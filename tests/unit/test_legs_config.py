"""The ``legs`` kind's file: what it accepts, and every contradiction reported at once with its path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from optrunner.config import strategy_json_schema, validate_config

DOC: dict[str, Any] = {
    "name": "T_LEGS", "enabled": True, "strategy": "legs",
    "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY"},
    "legs": [
        {"action": "SELL", "option_type": "CE", "strike": {"rule": "closest_delta", "delta": 0.25}, "stop_loss_pct": 30},
        {"action": "SELL", "option_type": "PE", "strike": {"rule": "closest_delta", "delta": 0.25}, "stop_loss_pct": 30},
        {"action": "BUY", "option_type": "CE", "hedge": True, "strike": {"rule": "closest_delta", "delta": 0.10}},
        {"action": "BUY", "option_type": "PE", "hedge": True, "strike": {"rule": "closest_delta", "delta": 0.10}},
    ],
    "legs_entry": {"time": "09:20"},
    "risk_management": {"max_concurrent_legs": 4},
}  # fmt: skip


def check(doc: dict[str, Any]) -> dict[str, str]:
    _cfg, issues = validate_config(doc, Path("."))
    return {i.path: i.message for i in issues}


def test_an_iron_condor_validates_with_defaults_filled_in():
    cfg, issues = validate_config(DOC, Path("."))
    assert issues == []
    assert cfg.strategy == "legs" and len(cfg.legs) == 4
    assert cfg.legs[2].hedge and cfg.legs[0].expiry == "weekly" and cfg.legs[0].on_stop == "leg"
    assert cfg.legs_exit is None  # optional: LegsExit() defaults apply


def test_every_contradiction_is_reported_at_once_with_its_path():
    doc = copy.deepcopy(DOC)
    legs = doc["legs"]
    legs[0].update(trail_every=5, trail_by=10, target_pct=120)  # trail step past its trigger; short target >100 %
    legs[1]["strike"] = {"rule": "atm_offset", "delta": 0.3}  # value of another rule, own value missing
    legs[2]["strike"]["delta"] = 0.40  # hedge nearer the money than legs[0]'s 0.25
    legs[3]["action"] = "SELL"  # a selling hedge
    legs[3]["bogus"] = 1  # a field error in one leg hides nothing in the others
    doc["legs_entry"].update(spot_above=26000, spot_below=25000, dte_min=4, dte_max=1)
    doc["legs_exit"] = {"time": "09:15", "lock_and_trail": {"at": 1000, "lock": 1500}, "hold_to_expiry": True}
    doc["execution"] = {"product": "MIS"}
    got = check(doc)
    assert set(got) == {
        "legs[0].trail_by", "legs[0].target_pct", "legs[1].strike.steps", "legs[1].strike.delta",
        "legs[3].bogus", "legs_entry.spot_below", "legs_entry.dte_max", "legs_exit.time",
        "legs_exit.lock_and_trail.lock", "legs_exit.hold_to_expiry",
    }, got  # fmt: skip
    assert "larger than trail_every 5" in got["legs[0].trail_by"]
    assert "not after legs_entry.time 09:20" in got["legs_exit.time"]
    # once leg 3 is fixed, the checks across legs run too: the hedge and the selling hedge
    legs[3].pop("bogus")
    got = check(doc)
    assert "further out than the leg it protects" in got["legs[2].strike.delta"]
    assert "protective BUY" in got["legs[3].hedge"]


def test_hedges_must_protect_a_sold_leg_and_be_further_out_by_their_rule():
    doc = copy.deepcopy(DOC)
    doc["legs"] = [
        {"action": "SELL", "option_type": "CE", "strike": {"rule": "atm_offset", "steps": 2}},
        {"action": "BUY", "option_type": "CE", "hedge": True, "strike": {"rule": "atm_offset", "steps": 2}},
        {"action": "BUY", "option_type": "PE", "hedge": True, "strike": {"rule": "fixed", "strike": 24000}},
    ]
    got = check(doc)
    assert "no further out" in got["legs[1].strike.steps"]
    assert "no SELL PE leg" in got["legs[2].hedge"]
    doc["legs"][1]["strike"]["steps"] = 4
    doc["legs"][2]["option_type"] = "CE"
    doc["legs"][2]["strike"]["strike"] = 24000  # a CE hedge must be above the main leg: not comparable by rule
    assert check(doc) == {}


def test_reentry_and_move_to_cost_need_the_exit_they_follow():
    doc = copy.deepcopy(DOC)
    doc["legs"][0].update(reentry_on_target="at_cost", move_sl_to_cost=False)
    doc["legs"][1].update(reentry_on_stop="re_execute", on_stop="all")
    doc["legs"][2].update(move_sl_to_cost=True)
    got = check(doc)
    assert set(got) == {"legs[0].reentry_on_target", "legs[1].reentry_on_stop", "legs[2].move_sl_to_cost"}, got
    assert 'on_stop "all" closes the whole structure' in got["legs[1].reentry_on_stop"]


def test_section_presence_and_leg_count():
    doc = copy.deepcopy(DOC)
    del doc["legs_entry"]
    doc["risk_management"] = {"max_concurrent_legs": 3}
    doc["entry"] = {"entry_time": "09:30"}
    got = check(doc)
    assert got["legs_entry"].startswith("missing required field")
    assert "the file has 4 legs" in got["risk_management.max_concurrent_legs"]
    assert "not legs" in got["entry"]
    doc = copy.deepcopy(DOC)
    doc["legs"] = []
    assert "at least 1" in check(doc)["legs"]


def test_schema_documents_every_leg_field():
    schema = strategy_json_schema()
    leg = schema["$defs"]["LegConfig"]["properties"]
    assert {"stop_loss_pct", "trail_every", "reentry_on_stop", "hedge", "strike"} <= set(leg)
    assert all(p.get("description") for p in leg.values())
    assert set(schema["$defs"]["StrikeRule"]["properties"]["rule"]["enum"]) >= {"atm_offset", "closest_delta", "straddle_width"}
    assert {"legs", "legs_entry", "legs_exit"} <= set(schema["properties"])
