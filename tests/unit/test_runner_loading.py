"""StrategyRunner.load_strategies_from_json: good, bad, disabled and skipped files, factories."""

from __future__ import annotations

import json
import logging
from datetime import datetime

import numpy as np
import pytest

from optrunner.core.timeutil import IST
from optrunner.data.seed_db import write_seed_db
from optrunner.data.snapshot import ChainSnapshot
from optrunner.market.adapters import SeedDbPollingAdapter
from optrunner.runner import StrategyRunner
from optrunner.strategies.base import BaseStrategy, Subscriptions
from optrunner.strategies.dnss import DNSS


def seed_chain(path, symbol="NIFTY"):
    snap = ChainSnapshot.from_columns(
        symbol, datetime(2026, 1, 13, 9, 30, tzinfo=IST), 25010.0,
        {"strike": [25000.0, 25000.0], "right": ["CE", "PE"], "expiry": np.datetime64("2026-01-13"),
         "ltp": [120.0, 110.0], "delta": [0.52, -0.48]},
    )  # fmt: skip
    write_seed_db(path, snap)


def strategy_file(folder, file_name, **overrides):
    doc = {
        "name": file_name.split(".")[0],
        "enabled": True,
        "market_config": {
            "market_type": "database_market",
            "exchange": "NFO",
            "symbol": "NIFTY",
            "db_path": "nifty.sqlite",
        },
        "entry": {
            "entry_time": "09:30",
            "target_ce_delta": 0.3,
            "target_pe_delta": 0.3,
            "quantity": 1,
        },
        "adjustment": {"enabled": False},
        "exit": {"exit_time": "15:15"},
    }
    doc.update(overrides)
    (folder / file_name).write_text(json.dumps(doc))


@pytest.fixture
def configs(tmp_path):
    seed_chain(tmp_path / "nifty.sqlite")
    strategy_file(tmp_path, "NIFTY_DNSS.json")
    strategy_file(tmp_path, "NIFTY_DNSS_2.json")
    strategy_file(tmp_path, "OFF.json", enabled=False)
    strategy_file(tmp_path, "NIFTY_DNSS_TEMPLATE.json")
    (tmp_path / "STRATEGY_CONFIG_SCHEMA.json").write_text(json.dumps({"type": "object"}))
    strategy_file(
        tmp_path, "BROKEN.json",
        market_config={"market_type": "websocket", "exchange": "NFO", "symbol": "NIFTY"},
        entry={"entry_time": "9:30", "quantity": 1, "target_ce_delta": 0.3, "target_pe_delta": 0.3},
    )  # fmt: skip
    (tmp_path / "GARBAGE.json").write_text("{not json")
    return tmp_path


def test_loads_good_files_reports_bad_ones_and_skips_templates_schemas_and_disabled(
    configs, caplog
):
    runner = StrategyRunner()
    with caplog.at_level(logging.INFO):
        results = runner.load_strategies_from_json(configs)
    assert results == {"BROKEN": False, "GARBAGE": False, "NIFTY_DNSS": True, "NIFTY_DNSS_2": True}
    status = runner.get_status()
    assert status["strategy_names"] == ["NIFTY_DNSS", "NIFTY_DNSS_2"]
    # both strategies read one file: one shared, polling adapter
    assert list(status["markets"]) == [
        f"database_market:{(configs / 'nifty.sqlite').resolve()}:NIFTY"
    ]
    market = runner._slots["NIFTY_DNSS"].market
    assert (
        isinstance(market, SeedDbPollingAdapter) and runner._slots["NIFTY_DNSS_2"].market is market
    )
    errors = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    # every problem of the broken file is logged, not just the first
    assert '"websocket" is not a market type' in errors and "9:30" in errors
    assert "GARBAGE.json" in errors


def test_a_factory_returning_a_non_strategy_is_reported_false_with_a_clear_line(configs, caplog):
    runner = StrategyRunner()
    with caplog.at_level(logging.ERROR):
        results = runner.load_strategies_from_json(
            configs, strategy_factory=lambda cfg: {"name": cfg.name}
        )
    assert results["NIFTY_DNSS"] is False and runner.get_status()["total_strategies"] == 0
    line = next(r.getMessage() for r in caplog.records if "NIFTY_DNSS.json" in r.getMessage())
    assert "strategy factory returned dict" in line and "on_chain" in line


def test_a_failing_factory_or_none_is_reported_false(configs, caplog):
    def factory(cfg):
        if cfg.name == "NIFTY_DNSS":
            raise RuntimeError("no such model")
        return None

    runner = StrategyRunner()
    with caplog.at_level(logging.ERROR):
        results = runner.load_strategies_from_json(configs, strategy_factory=factory)
    assert results["NIFTY_DNSS"] is False and results["NIFTY_DNSS_2"] is False
    text = caplog.text
    assert "RuntimeError: no such model" in text and "factory returned nothing" in text


def test_a_custom_factory_gets_the_validated_config(configs):
    seen = []

    class Mine(BaseStrategy):
        def subscriptions(self):
            return Subscriptions(chains={"NIFTY"})

    def factory(cfg):
        seen.append((cfg.name, cfg.market_config.symbol, cfg.entry.target_ce_delta))
        return Mine(cfg.name)

    results = StrategyRunner().load_strategies_from_json(configs, strategy_factory=factory)
    assert results["NIFTY_DNSS"] and seen[0] == ("NIFTY_DNSS", "NIFTY", 0.3)


def test_reload_replaces_a_stopped_strategy_and_is_refused_while_running(configs, caplog):
    """The seed's "stop, then reload": the new file's strategy replaces the old one."""
    runner = StrategyRunner(poll_interval=0.05)
    assert runner.load_strategies_from_json(configs)["NIFTY_DNSS"] is True
    old = runner._slots["NIFTY_DNSS"].strategy
    runner.start()
    with caplog.at_level(logging.ERROR):
        again = runner.load_strategies_from_json(configs)
    assert again["NIFTY_DNSS"] is False and "stop the runner, then reload" in caplog.text
    runner.stop()
    runner._thread.join(timeout=5)  # the seed's scripts do this after stop()
    assert not runner._thread.is_alive()
    assert runner.load_strategies_from_json(configs)["NIFTY_DNSS"] is True
    assert runner._slots["NIFTY_DNSS"].strategy is not old
    assert runner.get_status()["strategy_names"].count("NIFTY_DNSS") == 1


def test_two_files_with_one_name_keep_the_first_and_report_the_second_by_file(configs, caplog):
    strategy_file(configs, "ZZ_COPY.json", name="NIFTY_DNSS")
    with caplog.at_level(logging.ERROR):
        results = StrategyRunner().load_strategies_from_json(configs)
    assert results["NIFTY_DNSS"] is True and results["ZZ_COPY.json"] is False
    assert "names must be unique" in caplog.text


def test_metrics_collection_false_leaves_the_strategy_out_of_the_metrics(configs):
    from optrunner.config import load_config_file

    runner = StrategyRunner()
    runner.load_strategies_from_json(configs)
    on = load_config_file(configs / "NIFTY_DNSS.json")
    off = on.model_copy(
        update={
            "name": "QUIET",
            "monitoring": on.monitoring.model_copy(update={"metrics_collection": False}),
        }
    )
    runner.register("QUIET", DNSS(off), config=off)
    metrics = runner.get_metrics()["strategies"]
    assert "NIFTY_DNSS" in metrics and "QUIET" not in metrics
    assert "QUIET" in runner.get_status()["strategy_names"]
