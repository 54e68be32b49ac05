"""``optrunner sweep`` varies any leg field: ``--grid legs[0].stop_loss_pct=20,25,30``."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from _legs_support import EXAMPLES, MON, build_catalog, steps
from typer.testing import CliRunner

from optrunner.backtest.sweep import SweepJob, apply, parse_grid, path_steps, sweep
from optrunner.cli import app
from optrunner.execution.brokers.simulated import SimConfig

STRADDLE = "NIFTY_SHORT_STRADDLE_SL_REENTRY.json"


def test_paths_address_list_positions_and_nested_keys():
    assert path_steps("legs[0].stop_loss_pct") == ["legs", 0, "stop_loss_pct"]
    assert path_steps("legs[1].strike.steps") == ["legs", 1, "strike", "steps"]
    doc = json.loads((EXAMPLES / STRADDLE).read_text())
    out = apply(doc, {"legs[1].strike.steps": 2, "legs[0].stop_loss_pct": 20, "legs_exit.mtm_target": 900})
    assert (out["legs"][1]["strike"]["steps"], out["legs"][0]["stop_loss_pct"], out["legs_exit"]["mtm_target"]) == (2, 20, 900)
    assert doc["legs"][0]["stop_loss_pct"] == 25  # the file's document is left alone
    with pytest.raises(ValueError, match=r"legs\[2\] is not in the file \(legs has 2 item"):
        apply(doc, {"legs[2].lots": 2})
    with pytest.raises(ValueError, match="not a key or key"):
        path_steps("legs[x].lots")
    with pytest.raises(ValueError, match="no entry list to index"):
        apply(doc, {"entry[0].lots": 1})


def test_sweep_over_a_leg_stop(tmp_path):
    # 09:40 spot 25040: CE 25000 = 150 ln(1 + e^(40/150)) = 125.3, 20.6 % above the 103.90 sale: only the 20 % stop hits.
    data = build_catalog(tmp_path / "catalog", {MON: steps(("09:15", 25000), ("09:40", 25040))})
    config = tmp_path / STRADDLE
    shutil.copy(EXAMPLES / STRADDLE, config)
    job = SweepJob(config, data, None, None, 1_000_000.0, SimConfig(), 0.0)
    rows = sweep(job, parse_grid(["legs[0].stop_loss_pct=20,25,30"]), workers=1, metric="net_pnl")
    by_stop = {r["legs[0].stop_loss_pct"]: r for r in rows}
    assert set(by_stop) == {20, 25, 30} and not any(r["error"] for r in rows)
    assert by_stop[25]["net_pnl"] == pytest.approx(by_stop[30]["net_pnl"])  # neither stop hit: the same day
    assert by_stop[20]["net_pnl"] != pytest.approx(by_stop[25]["net_pnl"])  # stopped and re-entered at 25050

    out = tmp_path / "sweep"
    result = CliRunner().invoke(app, ["sweep", str(config), "--data", str(data), "--grid", "legs[0].stop_loss_pct=20,30",
                                      "--grid", "legs[1].strike.steps=0,1", "--workers", "1", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    with (out / "sweep.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 4 and {"legs[0].stop_loss_pct", "legs[1].strike.steps"} <= set(table[0])

    bad = CliRunner().invoke(app, ["sweep", str(config), "--data", str(data), "--grid", "legs[4].lots=1,2",
                                   "--workers", "1", "--out", str(tmp_path / "bad")])  # fmt: skip
    assert bad.exit_code != 0 and "legs[4] is not in the file" in bad.output
