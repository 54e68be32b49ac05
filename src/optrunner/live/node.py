"""The trading node: the kernel of a paper (later live) session, durable in a store.

It wires the kernel with the store as the order manager's write-ahead journal and as the
home of strategy states (saved before their intents are routed and after each fill or
update), feeds it snapshots from any iterable (a catalog replay, a market adapter), closes
each session like the backtest does, and writes a checkpoint after every input it has
fully processed. ``TradingNode.recover`` rebuilds a node from the latest checkpoint and
the store after a crash; docs/recovery.md explains the design and what it guarantees.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from rich.console import Console

from optrunner.core.clock import Clock, SimClock
from optrunner.core.collector import session_collector
from optrunner.core.events import ChainEvent
from optrunner.core.timeutil import to_ist
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution.reconcile import Difference
from optrunner.kernel import Kernel
from optrunner.live.recovery import (
    CHECKPOINT,
    CHECKPOINT_ORDERS,
    CHECKPOINT_VERSION,
    RECOVERED,
    StoreJournal,
    kernel_state,
    latest_checkpoint,
    possibly_sent,
    prune_checkpoints,
    restore_kernel,
)
from optrunner.risk import RiskEngine, RiskSettings
from optrunner.store import Store
from optrunner.strategies.registry import create_strategy

log = logging.getLogger(__name__)
console = Console()
RECONCILIATION = "reconciliation"  # journal kind of a recorded difference with the venue
INVARIANTS = "invariants"  # journal kind of the invariant check at the end of a run
DEFAULT_RECONCILE_SECONDS = 60.0
DEFAULT_KEEP_CHECKPOINTS = 100
PRUNE_EVERY = 10  # checkpoints between two prunes: small DELETEs, each short under the kernel's lock


class TradingNode:
    """One trading account's kernel, its store and its broker, driven input by input."""

    def __init__(
        self,
        configs: Sequence[Any],
        store: Store,
        broker: Any,
        clock: Clock,
        *,
        capital: float,
        risk: RiskSettings | None = None,
        freeze_inclusive: bool = False,
        stored_fills: Iterable[Any] = (),
        charges: Any = None,
        reconcile_seconds: float | None = DEFAULT_RECONCILE_SECONDS,
        keep_checkpoints: int | None = DEFAULT_KEEP_CHECKPOINTS,
        skip_broken: bool = False,
    ) -> None:
        """``configs``: validated strategy configs (``skip_broken``: one whose strategy cannot be
        built — an ML model that will not load — is logged and left out, seed 004's rule for
        strategies from the database; otherwise it raises); ``stored_fills``: the store's fills, when
        resuming (see :class:`StoreJournal`); ``reconcile_seconds``: how often the books are
        reconciled with the broker's (None: only at start, restart and each close);
        ``keep_checkpoints``: prune all but the newest N checkpoints (None: keep every one)."""
        if keep_checkpoints is not None and keep_checkpoints < 2:
            raise ValueError(f"keep_checkpoints must be >= 2 (or None), got {keep_checkpoints}")
        self.store = store
        self.journal = StoreJournal(store, stored_fills)
        self.kernel = Kernel(
            broker, clock, capital=capital, risk=RiskEngine(risk or RiskSettings()), charges=charges,
            journal=self.journal, state_sink=self._save_strategy_state, freeze_inclusive=freeze_inclusive,
            reconcile_seconds=reconcile_seconds,
        )  # fmt: skip
        self.kernel.reconciler.record = self._record_difference
        # finished orders, flat positions and finished basket runs: saved once each, in
        # checkpoint_orders batches (see checkpoint)
        self.kernel.om.track_finished()
        self.kernel.portfolio.track_flat()
        self.kernel.router.track_final()
        self.order_batches = 0  # checkpoint_orders batches written (numbered from 1)
        self.keep_checkpoints = keep_checkpoints
        self._since_prune = 0
        for config in configs:
            try:
                strategy = create_strategy(config)
            except Exception as exc:
                if not skip_broken:
                    raise
                log.error("strategy %r skipped: %s: %s", config.name, type(exc).__name__, exc)
                continue
            self.kernel.add_strategy(strategy, config)
        self.day: date | None = None  # the session being traded
        self.closed: set[date] = set()  # sessions whose close has been processed
        self.resume_after: datetime | None = None  # inputs at or before this were processed
        self.inputs = 0
        self.possibly_sent: list[str] = []  # client ids, after a restart
        self.orphans: list[str] = []
        self._replaying_interrupted = False
        # called between two inputs, under the kernel lock: a safe point to change the
        # strategy set (strategy_db/watch.py, --strategies db)
        self.before_input: list[Callable[[], None]] = []
        # called with each input once the kernel has taken it, under the kernel lock (keep it
        # cheap: it runs on every input; live/spot_bars.py records the spot on a live feed)
        self.on_input: list[Callable[[ChainSnapshot], None]] = []

    @property
    def clock(self) -> Clock:
        return self.kernel.clock

    def _record_difference(self, d: Difference) -> None:
        self.store.append(RECONCILIATION, d.to_dict(), d.ts)  # durable with the next flush

    def _save_strategy_state(self, name: str, state: dict[str, Any], ts: datetime) -> None:
        # buffered: the order manager's next flush commits it before any order leaves
        self.store.save_strategy_state(name, state, ts)

    # --- driving ---------------------------------------------------------------------------

    @session_collector()  # a session keeps what it makes: see core/collector.py
    def run(
        self,
        snapshots: Iterable[ChainSnapshot],
        *,
        close_last_day: bool = True,
        after_input: Callable[[TradingNode], None] | None = None,
    ) -> int:
        """Process ``snapshots`` in time order (skipping those a checkpoint already covers),
        closing each session when the next day's first snapshot arrives and, with
        ``close_last_day``, the last one at the end. Returns how many were processed."""
        n = 0
        covered: dict[str, ChainSnapshot] = {}  # latest input per underlying a checkpoint covers
        for snap in snapshots:
            if self.resume_after is not None and snap.ts <= self.resume_after:
                covered[snap.symbol] = snap
                continue
            if covered:
                self.warm_up(covered.values())
                covered = {}
            self.process(snap)
            n += 1
            if after_input is not None:
                after_input(self)
        if covered:
            self.warm_up(covered.values())
        if close_last_day and self.day is not None:
            self.close_day(self.day)
        self._after_interrupted_input()  # nothing was left to replay
        return n

    def process(self, snapshot: ChainSnapshot) -> None:
        """One snapshot through the kernel, then a checkpoint."""
        with self.kernel.lock:  # an input and its checkpoint are one step for other threads
            for hook in self.before_input:
                hook()
            d = to_ist(snapshot.ts).date()
            if self.day is not None and d != self.day:
                self.close_day(self.day)
            self.day = d
            self.kernel.on_chain(snapshot)
            for hook in self.on_input:
                hook(snapshot)
            self._after_interrupted_input()
            self.inputs += 1
            self.kernel.runner.safe_point()  # the input is whole: readers need not wait for its checkpoint
            self.checkpoint()

    def close_day(self, d: date) -> None:
        """The session close (expiry of DAY orders, settlement), once per day, then a checkpoint."""
        with self.kernel.lock:
            if d in self.closed:
                return
            self.kernel.end_of_day(d)
            self._after_interrupted_input()
            self.closed.add(d)
            self.checkpoint()

    def checkpoint(self) -> None:
        """Everything a restart resumes from, durable on return, in one transaction: a batch of
        the orders finished, the positions gone flat and the basket runs finished since the
        last checkpoint (when there are any), then the checkpoint itself, which holds the open
        ones only (live/recovery.py, version 2)."""
        ts = self.clock.now()
        om, portfolio, router = self.kernel.om, self.kernel.portfolio, self.kernel.router
        finished, flat, baskets = om.finished_state(), portfolio.flat_state(), router.final_state()
        if finished or flat or baskets:
            self.order_batches += 1
            batch = {"batch": self.order_batches, "orders": finished, "positions": flat, "baskets": baskets}
            self.store.append(CHECKPOINT_ORDERS, batch, ts)
        payload = {
            "version": CHECKPOINT_VERSION,
            "ts": ts.isoformat(),
            "day": None if self.day is None else self.day.isoformat(),
            "closed": sorted(d.isoformat() for d in self.closed),
            "order_batches": self.order_batches,
            "kernel": kernel_state(self.kernel, live=True),
        }
        self.store.append(CHECKPOINT, payload, ts)
        self.store.flush()
        om.finished_saved()  # only now: after a failed write the next checkpoint saves them
        portfolio.flat_saved()
        router.final_saved()
        if self.keep_checkpoints is not None:
            self._since_prune += 1
            if self._since_prune >= min(PRUNE_EVERY, self.keep_checkpoints):  # a DELETE of 100 checkpoints took ~9 ms; of 10, 2-5 ms
                self._since_prune = 0
                self.kernel.runner.safe_point()  # the checkpoint is durable: readers need not wait for the DELETE
                prune_checkpoints(self.store, self.keep_checkpoints)

    # --- restart ------------------------------------------------------------------------------

    @classmethod
    def recover(
        cls,
        configs: Sequence[Any],
        store: Store,
        broker: Any,
        clock: Clock,
        *,
        capital: float,
        risk: RiskSettings | None = None,
        freeze_inclusive: bool = False,
        charges: Any = None,
        reconcile_seconds: float | None = DEFAULT_RECONCILE_SECONDS,
        keep_checkpoints: int | None = DEFAULT_KEEP_CHECKPOINTS,
        skip_broken: bool = False,
    ) -> TradingNode:
        """A node resumed from ``store``'s latest checkpoint, reconciled with ``broker``.

        Orders journaled after the checkpoint are marked possibly sent (the replay asks the
        broker before submitting them again), every order that may be working is asked about
        at the next input, and ``run`` starts with the first input after the checkpoint.
        Without a checkpoint the session starts from scratch with the same protections.
        """
        entry = latest_checkpoint(store)
        node = cls(configs, store, broker, clock, capital=capital, risk=risk, charges=charges,
                   freeze_inclusive=freeze_inclusive, stored_fills=store.load_fills(),
                   reconcile_seconds=reconcile_seconds, keep_checkpoints=keep_checkpoints,
                   skip_broken=skip_broken)  # fmt: skip
        payload = entry.payload if entry is not None else None
        k = node.kernel
        resent = possibly_sent(store.load_orders(), payload["kernel"]["om"] if payload else None)
        k.om.mark_possibly_sent(resent)  # before anything below can place an order
        node.possibly_sent = [o.client_id for o in resent]
        if payload is not None:
            ts = datetime.fromisoformat(payload["ts"])
            if isinstance(clock, SimClock):
                clock.advance(ts)
            restore_kernel(k, payload["kernel"])
            in_batches = payload["version"] >= 2  # version 1: all in the checkpoint, none in a batch
            k.om.track_finished(unsaved=not in_batches)
            k.portfolio.track_flat(unsaved=not in_batches)  # a new Portfolio
            k.router.track_final(unsaved=not in_batches)
            node.order_batches = int(payload.get("order_batches", 0))
            node.day = None if payload["day"] is None else date.fromisoformat(payload["day"])
            node.closed = {date.fromisoformat(d) for d in payload["closed"]}
            node.resume_after = ts
        k.resync_at_next_input()
        node._replaying_interrupted = True
        store.append(RECOVERED, {
            "checkpoint_seq": None if entry is None else entry.seq,
            "resume_after": None if node.resume_after is None else node.resume_after.isoformat(),
            "possibly_sent": node.possibly_sent,
        }, datetime.now(UTC))  # fmt: skip
        store.flush()
        where = "from the session start (no checkpoint yet)" if entry is None else f"from checkpoint {entry.seq}"
        sent = f": {', '.join(node.possibly_sent)}" if node.possibly_sent else ""
        log.warning("recovered %s; %d order(s) possibly sent%s", where, len(resent), sent)
        return node

    @property
    def recovering(self) -> bool:
        """True from a restart (``recover``) until the input the crash interrupted was
        processed again and the orders from before it were dealt with."""
        return self._replaying_interrupted

    def warm_up(self, snapshots: Iterable[ChainSnapshot]) -> None:
        """After a restart: show the kernel again the snapshots its checkpoint was taken on
        (the latest per underlying), so what no saved state holds is as it was — the quotes
        the order manager prices from, the broker's current chain, the risk view's latest
        data, a strategy's last snapshot. The strategies' decisions are discarded and their
        restored states put back, so only that market context remains."""
        k = self.kernel
        states = k.runner.states()
        bot, k.runner.bot = k.runner.bot, None  # intents go nowhere
        try:
            for snap in sorted(snapshots, key=lambda s: s.ts):
                k.latest[snap.symbol] = snap
                k.om.on_snapshot(snap)
                if hasattr(k.broker, "on_snapshot"):
                    k.broker.on_snapshot(snap)  # seen already: it only becomes current again
                k.runner.dispatch(ChainEvent(snap))
        finally:
            k.runner.bot = bot
        k.runner.restore_states(states)

    def _after_interrupted_input(self) -> None:
        """Once the input the crash interrupted has been processed again, deal with the
        possibly-sent orders the replay did not place again (``OrderManager.adopt_orphans``)."""
        if not self._replaying_interrupted:
            return
        self._replaying_interrupted = False
        self.orphans = self.kernel.om.adopt_orphans()
        self.kernel.om.drain()
        self.kernel.reconciler.run("after recovery")  # the book against the venue's, positions too
        if self.orphans:
            log.critical(
                "orders from before the restart not placed again: %s", ", ".join(self.orphans)
            )
