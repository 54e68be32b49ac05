"""Checkpoints of the trading node, the resync after a restart, and the journal's fill de-duplication."""

from __future__ import annotations

import json
from datetime import date, timedelta
from itertools import islice

import pytest
from _execution_support import LOT, NAN, T0, chain, intent

from optrunner.backtest.engine import merged_snapshots
from optrunner.config import validate_config
from optrunner.core.clock import SimClock
from optrunner.core.orders import ChargeBreakdown, Fill
from optrunner.core.types import OrderState, OrderType, Side, Tag
from optrunner.data.catalog import Catalog
from optrunner.data.synthetic import generate
from optrunner.execution import ExecutionError, ExecutionPolicy, OrderManager
from optrunner.execution.brokers import SimulatedExchange
from optrunner.kernel import Kernel
from optrunner.live.node import TradingNode
from optrunner.live.paper_broker import PaperBroker
from optrunner.live.recovery import (
    StoreJournal,
    kernel_state,
    latest_checkpoint,
    possibly_sent,
    restore_kernel,
)
from optrunner.store import Store

S = OrderState
DAY = date(2026, 11, 16)
CAPITAL = 50_000_000.0
DOC = {
    "name": "CK", "enabled": True, "strategy": "dnss",
    "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY", "db_path": "catalog"},
    "entry": {"entry_time": "09:30", "target_ce_delta": 0.25, "target_pe_delta": 0.25, "quantity": 30},
    "adjustment": {"enabled": True, "delta_drift_trigger": 0.1, "cooldown_seconds": 60, "max_adjustments_per_day": 20},
    "exit": {"exit_time": "15:15"},
    "execution": {"order_type": "MARKET", "price_limit_percent": 1.0, "timeout_seconds": 30, "on_timeout": "reprice"},
}  # fmt: skip


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    root = tmp_path_factory.mktemp("ck")
    generate("NIFTY", DAY, DAY, seed=11, out=root / "catalog", strikes_each_side=15, progress=False)
    cfg, issues = validate_config(DOC, root)
    assert not issues, issues
    return root, cfg, list(merged_snapshots(Catalog(root / "catalog"), ["NIFTY"], DAY, DAY))


def node_at(tmp_path, name, cfg, recover=False):
    store = Store(f"sqlite:///{tmp_path / name}.sqlite")
    store.create_schema()
    clock = SimClock()
    broker = PaperBroker(tmp_path / f"{name}.json", clock)
    make = TradingNode.recover if recover else TradingNode
    return make([cfg], store, broker, clock, capital=CAPITAL)


def outcome(node):
    orders = [(o.client_id, o.contract.id, o.side, o.quantity, o.state, o.filled_qty, o.avg_price)
              for o in node.store.load_orders()]  # fmt: skip
    fills = [
        (f.fill_id, f.client_id, f.quantity, f.price, f.charges.total)
        for f in node.store.load_fills()
    ]
    return orders, fills, kernel_state(node.kernel)


def test_a_checkpoint_holds_the_whole_kernel_and_restores_it_exactly(day, tmp_path):
    _, cfg, snaps = day
    node = node_at(tmp_path, "a", cfg)
    node.run(islice(snaps, 80), close_last_day=False)  # 09:15-10:34: entered and adjusted
    state = kernel_state(node.kernel)
    assert (
        state["om"]["orders"]
        and state["portfolio"]["positions"]
        and state["strategies"]["CK"]["phase"]
    )
    entry = latest_checkpoint(node.store)
    assert entry.ts == snaps[79].ts and entry.payload["kernel"] == json.loads(json.dumps(state))
    fresh = node_at(tmp_path, "b", cfg)
    restore_kernel(fresh.kernel, entry.payload["kernel"])
    assert kernel_state(fresh.kernel) == entry.payload["kernel"]


