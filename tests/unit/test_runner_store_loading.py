"""Strategies from the ``strategy_configurations`` table mean what their files mean: a row
holding a whole strategy file is validated and wired like one (risk limits on the kernel);
seed 004's composition rows load; a broken row is reported, the others still load."""

from __future__ import annotations

import copy

from _dnss_support import BASE, at, chain

from optrunner.core.clock import SimClock
from optrunner.data.seed_db import write_seed_db
from optrunner.execution.brokers.simulated import SimConfig, SimulatedExchange
from optrunner.kernel import Kernel
from optrunner.runner import StrategyRunner
from optrunner.store import Store


def test_table_rows_load_as_strategies_with_their_limits(tmp_path):
    db = tmp_path / "chain.sqlite"
    write_seed_db(db, chain(at(9, 15), 25000.0))
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    store.create_schema()
    doc = copy.deepcopy(BASE)
    doc["market_config"]["db_path"] = str(db)
    doc["risk_management"] = {"vega_limit": 100}
    store.upsert_strategy_configuration("DB_DNSS", "dnss", [], doc)
    store.upsert_strategy_configuration(
        "MOM_004", "momentum", ["NIFTY:20261117:25000:CE"], {"lookback": 5, "threshold": 0.02}
    )
    store.upsert_strategy_configuration(
        "ML_BROKEN",
        "ml_momentum",
        ["NIFTY:20261117:25000:CE"],
        {"model_path": str(tmp_path / "nope.joblib")},
    )
    store.upsert_strategy_configuration(
        "OFF", "momentum", ["NIFTY:20261117:25000:CE"], {}, is_active=False
    )
    clock = SimClock(at(9, 15))
    kernel = Kernel(
        SimulatedExchange(clock, SimConfig()), clock, capital=1_000_000.0, log_alerts=False
    )
    runner = StrategyRunner(bot=kernel, clock=clock)
    loaded = runner.load_strategies_from_store(store)
    assert loaded == {"DB_DNSS": True, "MOM_004": True, "ML_BROKEN": False}
    assert kernel.risk.limits["DB_DNSS"].vega_limit == 100  # the row's file, applied
    # edited in the table, reloaded while stopped: the new row replaces the strategy
    doc["risk_management"] = {"vega_limit": 250}
    store.upsert_strategy_configuration("DB_DNSS", "dnss", [], doc)
    assert runner.load_strategies_from_store(store)["DB_DNSS"] is True
    assert kernel.risk.limits["DB_DNSS"].vega_limit == 250
    assert sorted(runner.get_status()["strategy_names"]) == ["DB_DNSS", "MOM_004"]
    store.close()
