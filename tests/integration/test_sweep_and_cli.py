"""Parameter sweeps and the backtest command line, on a small synthetic catalog."""

from __future__ import annotations

import copy
import csv
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optrunner.backtest.sweep import GridAxis, SweepJob, parse_grid, sweep
from optrunner.cli import app
from optrunner.data.catalog import Catalog
from optrunner.data.synthetic import generate
from optrunner.execution.brokers.simulated import SimConfig

DOC = {
    "name": "SWEEP_DNSS", "enabled": True, "strategy": "dnss",
    "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY", "db_path": "catalog"},
    "entry": {"entry_time": "09:30", "target_ce_delta": 0.3, "target_pe_delta": 0.3, "delta_tolerance": 0.1,
              "quantity": 1},
    "adjustment": {"enabled": True, "delta_drift_trigger": 0.2, "cooldown_seconds": 60},
    "exit": {"exit_time": "15:15"},
}  # fmt: skip


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    generate("NIFTY", date(2026, 11, 16), date(2026, 11, 17), seed=3, out=root / "catalog", strikes_each_side=15,
             progress=False)  # fmt: skip
    (root / "dnss.json").write_text(json.dumps(DOC))
    return root


def test_parse_grid_values_and_errors():
    assert parse_grid(["entry.target_ce_delta=0.2,0.25", "adjustment.enabled=true,false"]) == [
        GridAxis("entry.target_ce_delta", (0.2, 0.25)), GridAxis("adjustment.enabled", (True, False))]  # fmt: skip
    with pytest.raises(ValueError, match=r"section\.key=v1,v2"):
        parse_grid(["entry.target_ce_delta"])


def test_sweep_runs_every_combination_ranked_and_streams_its_days(workdir, monkeypatch):
    reads = []
    real_day = Catalog.day

    def counting_day(self, symbol, d, columns=None):
        reads.append(d)
        return real_day(self, symbol, d, columns)

    monkeypatch.setattr(Catalog, "day", counting_day)
    job = SweepJob(workdir / "dnss.json", workdir / "catalog", None, None, 1_000_000.0, SimConfig(), 0.0)
    axes = parse_grid(["adjustment.delta_drift_trigger=0.15,0.3,0.9", "entry.target_ce_delta=0.2,0.3"])
    rows = sweep(job, axes, workers=1, metric="net_pnl")
    assert len(rows) == 6 and {r["run"] for r in rows} == set(range(1, 7))
    assert all(r["error"] == "" for r in rows)
    pnls = [r["net_pnl"] for r in rows]
    assert pnls == sorted(pnls, reverse=True) and [r["rank"] for r in rows] == list(range(1, 7))
    # two groups of combinations (4 + 2) each stream the two days once, sharing the pass: no
    # worker holds the range, and no day is read once per combination
    assert len(reads) == 4
    # the combinations really differ: a wide trigger adjusts no more often than a tight one
    by = {(r["adjustment.delta_drift_trigger"], r["entry.target_ce_delta"]): r for r in rows}
    assert by[(0.9, 0.3)]["adjustments"] <= by[(0.15, 0.3)]["adjustments"]


def test_invalid_combination_is_reported_not_run(workdir):
    job = SweepJob(workdir / "dnss.json", workdir / "catalog", None, None, 1_000_000.0, SimConfig(), 0.0)
    rows = sweep(job, parse_grid(["entry.delta_tolerance=0.05,0.5"]), workers=1)
    bad = [r for r in rows if r["error"]]
    assert len(bad) == 1 and "0.15" in bad[0]["error"]  # the hard cap on delta tolerance
    assert rows[-1] is bad[0]  # failed runs rank last


def test_sweep_with_a_process_pool_matches_one_worker(workdir):
    job = SweepJob(workdir / "dnss.json", workdir / "catalog", None, None, 1_000_000.0, SimConfig(), 0.0)
    axes = parse_grid(["adjustment.delta_drift_trigger=0.15,0.3"])
    one = {r["run"]: r["net_pnl"] for r in sweep(job, axes, workers=1)}
    two = {r["run"]: r["net_pnl"] for r in sweep(job, axes, workers=2)}
    assert one == two


def test_backtest_command_writes_every_output(workdir, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["backtest", str(workdir / "dnss.json"), "--data", str(workdir / "catalog"),
                                      "--out", str(out), "--slippage", "1t"])  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in ("summary.json", "trades.csv", "orders.csv", "fills.csv", "equity.csv", "daily.csv", "report.html"):
        assert (out / name).is_file(), name
    s = json.loads((out / "summary.json").read_text())
    for key in ("start", "end", "days", "capital", "gross_pnl", "charges", "net_pnl", "return_pct", "trades",
                "win_rate", "avg_win", "avg_loss", "expectancy", "profit_factor", "max_drawdown", "max_drawdown_pct",
                "sharpe", "sortino", "calmar", "adjustments", "orders", "rejected_orders", "best_day", "worst_day",
                "strategies"):  # fmt: skip
        assert key in s, key
    assert s["days"] == 2 and "SWEEP_DNSS" in s["strategies"]
    assert "Net P&L" in result.output and "report.html" in result.output
    assert len(list(csv.DictReader((out / "daily.csv").open()))) == 2


def test_slippage_costs_money(workdir, tmp_path):
    nets = []
    for slip in ("0", "2t"):
        out = tmp_path / slip
        r = CliRunner().invoke(app, ["backtest", str(workdir / "dnss.json"), "--data", str(workdir / "catalog"),
                                     "--out", str(out), "--slippage", slip, "--no-report"])  # fmt: skip
        assert r.exit_code == 0, r.output
        nets.append(json.loads((out / "summary.json").read_text())["net_pnl"])
    assert nets[1] < nets[0]


def test_backtest_command_reports_every_bad_config_and_exits_2(workdir, tmp_path):
    bad = copy.deepcopy(DOC)
    bad["entry"]["entry_time"] = "9:30"
    bad["exit"]["exit_time"] = "16:00"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    (tmp_path / "catalog").symlink_to(workdir / "catalog")
    r = CliRunner().invoke(app, ["backtest", str(tmp_path / "bad.json"), "--data", str(workdir / "catalog")])
    assert r.exit_code == 2
    assert "entry.entry_time" in r.output and "exit.exit_time" in r.output


def test_no_data_in_range_says_what_is_available(workdir, tmp_path):
    r = CliRunner().invoke(app, ["backtest", str(workdir / "dnss.json"), "--data", str(workdir / "catalog"),
                                 "--from", "2025-01-01", "--to", "2025-01-31", "--out", str(tmp_path / "x")])  # fmt: skip
    assert r.exit_code != 0 and "2026-11-16" in r.output




def test_combinations_sharing_one_pass_give_the_rows_of_runs_one_by_one(workdir):
    job = SweepJob(workdir / "dnss.json", workdir / "catalog", None, None, 1_000_000.0, SimConfig(), 0.0)
    axes = parse_grid(["adjustment.delta_drift_trigger=0.1,0.2,0.4", "entry.target_ce_delta=0.2,0.3"])
    alone = sweep(job, axes, workers=1, metric="net_pnl", share=1)
    shared = sweep(job, axes, workers=1, metric="net_pnl", share=4)
    assert shared == alone
    assert len({r["net_pnl"] for r in alone}) > 1  # the kernels of one pass did not share state
