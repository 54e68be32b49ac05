"""Seed 000's Quick Start script, with optrunner's import paths and the kernel as its bot,
against a fresh seed-format chain DB: it trades, within each file's limits; the environment's
kill switch (seed 001's DISABLE_TRADING_SUPERVISOR) blocks entries on every path."""

from __future__ import annotations

import json
import sqlite3
import time as wall
from pathlib import Path

import pytest
from _dnss_support import at, chain
from typer.testing import CliRunner

from optrunner.core.clock import SimClock
from optrunner.core.orders import OrderIntent
from optrunner.core.types import OrderState, Side, Tag
from optrunner.data.seed_db import write_seed_db
from optrunner.execution.brokers.simulated import SimConfig, SimulatedExchange
from optrunner.instruments.contracts import OptionContract
from optrunner.kernel import Kernel
from optrunner.runner import StrategyRunner
from optrunner.strategies.base import BaseStrategy, Subscriptions
from optrunner.strategies.dnss import DNSS


def seed_file(folder: Path, name: str, db: Path, **risk) -> None:
    """The Quick Start template (quantity in lots here; 15:30 exit as in the seed)."""
    doc = {
        "name": name, "enabled": True,
        "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY", "db_path": str(db)},
        "entry": {"entry_time": "09:30", "target_ce_delta": 0.30, "target_pe_delta": 0.30, "quantity": 1},
        "adjustment": {"enabled": True, "delta_drift_trigger": 0.60, "rebalance_target_delta": 0.30},
        "exit": {"exit_time": "15:30", "profit_target": 5000, "max_loss": 2000},
        "execution": {"order_type": "MARKET", "product": "NRML"},
    }  # fmt: skip
    if risk:
        doc["risk_management"] = risk
    (folder / f"{name}.json").write_text(json.dumps(doc))


def quick_start(tmp_path: Path, files: dict[str, dict]) -> tuple[Kernel, StrategyRunner, dict]:
    db = tmp_path / "NFO_NIFTY_17-Nov-2026.sqlite"
    write_seed_db(db, chain(at(9, 29), 25000.0))
    configs = tmp_path / "saved_configs"
    configs.mkdir()
    for name, risk in files.items():
        seed_file(configs, name, db, **risk)
    clock = SimClock(at(9, 29))
    bot = Kernel(
        SimulatedExchange(clock, SimConfig()), clock, capital=1_000_000.0, log_alerts=False
    )
    # --- the seed's script from here on ---
    runner = StrategyRunner(bot=bot, poll_interval=2.0, clock=clock)
    results = runner.load_strategies_from_json(
        str(configs), strategy_factory=lambda config: DNSS(config)
    )
    runner.start()
    write_seed_db(db, chain(at(9, 30), 25000.0))  # the chain writer's next snapshot
    deadline = wall.monotonic() + 10
    while wall.monotonic() < deadline and len(bot.om.orders()) < 2 * len(files):
        wall.sleep(0.05)
    runner.stop()
    runner._thread.join(timeout=5)
    return bot, runner, results


def by_strategy(kernel: Kernel) -> dict[str, list]:
    out: dict[str, list] = {}
    for o in kernel.om.orders():
        out.setdefault(o.strategy, []).append(o)
    return out


def test_quick_start_with_the_kernel_trades_and_a_vega_limit_rejects(tmp_path):
    kernel, _runner, results = quick_start(
        tmp_path, {"MY_NIFTY_DNSS": {}, "VEGA_CAPPED": {"vega_limit": 100}}
    )
    assert results == {"MY_NIFTY_DNSS": True, "VEGA_CAPPED": True}
    orders = by_strategy(kernel)
    free = orders["MY_NIFTY_DNSS"]
    assert [(o.tag, o.side, o.state) for o in free] == [
        (Tag.ENTRY, Side.SELL, OrderState.FILLED)
    ] * 2
    capped = orders["VEGA_CAPPED"]  # 65 units x vega 5.0 = 325 per leg > 100
    assert capped and all(
        o.state is OrderState.REJECTED and "VEGA_LIMIT" in o.reason for o in capped
    )
    assert kernel.risk.limits["VEGA_CAPPED"].vega_limit == 100
    assert kernel.policies["MY_NIFTY_DNSS"].market_as_limit


