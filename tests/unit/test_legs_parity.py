"""A DNSS file and its ``legs`` equivalent (no adjustments) send the same orders on the same data:
the constructed days of ``_legs_support`` and two days of the synthetic market."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from _legs_support import MON, TUE, WED, WEEKLY, backtest, build_catalog, orders, steps

from optrunner.config import validate_config
from optrunner.data.synthetic import generate

MARKET = {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY"}
EXECUTION = {"order_type": "MARKET", "product": "NRML"}


def dnss(exit_: dict[str, Any]) -> Any:
    doc = {
        "name": "P_DNSS", "enabled": True, "strategy": "dnss", "market_config": MARKET,
        "entry": {"entry_time": "09:30", "target_ce_delta": 0.25, "target_pe_delta": 0.25, "delta_tolerance": 0.05,
                  "quantity": 1, "max_attempts": 1, "expiry": "weekly"},
        "adjustment": {"enabled": False},
        "exit": {"exit_time": "15:15", "time_exit_override": True, "stale_exit_seconds": 120, **exit_},
        "execution": EXECUTION,
    }  # fmt: skip
    cfg, issues = validate_config(doc, Path("."))
    assert not issues, issues
    return cfg


def legs(exit_: dict[str, Any]) -> Any:
    leg = {"action": "SELL", "lots": 1, "expiry": "weekly", "strike": {"rule": "closest_delta", "delta": 0.25}}
    doc = {
        "name": "P_LEGS", "enabled": True, "strategy": "legs", "market_config": MARKET,
        "legs": [{**leg, "option_type": "CE"}, {**leg, "option_type": "PE"}],
        "legs_entry": {"time": "09:30"}, "legs_exit": {"time": "15:15", **exit_}, "execution": EXECUTION,
    }  # fmt: skip
    cfg, issues = validate_config(doc, Path("."))
    assert not issues, issues
    return cfg


# DNSS exit field -> the legs_exit field that means the same
PAIRS = [
    ({"profit_target": 3000, "max_loss": 4000}, {"mtm_target": 3000, "mtm_stop_loss": 4000}),
    ({"profit_target_percent": 30, "stop_loss_percent": 60}, {"mtm_target_pct": 30, "mtm_stop_loss_pct": 60}),
    ({}, {}),
]


def same_orders(data: Path, d_exit: dict[str, Any], l_exit: dict[str, Any]) -> list[tuple]:
    a = [o[:5] for o in orders(backtest([dnss(d_exit)], data))]
    b = [o[:5] for o in orders(backtest([legs(l_exit)], data))]
    assert a == b
    return a


@pytest.mark.parametrize(("d_exit", "l_exit"), PAIRS)
def test_parity_on_constructed_days(tmp_path, d_exit, l_exit):
    # Monday a rally at 11:00 (the loss exits fire). Tuesday is the weekly's expiry day, so both trade the next
    # weekly, whose premium is crushed at 12:00 on Tuesday and Wednesday (w 150 -> 90: the profit exits fire).
    days = {MON: steps(("09:15", 25000), ("11:00", 25250)), TUE: steps(("09:15", 25000)),
            WED: steps(("09:15", 25000))}  # fmt: skip
    later = date(2026, 11, 24)
    widths = {WEEKLY: 150.0, later: steps(("09:15", 150), ("12:00", 90))}
    got = same_orders(build_catalog(tmp_path / "c", days, widths), d_exit, l_exit)
    assert len(got) >= 6 and {o[1] for o in got} == {"ENTRY", "EXIT"}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("legs_parity") / "catalog"
    generate("NIFTY", date(2026, 3, 2), date(2026, 3, 4), seed=5, out=root, strikes_each_side=12, progress=False)
    return root


@pytest.mark.parametrize(("d_exit", "l_exit"), [
    ({"profit_target": 400, "max_loss": 400}, {"mtm_target": 400, "mtm_stop_loss": 400}),
    ({"profit_target_percent": 5, "stop_loss_percent": 5}, {"mtm_target_pct": 5, "mtm_stop_loss_pct": 5}),
])  # fmt: skip
def test_parity_on_the_synthetic_market(synthetic, d_exit, l_exit):
    got = same_orders(synthetic, d_exit, l_exit)
    assert sum(1 for o in got if o[1] == "ENTRY") == 4  # both trading days (3 March 2026 is Holi)
    assert any(o[0][6:] != "15:15" for o in got if o[1] == "EXIT")  # a P&L exit fired, not only the time exit
