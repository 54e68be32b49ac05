"""Checkpoints of a trading node and what a restart needs from the store (docs/recovery.md).

A checkpoint is one journal entry (``kind="checkpoint"``), written and flushed in one store
transaction after an input (a snapshot, a session close) has been fully processed: the
order manager, router, portfolio, risk (account limits and kill switch), every strategy's
state and the kernel's own bookkeeping, as of the input's time. A restart restores the
latest one and processes the inputs after it again; the orders journaled after it are the
ones that may have reached the broker without our knowing (``possibly_sent``), and the fills
saved after it come again, with the same ids, and must not be saved twice (``StoreJournal``).

Version 2 (issue 14) makes a checkpoint's cost follow what changed, not the day so far. The
order manager's finished orders, the portfolio's flat positions and the router's finished
basket runs make up most of a day's state and do not change again (core/saved_once.py): each
is saved once, in a numbered ``checkpoint_orders`` entry (a batch of those settled since the
previous checkpoint, in the checkpoint's transaction), and the checkpoint holds only the open
ones and the number of the last batch. ``latest_checkpoint`` puts the two back together, so
a reader sees the whole state as in version 1 (still read: after a restart from a version-1
checkpoint, the first version-2 one saves every settled entry in a batch). A batch is found
by its number, not by position: batches written after the checkpoint a restart resumes from
(by a session that then died) are ignored, and one written again by the resumed session
under the same number replaces them (the newest ``seq`` of a number wins).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select

from optrunner.core.orders import Fill, Order
from optrunner.core.saved_once import merge_ranked
from optrunner.core.types import OrderState
from optrunner.execution.states import ExecutionError
from optrunner.instruments.contracts import OptionContract
from optrunner.kernel import Kernel
from optrunner.portfolio import Portfolio
from optrunner.risk.kill_switch import SwitchChange, TradingState
from optrunner.store import JournalEntry, Store
from optrunner.store.codec import journal_from_row
from optrunner.store.schema import JournalRow

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint"
RECOVERED = "recovered"
CHECKPOINT_ORDERS = "checkpoint_orders"
CHECKPOINT_VERSION = 2
READABLE_VERSIONS = (1, 2)


class StoreJournal:
    """The store as the order manager's write-ahead journal, minus fills it already holds.

    After a restart the fills of the interrupted input are applied again (to a portfolio
    restored from before them) under the same fill ids; the store refuses a fill id twice,
    so a fill it already has is skipped — after checking it is the same execution: a
    different fill under a stored id is an error, never silently dropped.
    """

    def __init__(self, store: Store, stored_fills: Iterable[Fill] = ()) -> None:
        self.store = store
        self._stored = {f.fill_id: f for f in stored_fills}
        self.skipped = 0

    def record_transition(
        self,
        order: Order,
        from_state: OrderState | None,
        to_state: OrderState,
        ts: datetime,
        reason: str,
    ) -> None:
        self.store.record_transition(order, from_state, to_state, ts, reason)

    def save_fill(self, fill: Fill) -> None:
        old = self._stored.get(fill.fill_id)
        if old is None:
            self.store.save_fill(fill)
            return
        if _execution(old) != _execution(fill):
            raise ExecutionError(
                f"fill {fill.fill_id} is stored as {_execution(old)} but came again as {_execution(fill)}"
            )
        self.skipped += 1

    def flush(self) -> None:
        self.store.flush()


def _execution(f: Fill) -> tuple[Any, ...]:
    return (
        f.client_id,
        f.strategy,
        f.contract.id,
        f.side.value,
        f.quantity,
        f.price,
        f.ts,
        f.is_settlement,
    )


# --- the kernel's state ----------------------------------------------------------------------


def kernel_state(k: Kernel, *, live: bool = False) -> dict[str, Any]:
    """Everything the kernel decides from, as plain JSON types (it must be quiescent);
    ``live``: only the open orders and positions and the basket runs still going, ranked (a
    version-2 checkpoint's payload)."""
    switch = k.risk.kill_switch
    return {
        "om": k.om.live_state() if live else k.om.to_state(),
        "router": k.router.live_state() if live else k.router.to_state(),
        "portfolio": k.portfolio.live_state() if live else k.portfolio.to_state(),
        "account": {**k.risk.account.to_state(), "warned": k.risk.account.warned},
        "kill_switch": {
            **switch.to_state(),
            "history": [_change_to_dict(c) for c in switch.history],
        },
        "strategies": k.runner.states(),
        # every halted strategy (not only those collecting metrics), without building metrics
        "halted_strategies": k.runner.halt_reasons(),
        # removed (or changed) by a hot reload, drained or kept until flat (runner_reload.py)
        "waiting_strategies": sorted(k.runner.pending_changes),
        "day": None if k.day is None else k.day.isoformat(),
        "day_start_net": dict(k.day_start_net),
        "opened": [[s, c.id, ts.isoformat()] for (s, c), ts in k.opened.items()],
        "last_exit": [[c.id, ts.isoformat()] for c, ts in k.last_exit.items()],
        "reconciler": k.reconciler.to_state(),
        "safety": k.safety.to_state(),
    }


def restore_kernel(k: Kernel, state: dict[str, Any]) -> None:
    """Put ``kernel_state`` output back into a kernel built with the same strategies.

    A strategy the runner had halted is halted again, which raises its alert and asks the
    kernel to flatten it once more (a no-op when its positions are already flat). One a hot
    reload had removed and was draining is not loaded any more: what it still holds goes to
    the halt policy (flattened, or held with a critical alert), never left unmanaged."""
    k.om.load_state(state["om"])
    k.router.load_state(state["router"])
    k.portfolio = Portfolio.from_state(state["portfolio"])
    account = k.risk.account
    account.restore(state["account"])
    account.warned = bool(state["account"]["warned"])
    switch = k.risk.kill_switch
    switch.restore(
        state["kill_switch"]
    )  # no listeners: the flatten it may have caused is in the orders
    switch.history = [_change_from_dict(d) for d in state["kill_switch"]["history"]]
    k.runner.restore_states(state["strategies"])
    k.day = None if state["day"] is None else date.fromisoformat(state["day"])
    k.day_start_net = {s: float(v) for s, v in state["day_start_net"].items()}
    k.opened = {
        (s, OptionContract.from_id(c)): datetime.fromisoformat(ts) for s, c, ts in state["opened"]
    }
    k.last_exit = {
        OptionContract.from_id(c): datetime.fromisoformat(ts) for c, ts in state["last_exit"]
    }
    if "reconciler" in state:  # checkpoints written before issue 11 lack these
        k.reconciler.load_state(state["reconciler"])
        k.safety.load_state(state["safety"])
    # nothing is sent from here: a flatten the halts below ask for (or one pending in the
    # checkpoint) waits for the next input, as in the session that never stopped
    k.session_open = False
    known = k.runner.strategies()
    for name, reason in state["halted_strategies"].items():
        if name in known:
            k.runner.halt(name, f"halted before the restart: {reason}")
        else:  # its file is gone (a hot reload removed it): what it holds is flattened by policy
            log.warning("strategy %r was halted before the restart and is no longer loaded", name)
            k.safety.request(name, f"halted before the restart, no longer loaded: {reason}")
    for name in state.get("waiting_strategies", ()):  # checkpoints before issue 16 lack these
        if name in known or name in state["halted_strategies"]:
            continue
        if k.portfolio.positions(name) or k.om.open_orders(name):  # nothing manages them now
            log.warning("strategy %r was draining (removed by a hot reload) before the restart and is "
                        "no longer loaded: its positions go to the halt policy", name)  # fmt: skip
            k.safety.request(name, "removed by a hot reload, still holding at the restart: no longer loaded")


def _change_to_dict(c: SwitchChange) -> dict[str, Any]:
    ts = None if c.ts is None else c.ts.isoformat()
    return {
        "ts": ts,
        "old": c.old.value,
        "new": c.new.value,
        "source": c.source,
        "reason": c.reason,
    }


def _change_from_dict(d: dict[str, Any]) -> SwitchChange:
    ts = None if d["ts"] is None else datetime.fromisoformat(d["ts"])
    return SwitchChange(
        ts, TradingState(d["old"]), TradingState(d["new"]), d["source"], d["reason"]
    )


# --- the store side ------------------------------------------------------------------------


def latest_checkpoint(store: Store) -> JournalEntry | None:
    """The newest checkpoint in ``store``; a version-2 one with its orders, positions and
    basket runs put back from the batches, so its ``payload["kernel"]`` is as
    ``kernel_state(k)`` (the whole state) returns it."""
    store.flush()
    t = JournalRow.__table__
    query = select(t).where(t.c.kind == CHECKPOINT).order_by(t.c.seq.desc()).limit(1)
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    entry = journal_from_row(row)
    version = entry.payload.get("version")
    if version not in READABLE_VERSIONS:
        raise ValueError(
            f"checkpoint {entry.seq} has version {version!r}; this build reads {READABLE_VERSIONS}"
        )
    if version == 2:
        kernel = entry.payload["kernel"]
        batches = saved_batches(store, entry.seq, int(entry.payload["order_batches"]))
        om, pf, router = kernel["om"], kernel["portfolio"], kernel["router"]
        om["orders"] = merge_ranked((b["orders"] for b in batches), om["orders"], _client_id)
        pf["positions"] = merge_ranked((b["positions"] for b in batches), pf["positions"], _position_key)
        router["baskets"] = merge_ranked((b["baskets"] for b in batches), router["baskets"], _basket_id)
    return entry


def saved_batches(store: Store, before_seq: int, batches: int) -> list[dict[str, Any]]:
    """The ``checkpoint_orders`` batches 1 to ``batches`` before journal entry ``before_seq``,
    oldest first (the newest entry of a number wins: see the module docstring)."""
    t = JournalRow.__table__
    query = select(t).where(t.c.kind == CHECKPOINT_ORDERS, t.c.seq < before_seq).order_by(t.c.seq)
    latest: dict[int, dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(query):
            payload = journal_from_row(row).payload
            if payload["batch"] <= batches:
                latest[payload["batch"]] = payload
    return [latest[n] for n in sorted(latest)]


def _client_id(record: dict[str, Any]) -> str:
    return record["order"]["client_id"]


def _basket_id(run: dict[str, Any]) -> str:
    return run["basket_id"]


def _position_key(position: dict[str, Any]) -> tuple[str, str]:
    return position["strategy"], position["contract"]


def prune_checkpoints(store: Store, keep: int) -> int:
    """Delete all but the newest ``keep`` checkpoints; returns how many went. A restart reads
    only the latest one; the ones kept are for a human looking back (and for the one being
    written should a crash tear it — a transaction, so it cannot be torn, but keep >= 2).
    ``checkpoint_orders`` batches are never deleted: every checkpoint needs all before it."""
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    store.flush()
    t = JournalRow.__table__
    newest = select(t.c.seq).where(t.c.kind == CHECKPOINT).order_by(t.c.seq.desc()).offset(keep - 1).limit(1)
    with store.engine.begin() as conn:
        cutoff = conn.execute(newest).scalar()
        if cutoff is None:
            return 0
        return conn.execute(delete(t).where(t.c.kind == CHECKPOINT, t.c.seq < cutoff)).rowcount or 0


def possibly_sent(journaled: Iterable[Order], om_state: dict[str, Any] | None) -> list[Order]:
    """Orders the store holds that the checkpoint's order manager does not hold as they are:
    created or moved on after the checkpoint, so possibly at the broker unbeknown to it."""
    known = {d["order"]["client_id"]: d["order"] for d in (om_state or {}).get("orders", [])}
    out = []
    for o in journaled:
        d = known.get(o.client_id)
        if (
            d is None
            or (d["state"], d["filled_qty"]) != (o.state.value, o.filled_qty)
            or (
                d["updated_ts"] is not None
                and o.updated_ts != datetime.fromisoformat(d["updated_ts"])
            )
        ):
            out.append(o)
    return out
