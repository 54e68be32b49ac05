"""Version-2 checkpoints (issue 14): finished orders saved once each in ``checkpoint_orders``
batches, the checkpoint holding only open orders; a restart rebuilds exactly the same state,
from a version-2 checkpoint or from a version-1 one written the old way."""

from __future__ import annotations

import json
from datetime import timedelta

from _execution_support import LOT, T0, ScriptedBroker, chain, intent

from optrunner.core.clock import SimClock
from optrunner.core.orders import Basket
from optrunner.core.types import OrderState, OrderType, Side
from optrunner.execution import ExecutionPolicy, OrderManager
from optrunner.execution.brokers import BrokerEventKind
from optrunner.execution.records import record_from_dict
from optrunner.live.node import TradingNode
from optrunner.live.paper_broker import PaperBroker
from optrunner.live.recovery import (
    CHECKPOINT,
    CHECKPOINT_ORDERS,
    kernel_state,
    latest_checkpoint,
)
from optrunner.store import Store

S = OrderState
CAPITAL = 50_000_000.0
MARKET = ExecutionPolicy(market_as_limit=False)


def make_node(tmp_path, recover: bool = False, keep: int | None = 100) -> TradingNode:
    """A node on the store and paper-broker book of ``tmp_path`` (the same files after a "crash")."""
    store = Store(f"sqlite:///{tmp_path / 'node.sqlite'}")
    store.create_schema()
    clock = SimClock(T0 - timedelta(minutes=5))
    make = TradingNode.recover if recover else TradingNode
    return make([], store, PaperBroker(tmp_path / "book.json", clock), clock, capital=CAPITAL,
                keep_checkpoints=keep)  # fmt: skip


CONTRACTS = [(strike, right) for strike in (24800.0, 25000.0, 25200.0) for right in ("CE", "PE")]


