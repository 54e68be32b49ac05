"""A whole synthetic trading day through the runner: the example configs, a probe, a faulty strategy.

Loads examples/configs/ (their seed chain files are made from the synthetic day when the
repository's examples/data/ lacks them), replays NIFTY and BANKNIFTY catalog chains in time
order and checks what every strategy received, what the bot got, the metrics and the
isolation of a strategy that breaks mid-day.
"""

from __future__ import annotations

import heapq
import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from optrunner.core.orders import OrderIntent
from optrunner.core.types import Side, Tag
from optrunner.data.catalog import Catalog
from optrunner.data.seed_db import write_seed_db
from optrunner.data.synthetic import generate
from optrunner.instruments.contracts import OptionContract
from optrunner.market.adapters import ChainReplayAdapter
from optrunner.runner import StrategyRunner
from optrunner.strategies.base import BaseStrategy, Subscriptions

REPO = Path(__file__).resolve().parents[2]
DAY = date(2026, 1, 13)
SNAPSHOTS = 376  # 09:15..15:30 every minute


class RecordingBot:
    def __init__(self) -> None:
        self.received: dict[str, list] = {}

    def process_intents(self, strategy_name, intents):
        self.received.setdefault(strategy_name, []).extend(intents)


class Probe(BaseStrategy):
    """Counts what it is sent; buys one lot of its option on every 60th NIFTY chain."""

    def __init__(self, option_id: str) -> None:
        super().__init__("PROBE")
        self.option_id = option_id
        self.chains: list = []
        self.ticks: dict[str, int] = {}
        self.timers = 0
        self.started = self.stopped = 0

    def subscriptions(self) -> Subscriptions:
        return Subscriptions(chains={"NIFTY"}, ticks={"NIFTY", self.option_id}, timer=True)

    def on_start(self, now):
        self.started += 1
        return ()

    def on_stop(self, now):
        self.stopped += 1
        return ()

    def on_chain(self, snapshot):
        self.chains.append(snapshot)
        if len(self.chains) % 60 == 0:
            return [
                OrderIntent(
                    self.name, Tag.ENTRY, OptionContract.from_id(self.option_id), Side.BUY, 65
                )
            ]
        return ()

    def on_tick(self, tick):
        self.ticks[tick.instrument] = self.ticks.get(tick.instrument, 0) + 1
        return ()

    def on_timer(self, now):
        self.timers += 1
        return ()


class Faulty(BaseStrategy):
    """Works for 9 chains, then raises on every one."""

    def __init__(self) -> None:
        super().__init__("FAULTY")
        self.calls = 0

    def subscriptions(self) -> Subscriptions:
        return Subscriptions(chains={"NIFTY"})

    def on_chain(self, snapshot):
        self.calls += 1
        if self.calls >= 10:
            raise ZeroDivisionError(f"bad arithmetic on chain {self.calls}")
        return ()


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    root = tmp_path_factory.mktemp("runner_day")
    catalog_root = root / "catalog"
    for symbol in ("NIFTY", "BANKNIFTY"):
        generate(
            symbol,
            DAY,
            DAY,
            seed=21,
            out=catalog_root,
            strikes_each_side=20,
            horizon_days=35,
            progress=False,
        )
    configs = root / "configs"
    configs.mkdir()
    for path in (REPO / "examples" / "configs").glob("*DNSS*.json"):  # this day is the DNSS examples'
        shutil.copy(path, configs / path.name)
    data = root / "data"
    data.mkdir()
    catalog = Catalog(catalog_root)
    for symbol in ("NIFTY", "BANKNIFTY"):
        name = f"NFO_{symbol}_sample.sqlite"
        shipped = REPO / "examples" / "data" / name
        if shipped.is_file():
            shutil.copy(shipped, data / name)
        else:
            write_seed_db(data / name, next(catalog.snapshots(symbol, DAY, DAY)))
    # The examples name no chain file (backtest reads --data); the Python runner's
    # database_market reads market_config.db_path, so give each copy one, as the README says.
    for path in configs.glob("*_DNSS.json"):
        doc = json.loads(path.read_text())
        doc["market_config"]["db_path"] = f"../data/NFO_{doc['market_config']['symbol']}_sample.sqlite"
        doc["monitoring"]["log_file"] = f"../logs/{doc['name']}.log"
        path.write_text(json.dumps(doc))
    return root, catalog