def test_a_node_resumed_from_a_checkpoint_ends_like_one_never_stopped(day, tmp_path):
    _, cfg, snaps = day
    whole = node_at(tmp_path, "whole", cfg)
    whole.run(snaps)
    first = node_at(tmp_path, "parts", cfg)
    first.run(islice(snaps, 150), close_last_day=False)  # then the process goes away
    resumed = node_at(tmp_path, "parts", cfg, recover=True)
    assert resumed.resume_after == snaps[149].ts and resumed.possibly_sent == []
    assert resumed.run(snaps) == len(snaps) - 150
    assert outcome(resumed) == outcome(whole)
    assert len(outcome(whole)[0]) > 20  # the day really traded


def test_resync_reads_what_the_broker_did_while_we_were_down(tmp_path):
    """A resting order executes at the broker on the snapshot the crash interrupted; the
    restarted kernel feeds that snapshot again (the broker does not trade twice) and learns
    the execution from ``order_status``, where the lost answer would have been read. Without
    the resync, the reconciliation at its first input reads it from the trade book instead."""
    clock = SimClock(T0)
    path = tmp_path / "book.json"
    kernel = Kernel(PaperBroker(path, clock), clock, capital=CAPITAL)
    kernel.on_chain(chain())
    kernel.router.submit(
        intent(Side.BUY, LOT, order_type=OrderType.LIMIT, limit=140.0),
        ExecutionPolicy(market_as_limit=False),
    )
    kernel.om.drain()
    checkpoint = json.loads(json.dumps(kernel_state(kernel)))
    inflight = chain(T0 + timedelta(seconds=60), c25000=(138.0, 139.0, 138.5, NAN, NAN))
    clock.advance(inflight.ts)
    kernel.broker.on_snapshot(inflight)  # executed and saved at the broker; then the crash
    for resync, expected in ((False, S.FILLED), (True, S.FILLED)):
        clock2 = SimClock(T0)
        k2 = Kernel(PaperBroker(path, clock2), clock2, capital=CAPITAL)
        restore_kernel(k2, checkpoint)
        if resync:
            k2.resync_at_next_input()
        k2.on_chain(inflight)
        o = k2.om.get("s-000001")
        assert o.state is expected
    assert (o.filled_qty, o.avg_price) == (LOT, 139.0)
    assert k2.portfolio.position("s", o.contract).quantity == LOT
    assert k2.broker.accepted == {"s-000001": 1}


def test_possibly_sent_is_what_the_store_holds_beyond_the_checkpoint():
    clock = SimClock(T0)
    ex = SimulatedExchange(clock)
    ex.on_snapshot(chain())
    om = OrderManager(ex, clock)
    om.on_snapshot(chain())
    om.place(intent(Side.BUY, LOT, order_type=OrderType.LIMIT, limit=140.0))  # rests
    om.drain()
    checkpoint = om.to_state()
    om.place(intent(Side.BUY, LOT))  # new after the checkpoint
    clock.advance(T0 + timedelta(seconds=1))
    om.cancel("s-000001")  # moved on after the checkpoint
    om.drain()
    assert [o.client_id for o in possibly_sent(om.orders(), checkpoint)] == ["s-000001", "s-000002"]
    assert possibly_sent(om.orders(), om.to_state()) == []
    assert [o.client_id for o in possibly_sent(om.orders(), None)] == ["s-000001", "s-000002"]


def _fill(price: float) -> Fill:
    return Fill(
        "X1",
        "s-000001",
        "s",
        Tag.ENTRY,
        intent().contract,
        Side.BUY,
        LOT,
        price,
        T0,
        ChargeBreakdown(),
    )


def test_store_journal_skips_a_stored_fill_and_refuses_a_different_one_under_its_id(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.create_schema()
    StoreJournal(store).save_fill(_fill(151.0))
    store.flush()
    journal = StoreJournal(store, store.load_fills())
    journal.save_fill(_fill(151.0))
    journal.flush()  # would fail on the unique fill id had it been saved again
    assert journal.skipped == 1 and len(store.load_fills()) == 1
    with pytest.raises(ExecutionError, match="X1"):
        journal.save_fill(_fill(152.0))
    store.close()
