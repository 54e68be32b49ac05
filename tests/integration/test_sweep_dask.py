"""Sweeps on Dask distributed: a real LocalCluster of 2 worker processes, same rows as the pool."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optrunner.backtest.sweep import REPORTED, SweepJob, parse_grid, sweep
from optrunner.backtest.sweep_dask import parse_address
from optrunner.cli import app
from optrunner.data.synthetic import generate
from optrunner.execution.brokers.simulated import SimConfig

DOC = {
    "name": "DASK_DNSS", "enabled": True, "strategy": "dnss",
    "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY"},
    "entry": {"entry_time": "09:30", "target_ce_delta": 0.3, "target_pe_delta": 0.3, "delta_tolerance": 0.1,
              "quantity": 1},
    "adjustment": {"enabled": True, "delta_drift_trigger": 0.2, "cooldown_seconds": 60},
    "exit": {"exit_time": "15:15"},
}  # fmt: skip

@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dask")
    generate("NIFTY", date(2026, 11, 16), date(2026, 11, 16), seed=5, out=root / "catalog", strikes_each_side=10,
             progress=False)  # fmt: skip
    (root / "dnss.json").write_text(json.dumps(DOC))
    return root

def _rows(rows: list[dict]) -> list[tuple]:
    return [(r["rank"], r["run"], r["error"], *(r.get(k) for k in REPORTED)) for r in rows]

def test_dask_local_cluster_of_two_processes_matches_the_local_pool(workdir):
    job = SweepJob(workdir / "dnss.json", workdir / "catalog", None, None, 1_000_000.0, SimConfig(), 0.0)
    # one invalid combination (delta_tolerance above the 0.15 cap) travels as an error row on Dask too
    axes = parse_grid(["adjustment.delta_drift_trigger=0.1,0.3", "entry.delta_tolerance=0.1,0.5"])
    seen: list[int] = []
    on_dask = sweep(job, axes, metric="net_pnl", dask="local:2", on_result=lambda r: seen.append(r["run"]))
    pool = sweep(job, axes, workers=2, metric="net_pnl")
    assert _rows(on_dask) == _rows(pool)  # every metric of every run, and the ranking
    assert sorted(seen) == [1, 2, 3, 4]
    assert sum(1 for r in on_dask if r["error"]) == 2 and all(r["trades"] for r in on_dask if not r["error"])

def test_parse_address():
    assert parse_address("local") == ("local", None)
    assert parse_address("local:3") == ("local", 3)
    assert parse_address("tcp://10.0.0.5:8786") == ("tcp://10.0.0.5:8786", None)
    for bad in ("local:0", "local:x", "10.0.0.5:8786", "tcp://"):
        with pytest.raises(ValueError, match="--dask"):
            parse_address(bad)

def test_cli_sweep_on_dask_writes_the_csv_and_refuses_a_bad_address(workdir, tmp_path):
    out = tmp_path / "sw"
    base = ["sweep", str(workdir / "dnss.json"), "--data", str(workdir / "catalog"),
            "--grid", "adjustment.delta_drift_trigger=0.1,0.3", "--out", str(out)]  # fmt: skip
    bad = CliRunner().invoke(app, [*base, "--dask", "scheduler:8786"])
    assert bad.exit_code == 2 and "tcp://scheduler:8786" in bad.output
    down = CliRunner().invoke(app, [*base, "--dask", "tcp://127.0.0.1:1"])
    assert down.exit_code == 2 and "cannot reach the scheduler" in down.output
    ok = CliRunner().invoke(app, [*base, "--dask", "local:2"])
    assert ok.exit_code == 0, ok.output
    with open(out / "sweep.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2
    assert json.loads((out / "settings.json").read_text())["dask"] == "local:2"
