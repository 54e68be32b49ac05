"""weekly_zones and momentum_buyer end to end over a synthetic year: bars derived by the
kernel from each snapshot, orders through the risk engine, router and simulated exchange,
their own counters in summary.json and their story in the report. The year's chains are
narrow (ATM +/- 20 strikes, expiries within 8 days) so it generates in seconds; the full
width year runs in benchmarks/bench_strategies.py."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from optrunner.backtest.commands import run_and_write
from optrunner.backtest.engine import BacktestSpec
from optrunner.config import load_config_file
from optrunner.data.synthetic import generate
from optrunner.strategies.weekly_signals import SIGNALS

pytestmark = pytest.mark.slow
CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"


@pytest.fixture(scope="module")
def year(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("year") / "catalog"
    generate("NIFTY", date(2026, 1, 1), date(2026, 12, 31), seed=7, out=root, strikes_each_side=20,
             horizon_days=8, progress=False)  # fmt: skip
    return root


def test_weekly_zones_year_counts_signals_per_type_in_summary_json(year, tmp_path):
    cfg = load_config_file(CONFIGS / "NIFTY_WEEKLY_ZONES.json")
    run_and_write(BacktestSpec([cfg], year), tmp_path, report=True)
    summary = json.loads((tmp_path / "summary.json").read_text())
    own = summary["strategies"]["NIFTY_WEEKLY_ZONES"]["metrics"]
    assert list(own["signals"]) == list(SIGNALS)
    fired = sum(own["signals"].values())
    assert 20 <= fired <= 52  # at most one a week, and the first week only builds a context
    assert own["entries"] >= 1 and summary["trades"] >= 1
    assert len(own["fired"]) == fired and all(f["signal"] in SIGNALS and f["outcome"] for f in own["fired"])
    assert sum(own["exits"].values()) + sum(own["skipped"].values()) >= own["entries"] - 3  # <= 3 still open
    assert not [a for a in summary["alerts"] if a.startswith("critical")]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "NIFTY_WEEKLY_ZONES: weekly zones and signals" in html and 'id="chart-story-NIFTY_WEEKLY_ZONES"' in html


def test_momentum_buyer_trades_and_counts_guard_rejections(year, tmp_path):
    cfg = load_config_file(CONFIGS / "NIFTY_MOMENTUM_BUYER.json")
    run_and_write(BacktestSpec([cfg], year, end=date(2026, 3, 31)), tmp_path, report=True)
    summary = json.loads((tmp_path / "summary.json").read_text())
    own = summary["strategies"]["NIFTY_MOMENTUM_BUYER"]["metrics"]
    assert summary["trades"] >= 10 and own["entries"] >= summary["trades"]
    assert set(own["entry_guard_rejected"]) == {"exposure_limit", "pyramid_not_in_profit", "pyramid_too_soon",
                                                "cooldown"}  # fmt: skip
    assert own["last_pick"]["score"] > 0
    assert summary["open_positions"] == 0  # out by 15:15 every day
    assert "entry guard and strike choice" in (tmp_path / "report.html").read_text(encoding="utf-8")
