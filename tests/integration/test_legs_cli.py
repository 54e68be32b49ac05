"""The six ``legs`` examples validate, backtest and paper-trade a day through the live node from the
command line, on the synthetic market. Each runs on its own account: together, the account's
same-side limit (risk MAX_SAME_SIDE) refuses the later structures, as it should."""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optrunner.cli import app
from optrunner.config import load_config_file
from optrunner.data.synthetic import generate

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "configs" / "legs"
FILES = sorted(FOLDER.glob("*.json"))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("legs_cli") / "catalog"
    generate("NIFTY", date(2026, 11, 16), date(2026, 11, 16), seed=3, out=root, strikes_each_side=15, progress=False)
    return root


def test_examples_validate_from_the_cli():
    r = CliRunner().invoke(app, ["validate", str(FOLDER)])
    assert r.exit_code == 0, r.output
    assert "6 of 6 valid" in r.output


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_backtests_and_paper_trades_from_the_cli(path, catalog, tmp_path):
    name = load_config_file(path).name
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["backtest", str(path), "--data", str(catalog), "--out", str(out)])
    assert r.exit_code == 0, r.output
    with (out / "orders.csv").open() as f:
        filled = [o for o in csv.DictReader(f) if o["status"] == "FILLED"]
    assert {o["tag"] for o in filled} == {"ENTRY", "EXIT"} or name == "NIFTY_CALENDAR"  # the calendar is carried
    summary = json.loads((out / "summary.json").read_text())
    assert summary["strategies"][name]["metrics"]["entries"] == 1
    assert f"{name}: legs</h2>" in (out / "report.html").read_text(encoding="utf-8")

    store = tmp_path / "paper.sqlite"
    r = CliRunner().invoke(app, ["run", str(path), "--data", str(catalog), "--date", "2026-11-16",
                                 "--store", f"sqlite:///{store}"])  # fmt: skip
    assert r.exit_code == 0, r.output
    con = sqlite3.connect(store)
    try:
        states = [state for s, state in con.execute("SELECT strategy, state FROM orders") if s == name]
    finally:
        con.close()
    assert states and set(states) == {"FILLED"}
