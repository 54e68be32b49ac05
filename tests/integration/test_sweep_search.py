"""`optrunner sweep --search random|tpe`: Optuna over the grid's values on the in-sample days,
the best sets run again out of sample, both reported; the split is by time and disjoint."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optrunner.backtest.search import search, split_days
from optrunner.backtest.sweep import SweepJob, parse_grid, sweep
from optrunner.cli import app
from optrunner.data.synthetic import generate
from optrunner.execution.brokers.simulated import SimConfig

DOC = {
    "name": "SEARCH_DNSS", "enabled": True, "strategy": "dnss",
    "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY"},
    "entry": {"entry_time": "09:30", "target_ce_delta": 0.3, "target_pe_delta": 0.3, "delta_tolerance": 0.1,
              "quantity": 1},
    "adjustment": {"enabled": True, "delta_drift_trigger": 0.2, "cooldown_seconds": 60},
    "exit": {"exit_time": "15:15"},
}  # fmt: skip
GRID = ["adjustment.delta_drift_trigger=0.1,0.2,0.4", "entry.target_ce_delta=0.2,0.3"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("search")
    generate("NIFTY", date(2026, 11, 16), date(2026, 11, 18), seed=9, out=root / "catalog", strikes_each_side=8,
             progress=False)  # fmt: skip
    (root / "dnss.json").write_text(json.dumps(DOC))
    return root


def job(workdir: Path) -> SweepJob:
    return SweepJob(workdir / "dnss.json", workdir / "catalog", None, None, 1_000_000.0, SimConfig(), 0.0)


def test_split_is_by_time_and_disjoint(workdir):
    ins, oos = split_days(job(workdir), "NIFTY", 0.3)
    assert ins == (date(2026, 11, 16), date(2026, 11, 17)) and oos == (date(2026, 11, 18), date(2026, 11, 18))
    with pytest.raises(ValueError, match="too few"):
        split_days(job(workdir), "NIFTY", 0.999)


def test_search_ranks_in_sample_and_checks_the_best_out_of_sample(workdir):
    j = job(workdir)
    result = search(j, parse_grid(GRID), search="tpe", trials=8, metric="net_pnl", oos_fraction=0.3, top=2, workers=2)
    rows = result.rows
    assert 1 <= len(rows) <= 6 and all(not r["error"] for r in rows)
    in_pnl = [r["is_net_pnl"] for r in rows]
    assert in_pnl == sorted(in_pnl, reverse=True)
    checked = [r for r in rows if r["oos_net_pnl"] is not None]
    assert checked == rows[:2]  # the two best in sample, run out of sample
    # independent reference: the plain grid over each half gives the same numbers
    import dataclasses

    (a, b), (c, d) = result.in_sample, result.out_of_sample
    full_in = sweep(dataclasses.replace(j, start=a, end=b), parse_grid(GRID), workers=2, metric="net_pnl")
    full_out = sweep(dataclasses.replace(j, start=c, end=d), parse_grid(GRID), workers=2, metric="net_pnl")
    axes = ("adjustment.delta_drift_trigger", "entry.target_ce_delta")
    by_in = {tuple(r[x] for x in axes): r["net_pnl"] for r in full_in}
    by_out = {tuple(r[x] for x in axes): r["net_pnl"] for r in full_out}
    for r in rows:
        assert r["is_net_pnl"] == by_in[tuple(r[x] for x in axes)]
    for r in checked:
        assert r["oos_net_pnl"] == by_out[tuple(r[x] for x in axes)]


def test_cli_search_writes_search_csv_and_refuses_a_bad_kind(workdir, tmp_path):
    base = ["sweep", str(workdir / "dnss.json"), "--data", str(workdir / "catalog"), "--metric", "net_pnl",
            "--out", str(tmp_path / "s"), "--workers", "1", *[x for g in GRID for x in ("--grid", g)]]  # fmt: skip
    bad = CliRunner().invoke(app, [*base, "--search", "grid"])
    assert bad.exit_code == 2 and "random or tpe" in bad.output
    ok = CliRunner().invoke(app, [*base, "--search", "random", "--trials", "3", "--oos", "0.3", "--top", "1"])
    assert ok.exit_code == 0, ok.output
    with open(tmp_path / "s" / "search.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and {"is_net_pnl", "oos_net_pnl"} <= set(rows[0]) and rows[0]["oos_net_pnl"] != ""
    settings = json.loads((tmp_path / "s" / "settings.json").read_text())
    assert settings["search"] == "random" and settings["out_of_sample"] == ["2026-11-18", "2026-11-18"]