def test_the_environment_kill_switch_blocks_entries_through_the_runner_api(tmp_path, monkeypatch):
    monkeypatch.setenv("DISABLE_TRADING_SUPERVISOR", "true")
    kernel, runner, _ = quick_start(tmp_path, {"MY_NIFTY_DNSS": {}})
    orders = kernel.om.orders()
    assert orders and all(
        o.state is OrderState.REJECTED and "KILL_SWITCH" in o.reason for o in orders
    )
    assert runner.get_status()["trading_disabled"] == "DISABLE_TRADING_SUPERVISOR=true"
    assert kernel.risk.kill_switch.reason == "DISABLE_TRADING_SUPERVISOR=true"


class Flipper(BaseStrategy):
    """Asks for an entry and an exit on every chain (for a bot that is not the kernel)."""

    def subscriptions(self) -> Subscriptions:
        return Subscriptions(chains={"NIFTY"})

    def on_chain(self, snapshot):
        c = OptionContract.from_id("NIFTY:20261117:25000:CE")
        return [
            OrderIntent(self.name, Tag.ENTRY, c, Side.SELL, 65),
            OrderIntent(self.name, Tag.EXIT, c, Side.BUY, 65),
        ]


class SeedBot:
    def __init__(self) -> None:
        self.got: list = []

    def _process_strategy_intents(self, name, strategy, market, intents):
        self.got.extend(intents)


def test_a_plain_bot_gets_exits_only_and_a_reload_picks_up_the_switch(monkeypatch):
    from optrunner.core.events import ChainEvent

    bot = SeedBot()
    runner = StrategyRunner(bot=bot)
    runner.register("FLIP", Flipper("FLIP"))
    runner.dispatch(ChainEvent(chain(at(9, 30), 25000.0)))
    assert [i.tag for i in bot.got] == [Tag.ENTRY, Tag.EXIT]
    monkeypatch.setenv("OPTRUNNER_DISABLE_TRADING", "1")
    runner.apply_environment()  # what start() and every reload do
    bot.got.clear()
    runner.dispatch(ChainEvent(chain(at(9, 31), 25000.0)))
    assert [i.tag for i in bot.got] == [Tag.EXIT]
    assert runner.get_status()["intents_blocked"] == 1
    monkeypatch.delenv("OPTRUNNER_DISABLE_TRADING")
    runner.apply_environment()
    bot.got.clear()
    runner.dispatch(ChainEvent(chain(at(9, 32), 25000.0)))
    assert [i.tag for i in bot.got] == [Tag.ENTRY, Tag.EXIT]


def test_reload_picks_up_the_switch_on_the_kernel(tmp_path, monkeypatch):
    kernel, runner, _ = quick_start(tmp_path, {"MY_NIFTY_DNSS": {}})
    assert kernel.risk.kill_switch.allows_entries
    monkeypatch.setenv("DISABLE_TRADING_SUPERVISOR", "true")
    runner.load_strategies_from_json(str(tmp_path / "saved_configs"), strategy_factory=DNSS)
    assert not kernel.risk.kill_switch.allows_entries and kernel.risk.kill_switch.allows_exits
    monkeypatch.delenv("DISABLE_TRADING_SUPERVISOR")
    runner.load_strategies_from_json(str(tmp_path / "saved_configs"), strategy_factory=DNSS)
    assert kernel.risk.kill_switch.allows_entries


@pytest.mark.parametrize("variable", ["DISABLE_TRADING_SUPERVISOR", "OPTRUNNER_DISABLE_TRADING"])
def test_the_environment_kill_switch_blocks_entries_of_optrunner_run(
    tmp_path, monkeypatch, variable
):
    from optrunner.cli import app
    from optrunner.data.synthetic import generate

    catalog = tmp_path / "catalog"
    generate(
        "NIFTY", at(9, 0).date(), at(9, 0).date(), out=catalog, strikes_each_side=10, progress=False
    )
    config = Path(__file__).resolve().parents[2] / "examples" / "configs" / "NIFTY_DNSS.json"
    monkeypatch.setenv(variable, "true")
    store = tmp_path / "paper.sqlite"
    r = CliRunner().invoke(app, ["run", str(config), "--data", str(catalog), "--date", at(9, 0).date().isoformat(),
                                 "--store", f"sqlite:///{store}"])  # fmt: skip
    assert r.exit_code == 0, r.output
    con = sqlite3.connect(store)
    try:
        rows = con.execute("SELECT tag, state, reason FROM orders").fetchall()
    finally:
        con.close()
    assert rows and all(
        state == "REJECTED" and "KILL_SWITCH" in reason for _, state, reason in rows
    )