def trade(node: TradingNode, start: int, n: int) -> None:
    """``n`` inputs from minute ``start``, each after a market order that fills: a buy, then a
    sell of the same contract (flat again), then the next contract...; every tenth input a
    basket of the two (filled, so finished) instead."""
    for i in range(start, start + n):
        strike, right = CONTRACTS[i // 2 % len(CONTRACTS)]
        leg = intent(Side.BUY if i % 2 == 0 else Side.SELL, LOT, strike, right)
        if i % 10 == 9:
            node.kernel.router.submit_basket(Basket([leg, intent(Side.BUY, LOT, 25200.0, "PE")]), MARKET)
            node.kernel.om.drain()
            leg = intent(Side.SELL, LOT, 25200.0, "PE")
        node.kernel.router.submit(leg, MARKET)
        node.kernel.om.drain()
        node.process(chain(T0 + timedelta(minutes=i)))


def state(node: TradingNode) -> dict:
    return json.loads(json.dumps(kernel_state(node.kernel)))


def checkpoint_rows(node: TradingNode) -> list[tuple[str, int]]:
    """(kind, payload size in bytes) of the checkpoint journal entries, in order."""
    return [
        (e.kind, len(json.dumps(e.payload, separators=(",", ":"))))
        for e in node.store.journal()
        if e.kind in (CHECKPOINT, CHECKPOINT_ORDERS)
    ]


def test_the_checkpoint_does_not_grow_with_finished_orders_and_flat_positions_each_saved_once(tmp_path):
    node = make_node(tmp_path)
    node.process(chain(T0 - timedelta(minutes=1)))  # quotes for the first market order
    trade(node, 0, 20)
    size_20 = checkpoint_rows(node)[-1]
    trade(node, 20, 180)
    size_200 = checkpoint_rows(node)[-1]
    orders = node.kernel.om.orders()
    assert len(orders) == 240 and all(o.state is S.FILLED for o in orders)
    assert [b.state for b in node.kernel.router.baskets()] == ["COMPLETED"] * 20
    assert size_20[0] == size_200[0] == CHECKPOINT
    # totals gain a digit (P&L, charges); 200 more orders would be ~150 kB in version 1
    assert size_200[1] - size_20[1] < 200, (size_20, size_200)
    last = node.store.journal()[-1].payload["kernel"]
    assert last["om"]["orders"] == [] and last["portfolio"]["positions"] == []  # none open
    assert last["router"]["baskets"] == []  # none going
    saved = [
        d["order"]["client_id"]
        for e in node.store.journal()
        if e.kind == CHECKPOINT_ORDERS
        for _, d in e.payload["orders"]
    ]
    assert sorted(saved) == sorted(o.client_id for o in orders)  # each once
    # a reader still sees the whole order manager
    assert latest_checkpoint(node.store).payload["kernel"] == state(node)


def test_a_restart_rebuilds_the_state_exactly_and_prune_keeps_the_batches(tmp_path):
    node = make_node(tmp_path, keep=2)
    node.process(chain(T0 - timedelta(minutes=1)))
    trade(node, 0, 30)
    # a resting order stays open across checkpoints; a refused intent finishes at once
    node.kernel.router.submit(intent(Side.BUY, LOT, order_type=OrderType.LIMIT, limit=100.0), MARKET)
    node.kernel.om.reject_intent(intent(Side.SELL, LOT), "refused by a test")
    node.kernel.om.drain()
    node.process(chain(T0 + timedelta(minutes=30)))
    node.kernel.router.submit(intent(Side.SELL, LOT, 24800.0, "PE"), MARKET)  # open at the crash
    node.kernel.om.drain()
    node.process(chain(T0 + timedelta(minutes=31)))
    before = state(node)
    listing = [o.client_id for o in node.kernel.om.orders()]
    positions = [(p.strategy, p.contract.id) for p in node.kernel.portfolio.positions(open_only=False)]
    assert len(positions) == len(CONTRACTS) and len(node.kernel.portfolio.positions()) == 1
    assert sum(1 for kind, _ in checkpoint_rows(node) if kind == CHECKPOINT) <= 3  # pruned
    del node  # the process is killed: nothing more is written
    resumed = make_node(tmp_path, recover=True, keep=2)
    assert state(resumed) == before
    assert [o.client_id for o in resumed.kernel.om.orders()] == listing  # creation order kept
    assert [(p.strategy, p.contract.id) for p in resumed.kernel.portfolio.positions(open_only=False)] == positions
    assert resumed.kernel.om.get(listing[-3]).state is S.ACCEPTED  # the resting one
    assert len(resumed.kernel.router.baskets()) == 3


def test_a_rejected_order_retried_after_its_save_is_saved_again(tmp_path):
    node = make_node(tmp_path)
    node.process(chain(T0 - timedelta(minutes=1)))
    refused = intent(Side.BUY, LOT)
    node.kernel.om.reject_intent(refused, "not now")
    node.process(chain(T0))  # saved as REJECTED
    node.kernel.om.place(refused)  # the retry reopens it under its id, and it fills
    node.kernel.om.drain()
    node.process(chain(T0 + timedelta(minutes=1)))
    assert node.kernel.om.get(refused.client_id).state is S.FILLED
    before = state(node)
    resumed = make_node(tmp_path, recover=True)
    assert state(resumed) == before
    assert resumed.kernel.om.get(refused.client_id).state is S.FILLED


def test_a_version_1_checkpoint_still_loads_and_the_next_one_saves_its_orders(tmp_path):
    node = make_node(tmp_path)
    node.process(chain(T0 - timedelta(minutes=1)))
    trade(node, 0, 10)
    before = state(node)
    # what the previous build wrote: the whole kernel in one entry, no batches
    store = node.store
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM journal WHERE kind IN ('{CHECKPOINT}', '{CHECKPOINT_ORDERS}')")
    ts = node.clock.now()
    store.append(CHECKPOINT, {"version": 1, "ts": ts.isoformat(), "day": node.day.isoformat(),
                              "closed": [], "kernel": kernel_state(node.kernel)}, ts)  # fmt: skip
    store.flush()
    resumed = make_node(tmp_path, recover=True)
    assert state(resumed) == before
    assert resumed.run([chain(T0 + timedelta(minutes=10))], close_last_day=False) == 1
    batches = [e.payload for e in resumed.store.journal() if e.kind == CHECKPOINT_ORDERS]
    assert [b["batch"] for b in batches] == [1]
    assert len(batches[0]["positions"]) == 6  # six contracts traded (one in the basket), all flat again
    assert len(batches[0]["orders"]) == 12 and len(batches[0]["baskets"]) == 1
    after = state(resumed)
    again = make_node(tmp_path, recover=True)
    assert latest_checkpoint(again.store).payload["version"] == 2
    assert state(again) == after


def test_batches_a_dead_session_wrote_after_the_checkpoint_are_ignored(tmp_path):
    node = make_node(tmp_path)
    node.process(chain(T0 - timedelta(minutes=1)))
    trade(node, 0, 4)
    before = state(node)
    number = node.order_batches
    # a batch whose checkpoint never made it (a flush between the two, then the crash)
    first = before["om"]["orders"][0]
    ghost = [[0, {**first, "order": {**first["order"], "state": "CANCELLED"}}]]
    batch = {"batch": number + 1, "orders": ghost, "positions": [], "baskets": []}
    node.store.append(CHECKPOINT_ORDERS, batch, node.clock.now())
    node.store.flush()
    resumed = make_node(tmp_path, recover=True)
    assert state(resumed) == before
    trade(resumed, 4, 1)  # writes batch number + 1 again, which replaces the ghost
    after = state(resumed)
    assert resumed.order_batches == number + 1
    assert state(make_node(tmp_path, recover=True)) == after


def test_an_answer_about_a_saved_finished_order_saves_it_again():
    """A cancel is asked for, the order fills first, then the broker refuses the cancel: the
    refusal clears ``cancel_wanted`` on a record already saved as FILLED."""
    clock = SimClock(T0)
    broker = ScriptedBroker(clock)
    om = OrderManager(broker, clock)
    om.track_finished()
    om.on_snapshot(chain())
    cid = om.place(intent(Side.BUY, LOT, order_type=OrderType.LIMIT, limit=140.0), MARKET).client_id
    om.drain()
    broker.answer(BrokerEventKind.ACK, cid, broker_id="B1")
    om.drain()
    om.cancel(cid)
    broker.fill(cid, LOT, 140.0)
    om.drain()
    assert om.live_state()["orders"] == []
    saved = om.finished_state()
    assert [(n, d["order"]["state"], d["cancel_wanted"]) for n, d in saved] == [(0, "FILLED", True)]
    om.finished_saved()
    assert om.finished_state() == []  # nothing changed since
    broker.answer(BrokerEventKind.CANCEL_REJECTED, cid, reason="already filled")
    om.drain()
    again = om.finished_state()
    assert [(n, d["cancel_wanted"]) for n, d in again] == [(0, False)]
    assert record_from_dict(again[0][1]).order.state is S.FILLED
