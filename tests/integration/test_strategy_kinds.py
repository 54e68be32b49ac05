"""Every strategy kind runs from its file on the one kernel: validate, backtest and paper run
through the CLI, with orders in orders.csv / the store."""

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
from optrunner.config.kinds import STRATEGY_KINDS
from optrunner.data.synthetic import generate
from optrunner.strategies.registry import (
    UnknownStrategyType,
    create_strategy,
    registered_strategies,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "configs"
KIND_FILES = {
    "momentum": "NIFTY_MOMENTUM.json",
    "low_frequency_demo": "NIFTY_LOW_FREQUENCY_DEMO.json",
}
DAYS = (date(2026, 10, 1), date(2026, 10, 5))  # the examples trade October-2026 contracts


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kinds") / "catalog"
    generate("NIFTY", *DAYS, out=root, progress=False)
    return root


def test_every_kind_a_file_may_name_has_a_registered_strategy():
    assert set(STRATEGY_KINDS) <= set(registered_strategies())


def test_a_config_without_a_registered_kind_is_an_error_not_a_skip():
    class Config:
        name, strategy = "X", "iron_condor_2000"

    with pytest.raises(UnknownStrategyType, match="iron_condor_2000"):
        create_strategy(Config())


@pytest.mark.parametrize("kind", sorted(KIND_FILES))
def test_kind_backtests_from_the_cli_with_orders(kind, catalog, tmp_path):
    path = EXAMPLES / KIND_FILES[kind]
    assert load_config_file(path).strategy == kind
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["backtest", str(path), "--data", str(catalog), "--out", str(out)])
    assert r.exit_code == 0, r.output
    with (out / "orders.csv").open() as f:
        orders = list(csv.DictReader(f))
    name = load_config_file(path).name
    filled = [o for o in orders if o["strategy"] == name and o["status"] == "FILLED"]
    assert filled, orders[:5]
    assert {o["tag"] for o in filled} <= {"ENTRY", "EXIT"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["strategies"][name]["trades"] >= 1


@pytest.mark.parametrize("kind", sorted(KIND_FILES))
def test_kind_paper_trades_a_day_through_the_live_node(kind, catalog, tmp_path):
    path = EXAMPLES / KIND_FILES[kind]
    store = tmp_path / "paper.sqlite"
    r = CliRunner().invoke(app, ["run", str(path), "--data", str(catalog), "--date", "2026-10-01",
                                 "--store", f"sqlite:///{store}"])  # fmt: skip
    assert r.exit_code == 0, r.output
    con = sqlite3.connect(store)
    try:
        rows = con.execute("SELECT strategy, state FROM orders").fetchall()
    finally:
        con.close()
    name = load_config_file(path).name
    assert any(s == name and status == "FILLED" for s, status in rows), rows[:5]
