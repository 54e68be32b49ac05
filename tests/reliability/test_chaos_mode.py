"""Chaos mode: ``--faults`` parsed and validated, repeatable, and continued across a restart."""

from __future__ import annotations

import json
from datetime import date
from itertools import islice

import pytest
from typer.testing import CliRunner

from optrunner.backtest.engine import merged_snapshots
from optrunner.cli import app
from optrunner.config import validate_config
from optrunner.core.clock import SimClock
from optrunner.data.catalog import Catalog
from optrunner.data.synthetic import generate
from optrunner.execution.brokers import FaultConfig, FaultInjector
from optrunner.execution.brokers.faults import parse_faults
from optrunner.live.node import TradingNode
from optrunner.live.paper_broker import PaperBroker
from optrunner.store import Store

DAY = date(2026, 11, 16)
DOC = {
    "name": "CH", "enabled": True, "strategy": "dnss",
    "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY", "db_path": "catalog"},
    "entry": {"entry_time": "09:30", "target_ce_delta": 0.25, "target_pe_delta": 0.25, "quantity": 4},
    "adjustment": {"enabled": True, "delta_drift_trigger": 0.1, "cooldown_seconds": 60, "max_adjustments_per_day": 20},
    "exit": {"exit_time": "15:15"},
}  # fmt: skip
CHAOS = "reject=0.05,lost=0.05,hidden=0.2,partial=0.3,burst=0.02,burst_seconds=2,spike=0.05,spike_ms=90000,seed=4"


def test_parse_faults_reads_every_key():
    config, seed = parse_faults(CHAOS)
    assert seed == 4
    assert config == FaultConfig(reject_rate=0.05, timeout_rate=0.05, status_unknown_rate=0.2, partial_fill_rate=0.3,
                                 rate_limit_burst_rate=0.02, rate_limit_burst_seconds=2.0, latency_spike_rate=0.05,
                                 latency_spike_ms=90000.0)  # fmt: skip


@pytest.mark.parametrize(("text", "says"), [
    ("reject=2", "reject_rate must be a probability in [0, 1]"),
    ("rejct=0.1", "unknown fault 'rejct'"),
    ("reject=lots", "reject='lots' is not a number"),
    ("reject", "'reject' is not key=value"),
    ("seed=1.5,lost=-1", "seed=1.5 must be a whole number"),
])  # fmt: skip
def test_parse_faults_names_the_problem(text, says):
    with pytest.raises(ValueError, match="--faults") as err:
        parse_faults(text)
    assert says in str(err.value)


def test_the_cli_refuses_bad_faults_cleanly(tmp_path):
    r = CliRunner().invoke(app, ["backtest", str(tmp_path / "x.json"), "--data", str(tmp_path), "--faults", "reject=7"])
    assert r.exit_code == 2 and "reject_rate must be a probability" in r.output and "Traceback" not in r.output


def test_injector_state_round_trips_and_continues_the_sequence():
    a = FaultInjector(parse_faults(CHAOS)[0], seed=3)
    for k in range(50):
        a.lose_answer(f"x{k}")
    b = FaultInjector(a.config, seed=999)
    b.load_state(json.loads(json.dumps(a.to_state())))
    assert [a.lose_answer(f"y{k}") for k in range(200)] == [b.lose_answer(f"y{k}") for k in range(200)]
    assert a.to_state() == b.to_state()


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    root = tmp_path_factory.mktemp("chaos")
    generate("NIFTY", DAY, DAY, seed=11, out=root / "catalog", strikes_each_side=15, progress=False)
    cfg, issues = validate_config(DOC, root)
    assert not issues, issues
    return cfg, list(merged_snapshots(Catalog(root / "catalog"), ["NIFTY"], DAY, DAY))


def node_at(tmp_path, name, cfg, recover=False):
    store = Store(f"sqlite:///{tmp_path / name}.sqlite")
    store.create_schema()
    clock = SimClock()
    config, seed = parse_faults(CHAOS)
    broker = PaperBroker(tmp_path / f"{name}.json", clock, faults=FaultInjector(config, seed))
    make = TradingNode.recover if recover else TradingNode
    return make([cfg], store, broker, clock, capital=50_000_000.0)


def outcome(node):
    orders = [(o.client_id, o.contract.id, o.side, o.quantity, o.state, o.filled_qty) for o in node.store.load_orders()]
    return orders, sorted(f.fill_id for f in node.store.load_fills()), dict(node.kernel.broker.exchange.faults.injected)


def test_a_resumed_chaos_session_continues_the_same_fault_sequence(day, tmp_path):
    cfg, snaps = day
    whole = node_at(tmp_path, "whole", cfg)
    whole.run(snaps)
    first = node_at(tmp_path, "parts", cfg)
    first.run(islice(snaps, 150), close_last_day=False)  # then the process goes away
    resumed = node_at(tmp_path, "parts", cfg, recover=True)
    resumed.run(snaps)
    assert outcome(resumed) == outcome(whole)
    assert sum(outcome(whole)[2].values()) > 5  # faults really happened


def test_differences_found_in_a_paper_session_are_journaled(day, tmp_path, invariants):
    cfg, snaps = day
    store = Store(f"sqlite:///{tmp_path / 'r.sqlite'}")
    store.create_schema()
    clock = SimClock()
    hiding = FaultInjector(FaultConfig(timeout_rate=0.2, status_unknown_rate=1.0), seed=1)
    node = TradingNode([cfg], store, PaperBroker(tmp_path / "r.json", clock, faults=hiding), clock,
                       capital=50_000_000.0, keep_checkpoints=20)  # fmt: skip
    node.run(snaps)
    found = node.kernel.reconciler.differences
    assert found and hiding.injected["status_hidden"] > 0
    journaled = [e.payload for e in store.journal() if e.kind == "reconciliation"]
    assert journaled == [d.to_dict() for d in found]
    assert sum(1 for e in store.journal() if e.kind == "checkpoint") < 40  # pruned
    invariants(node.kernel)