def test_a_synthetic_day_through_the_runner(day):
    root, catalog = day
    bot = RecordingBot()
    runner = StrategyRunner(bot=bot, poll_interval=2.0)
    alerts = []
    runner.on_alert(alerts.append)
    loaded = runner.load_strategies_from_json(root / "configs")
    assert loaded == {"BANKNIFTY_DNSS": True, "NIFTY_DNSS": True}  # the TEMPLATE is skipped

    first = next(catalog.snapshots("NIFTY", DAY, DAY))
    atm = int(np.argmin(np.abs(first.strike - first.spot) + 1e9 * ~first.is_call))
    option_id = first.contract(atm).id
    probe, faulty = Probe(option_id), Faulty()
    runner.register("PROBE", probe)
    runner.register("FAULTY", faulty)

    nifty = ChainReplayAdapter.from_catalog(catalog, "NIFTY", DAY, DAY)
    bank = ChainReplayAdapter.from_catalog(catalog, "BANKNIFTY", DAY, DAY)
    nifty.subscribe(["NIFTY", option_id])
    events = heapq.merge(nifty.events(), bank.events(), key=lambda e: e.ts)
    runner.start_strategies(first.ts)
    n = runner.run(events)
    runner.stop_strategies(first.ts.replace(hour=15, minute=30))

    # routing: the probe saw every NIFTY chain and tick it asked for, and nothing of BANKNIFTY
    option_ticks_expected = 0
    for snap in catalog.snapshots("NIFTY", DAY, DAY):
        i = snap.index_of(first.contract(atm))
        option_ticks_expected += int(i is not None and snap.ltp[i] > 0)
    assert len(probe.chains) == SNAPSHOTS and {s.symbol for s in probe.chains} == {"NIFTY"}
    assert probe.ticks == {"NIFTY": SNAPSHOTS, option_id: option_ticks_expected}
    assert probe.timers == SNAPSHOTS  # 2 s interval, one-minute data: once per instant
    assert (probe.started, probe.stopped) == (1, 1)
    assert n == 2 * SNAPSHOTS + SNAPSHOTS + option_ticks_expected

    # intents: returned, sent to the bot under the right name, counted
    assert [i.strategy for i in bot.received["PROBE"]] == ["PROBE"] * (SNAPSHOTS // 60)
    metrics = runner.get_metrics()
    m_probe = metrics["strategies"]["PROBE"]
    assert m_probe["total_ticks"] == SNAPSHOTS * 3 + option_ticks_expected
    assert m_probe["total_commands"] == SNAPSHOTS // 60 and m_probe["total_errors"] == 0

    # isolation: the faulty strategy was halted after 5 errors in a row, with one alert
    m_faulty = metrics["strategies"]["FAULTY"]
    assert faulty.calls == 14 and m_faulty["halted"] and m_faulty["total_errors"] == 5
    assert m_faulty["total_ticks"] == 9
    faulty_alerts = [a for a in alerts if a.source == "strategy:FAULTY"]
    assert len(faulty_alerts) == 1 and faulty_alerts[0].ts == first.ts.replace(minute=15 + 13)
    assert "ZeroDivisionError" in faulty_alerts[0].message

    # the example strategies ran the whole day untouched by it
    for name in ("NIFTY_DNSS", "BANKNIFTY_DNSS"):
        m = metrics["strategies"][name]
        assert not m["halted"] and m["total_errors"] == 0, (name, m["last_error"])
        assert m["total_ticks"] == 2 * SNAPSHOTS  # every chain of its symbol + its timer
        assert bot.received.get(name), f"{name} sent no intents all day"
        legs = [leg for item in bot.received[name] for leg in getattr(item, "legs", [item])]
        assert {leg.strategy for leg in legs} == {name}
    assert metrics["global"]["total_errors"] == 5 and metrics["global"]["halted_strategies"] == 1
    assert runner.get_status()["halted"] == ["FAULTY"]
    text = runner.format_metrics()
    assert "Global | ticks=" in text and all(name in text for name in loaded)
    assert (root / "logs" / "NIFTY_DNSS.log").is_file()
