"""Garbage data end to end: a backtest never trades on a bad row, and a paper `run` on a NaN
spot or a truncated day file finishes with a clear message instead of a traceback."""

from __future__ import annotations

import copy
import csv
import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_backtest_e2e import DAY, DOC, QUOTES, hand_catalog, spec_for
from typer.testing import CliRunner

from optrunner.backtest.engine import run_backtest
from optrunner.cli import app
from optrunner.data.catalog import Catalog


def test_a_backtest_does_not_sell_into_a_crossed_or_zero_quote(tmp_path, monkeypatch):
    quotes = copy.deepcopy(QUOTES)
    quotes[(9, 30)] = {(26200, "CE"): (45.0, 41.0), (25800, "PE"): (0.0, 39.0)}  # crossed, zero bid
    monkeypatch.setattr("test_backtest_e2e.QUOTES", quotes)
    hand_catalog(tmp_path)
    result = run_backtest(spec_for(tmp_path, DOC))
    out = tmp_path / "run"
    result.recorder.write(out, result.summary, result.spot)
    prices = {
        (f["contract"][-8:], float(f["price"])) for f in csv.DictReader((out / "fills.csv").open())
    }
    assert ("26200:CE", 45.0) not in prices and ("25800:PE", 0.0) not in prices
    assert result.summary["data_quality"] == {
        "dropped": {"crossed": 1, "non_positive": 1},
        "stale_snapshots": 0,
    }
    assert result.summary["trades"] == 1  # it entered on the next good snapshot instead


def test_a_clean_backtest_reports_no_drops(tmp_path):
    hand_catalog(tmp_path)
    result = run_backtest(spec_for(tmp_path, DOC))
    assert result.summary["data_quality"] == {"dropped": {}, "stale_snapshots": 0}


def _rewrite_day(cat: Catalog, edit) -> None:
    path = cat.root / "chains" / "symbol=NIFTY" / f"date={DAY}" / "part-0.parquet"
    table = pq.read_table(path)
    pq.write_table(edit(table), path)


def run_cli(tmp_path, name):
    config = tmp_path / "hand.json"
    config.write_text(json.dumps(DOC))
    store = f"sqlite:///{tmp_path / (name + '.sqlite')}"
    return CliRunner().invoke(app, ["run", str(config), "--data", str(tmp_path / "catalog"), "--date", str(DAY),
                                    "--store", store])  # fmt: skip


def test_a_paper_run_with_nan_spot_finishes_and_so_does_recover(tmp_path):
    cat = hand_catalog(tmp_path)

    def nan_spot_from_noon(table: pa.Table) -> pa.Table:
        spot = table["spot"].to_numpy().copy()
        hours = pa.compute.hour(table["ts"]).to_numpy()  # UTC: 06:30 UTC is 12:00 IST
        spot[hours >= 6] = np.nan
        return table.set_column(table.schema.get_field_index("spot"), "spot", pa.array(spot))

    _rewrite_day(cat, nan_spot_from_noon)
    first = run_cli(tmp_path, "paper")
    assert first.exit_code == 0, first.output
    assert (
        "Traceback" not in first.output
        and "data quality" in first.output
        and "stale" in first.output
    )
    again = CliRunner().invoke(app, ["run", str(tmp_path / "hand.json"), "--data", str(tmp_path / "catalog"),
                                     "--date", str(DAY), "--store", f"sqlite:///{tmp_path / 'paper.sqlite'}",
                                     "--recover"])  # fmt: skip
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_a_truncated_day_file_is_named_by_run_and_backtest(tmp_path, cut):
    cat = hand_catalog(tmp_path)
    path = cat.root / "chains" / "symbol=NIFTY" / f"date={DAY}" / "part-0.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    result = run_cli(tmp_path, "paper")
    assert result.exit_code == 2  # bad input (core/errors.py)
    assert "SimClock" not in result.output and "Traceback" not in result.output
    text = " ".join(result.output.split())  # the console wraps long lines
    assert "part-0.parquet" in result.output.replace("\n", "") and "truncated or corrupt" in text
    shutil.rmtree(tmp_path / "bt", ignore_errors=True)
    bt = CliRunner().invoke(app, ["backtest", str(tmp_path / "hand.json"), "--data", str(tmp_path / "catalog"),
                                  "--out", str(tmp_path / "bt"), "--no-report"])  # fmt: skip
    assert bt.exit_code == 2 and "Traceback" not in bt.output
    assert "part-0.parquet" in bt.output.replace("\n", ""), bt.output
