"""The trading service: one trading node replaying a day in a background thread, operated
from other threads (the API) through the kernel's lock.

``optrunner serve`` builds a :class:`TradingService` from the same paper session as
``optrunner run`` and puts the FastAPI app (``optrunner.api``) in front of it. The replay
thread holds the kernel's lock for each whole input (the kernel's work *and* its
checkpoint, see ``TradingNode.process``); every operator action here takes the same lock,
so an emergency stop lands between two inputs, never inside one, and is checkpointed
before the lock is released. Reads for the API are answered by the replay thread at its next
safe point (``TradingService.read``): they see a consistent book without waiting for a whole
input.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from optrunner.core.buckets import MS_BUCKETS, Buckets, timed
from optrunner.core.events import AlertEvent, FillEvent, OrderUpdateEvent
from optrunner.data.snapshot import ChainSnapshot
from optrunner.live.node import TradingNode
from optrunner.live.spot_bars import SpotBars
from optrunner.risk.kill_switch import TradingState
from optrunner.runner_reload import ON_CHANGE, finish_drains

log = logging.getLogger(__name__)

API_SOURCE = "api"  # the kill switch's ``source`` for operator actions through the API
HANDOFF_SECONDS = 0.05  # the most the replay waits for API threads to take the lock after an input
ON_STOP = ("keep", "flatten")  # what ``stop`` does with open positions (``--on-stop``)
SWITCH_INTERVAL = 0.0005  # seconds a thread waits for the interpreter at most (see ``start``)
READ_RETRY_SECONDS = 0.002  # a read that found the kernel busy looks again this soon (see ``read``)
T = TypeVar("T")


class ReaderFirstLock:
    """The kernel's lock as other threads (the API) take it: they queue here, and the replay
    lets them in between two inputs (``TradingService._after_input``). The kernel's own lock is
    not fair: a replay at full speed took it back before a waiting request thread was even
    scheduled, and 200 requests/s queued for seconds (benchmarks/bench_service.py)."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self._count = threading.Lock()
        self.waiting = 0  # threads waiting to take the kernel's lock through this object

    def __enter__(self) -> bool:
        with self._count:
            self.waiting += 1
        try:
            return self._lock.acquire()
        finally:
            with self._count:
                self.waiting -= 1

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class UnknownStrategy(KeyError):
    """An operator named a strategy the node does not run."""


class NotStarted(RuntimeError):
    """An action that needs the session's clock, asked for before its first input."""


class _StopReplay(Exception):
    """Raised between two inputs to end the replay early (service shutdown)."""


@dataclass(frozen=True, slots=True)
class OrderNote:
    """What an order looked like when an update was published: the ``Order`` object itself
    keeps changing in the kernel thread, so the observer copies the fields it reports."""

    ts: datetime
    client_id: str
    strategy: str
    tag: str
    contract: str
    side: str
    quantity: int
    state: str
    filled_qty: int
    avg_price: float
    limit_price: float | None
    reason: str
    parent_id: str | None
    leg: str


def order_note(event: OrderUpdateEvent) -> OrderNote:
    o = event.order
    return OrderNote(event.ts, o.client_id, o.strategy, o.tag.value, o.contract.id, o.side.value,
                     o.quantity, o.state.value, o.filled_qty, o.avg_price, o.limit_price, o.reason,
                     o.parent_id, o.leg)  # fmt: skip


class TradingService:
    """Owns a :class:`TradingNode` and the thread that feeds it ``snapshots``.

    ``pace_ms``: wait this long (wall time) after each input, so a replayed day unfolds
    at a watchable speed; 0 replays at full speed. ``mode``/``broker`` label metrics.
    Kernel events are copied into ``events`` (a bounded deque: appending is the only
    work done on the kernel's thread) for the API to publish off the hot path.
    """

    def __init__(
        self,
        node: TradingNode,
        snapshots: Iterable[ChainSnapshot],
        *,
        pace_ms: float = 0.0,
        mode: str = "paper",
        broker: str = "paper",
        quality: Any = None,
        catalog: Any = None,
        max_events: int = 100_000,
        on_stop: str = "keep",
        config_dir: Path | None = None,
        symbols: Sequence[str] = (),
        strategy_source: str = "files",
        on_change: str = "drain",
    ) -> None:
        if on_stop not in ON_STOP:
            raise ValueError(f"on_stop must be one of {', '.join(ON_STOP)}, got {on_stop!r}")
        if on_change not in ON_CHANGE:
            raise ValueError(f"on_change must be one of {', '.join(ON_CHANGE)}, got {on_change!r}")
        self.node = node
        self.kernel = node.kernel
        self.lock = ReaderFirstLock(node.kernel.lock)  # the API's way in (see the class)
        self.mode = mode
        self.broker_name = broker
        self.quality = quality  # the catalog's DataQuality (bad-data drops), when replaying one
        self.catalog = catalog  # the replayed catalog: the dashboard's spot bars
        self.spot_bars = SpotBars()  # without a catalog (a live feed): the spots' minute bars
        if catalog is None:
            node.on_input.append(self.spot_bars.on_snapshot)
        self.config_dir = config_dir  # the strategy files a reload re-reads (None: no reload)
        self.symbols = tuple(symbols)  # the indices replayed (a reload cannot add another)
        self.strategy_source = strategy_source  # "files" (config_dir) or "store" (strategy_configurations)
        self.on_change = on_change  # a reload's removed/changed strategy holding positions: drain | keep
        self.pace = max(0.0, pace_ms) / 1000.0
        self.events: deque[Any] = deque(maxlen=max_events)
        self.started_at = datetime.now(UTC)
        self.state = "starting"  # starting | replaying | finished | stopped | failed
        self.error: str | None = None
        self.last_input_wall: float | None = None  # time.monotonic() of the last processed input
        self.chain_latency = Buckets(MS_BUCKETS)  # option_chain_api_latency_ms: each snapshot's fetch
        self._feed = snapshots  # the feed itself: its connection state and stop
        self._snapshots = timed(snapshots, self.chain_latency)
        self.on_stop = on_stop
        self.stop_result: dict[str, Any] | None = None  # what ``stop`` did with the positions
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._reads: deque[tuple[Callable[[], Any], asyncio.Future[Any]]] = deque()  # see ``read``
        self._read_retries: set[asyncio.AbstractEventLoop] = set()  # loops with a look-again scheduled
        self.kernel.observe(self._observe)
        self.kernel.runner.safe_points.append(self._reads_at_safe_point)
        # a strategy a reload left draining (or kept) goes once it is flat, between two inputs
        node.before_input.append(lambda: finish_drains(self.kernel.runner))

    # --- the kernel's side -------------------------------------------------------------------

    def _observe(self, event: Any) -> None:
        """Kernel thread, under its lock: copy and queue, nothing else."""
        if isinstance(event, OrderUpdateEvent):
            self.events.append(order_note(event))
        elif isinstance(event, FillEvent | AlertEvent):
            self.events.append(event)  # frozen records

    def _after_input(self, _node: TradingNode) -> None:
        self.last_input_wall = time.monotonic()
        if self._reads:  # the API's reads, answered here between two inputs (see ``read``)
            with self.kernel.lock:
                self._answer_reads()
        if self.lock.waiting:  # let the API's readers and actions in before the next input
            deadline = self.last_input_wall + HANDOFF_SECONDS
            while self.lock.waiting and time.monotonic() < deadline:
                time.sleep(0.0002)
        if self._stop.is_set():
            raise _StopReplay
        if self.pace and self._stop.wait(self.pace):
            raise _StopReplay

    def _source(self) -> Iterable[ChainSnapshot]:
        """The inputs; a live source that ends because the service is stopping is not the end
        of the session (no session close: a restart carries on)."""
        yield from self._snapshots
        if self._stop.is_set():
            raise _StopReplay

    def _replay(self) -> None:
        self.state = "replaying"
        try:
            self.node.run(self._source(), after_input=self._after_input)
        except _StopReplay:
            self.state = "stopped"
            return
        except Exception as exc:  # the API stays up to show what happened
            log.exception("the replay failed")
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
            return
        self.state = "finished"

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start replaying in a daemon thread (returns at once). The replay shares the
        interpreter with the API's event loop: a loop woken by a request or by an answer waits
        for the replay to let go of it for at most ``SWITCH_INTERVAL`` (CPython's 5 ms default
        was paid twice by each request at full replay speed: bench_service.py)."""
        if self._thread is not None:
            raise RuntimeError("the service was started already")
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)
        self._thread = threading.Thread(target=self._replay, name="optrunner-replay", daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        """True once ``stop`` closed the store."""
        return self._closed

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def feed_connected(self) -> bool:
        """The market input is up: a live feed's connection, or a replay still running."""
        connected = getattr(self._feed, "connected", None)
        return self.alive and (connected is None or bool(connected))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the replay to end; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.alive

    def stop(self, timeout: float = 3.0) -> None:
        """Stop the replay between two inputs, then — ``on_stop`` "flatten" — flatten every
        position through the kernel's flatten path, flush the journal and close the store.
        With "keep" (the default) positions stay open: a restart on the same store resumes them."""
        self._stop.set()
        stop_source = getattr(self._feed, "stop", None)  # a live feed: end its wait for data
        if stop_source is not None:
            stop_source()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("the replay did not stop within %.1f s; closing the store anyway", timeout)
        if self.on_stop == "flatten" and not self._closed:
            self.stop_result = self._flatten_on_stop()
        with self.lock:
            if self._closed:
                return
            self._closed = True
            store = self.node.store
            try:
                store.flush()
            finally:
                store.close()

    # --- operator actions (any thread) ---------------------------------------------------------

    def _checkpointed(self, action: Callable[[], Any]) -> Any:
        """Run ``action`` under the kernel's lock, then make what it did durable: a checkpoint
        (once the node has a session time) or at least a flush of the journal."""
        with self.lock:
            result = action()
            if self._closed:
                return result
            if self.node.inputs or self.node.resume_after is not None:
                self.node.checkpoint()
            else:
                self.node.store.flush()
            return result

    def set_trading(self, state: TradingState, reason: str) -> tuple[TradingState, bool]:
        """The kill switch to ``state`` by the operator; returns (previous state, changed)."""
        switch = self.kernel.risk.kill_switch

        def act() -> tuple[TradingState, bool]:
            before = switch.state
            changed = switch.set(state, source=API_SOURCE, reason=reason, ts=self.kernel.now())
            return before, changed

        return self._checkpointed(act)

    def emergency_stop(self, reason: str = "emergency stop from the API") -> dict[str, Any]:
        """Kill switch HALTED: no strategy order goes out; the kernel cancels every working
        order and flattens every position through its one flatten path (safety.py: short
        main legs before long hedges). Returns the orders that pass sent or cancelled."""
        k = self.kernel

        def act() -> dict[str, Any]:
            working = {o.client_id for o in k.om.open_orders()}
            known = {o.client_id for o in k.om.orders()}
            switch = k.risk.kill_switch
            before = switch.state
            if before is TradingState.HALTED:  # halted already: ask for another flatten pass
                k.flatten(reason=f"KILL_SWITCH: {reason}")
            else:
                switch.set(TradingState.HALTED, source=API_SOURCE, reason=reason, ts=k.now())
            orders = k.om.orders()
            sent = [o.client_id for o in orders if o.client_id not in known]
            still = {o.client_id for o in k.om.open_orders()}
            return {
                "previous": before,
                "flatten_orders": sent,
                "cancelled": sorted(working - still),
                "open_positions": len(k.portfolio.positions()),
                "session_open": k.session_open,
            }

        return self._checkpointed(act)

    def _flatten_on_stop(self) -> dict[str, Any]:
        """``--on-stop flatten``: cancel working orders and send a market exit for every open
        leg (short main legs first), through the same pass as a halt; checkpointed, so legs
        the broker has not filled yet (or a closed session) are flattened after a restart."""
        k = self.kernel

        def act() -> dict[str, Any]:
            known = {o.client_id for o in k.om.orders()}
            k.flatten(reason="SHUTDOWN: --on-stop flatten")
            if not k.om.busy:  # a pass that finds the book flat ends the request, else a restart
                k.safety.run()  # would carry it on and flatten the next session's first entries
            sent = [o.client_id for o in k.om.orders() if o.client_id not in known]
            return {"flatten_orders": sent, "open_positions": len(k.portfolio.positions()),
                    "session_open": k.session_open}  # fmt: skip

        result = self._checkpointed(act)
        if result["open_positions"]:
            log.warning("on stop: %d flatten order(s) sent, %d leg(s) still open (%s); a restart flattens them",
                        len(result["flatten_orders"]), result["open_positions"],
                        "orders working" if result["session_open"] else "the session is closed")  # fmt: skip
        else:
            log.info("on stop: flat (%d flatten order(s) sent)", len(result["flatten_orders"]))
        return result

    def _strategy(self, name: str) -> None:
        if name not in self.kernel.runner.strategies():
            raise UnknownStrategy(name)
        if self.node.inputs == 0 and self.node.resume_after is None:  # halts are stamped with session time
            raise NotStarted("the session has not had its first input yet: try again in a moment")

    def disable_strategy(self, name: str, reason: str) -> bool:
        """Halt one strategy through the kernel's one halt path: entries blocked, its positions
        handled by the halt policy (flattened by default). False when it was halted already."""
        self._strategy(name)
        k = self.kernel

        def act() -> bool:
            if name in k.runner.get_status()["halted"]:
                return False
            k.safety.halt(name, f"{API_SOURCE}: {reason}")
            return True

        return self._checkpointed(act)

    def enable_strategy(self, name: str) -> bool:
        """Resume a halted strategy (runner and order manager). False when it was not halted."""
        self._strategy(name)
        k = self.kernel

        def act() -> bool:
            halted = name in k.runner.get_status()["halted"] or k.om.is_halted(name)
            k.om.resume(name)
            k.runner.resume(name)
            k.safety.pending.pop(name, None)  # no flatten pass for it any more
            return halted

        return self._checkpointed(act)

    # --- reads (any thread) ----------------------------------------------------------------------

    async def read(self, fn: Callable[[], T]) -> T:
        """``fn()`` under the kernel's lock, awaited without blocking the event loop or a
        worker thread: the replay thread answers every waiting read itself at its next safe
        point — between two strategies' orders, before the input's checkpoint, after the input
        (``Runner.safe_point``): a read sees every strategy's orders whole, never half of
        one's — or, when the kernel is idle (a live feed between two inputs, the replay over),
        the event loop runs it at once. Each thread handed a request at full replay
        speed waited for the interpreter up to a switch interval (5 ms) per hop, and a sync
        endpoint made three hops (dependency, endpoint, response): this makes none
        (benchmarks/bench_service.py, docs/service.md)."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._reads.append((fn, fut))
        self._try_reads()
        return await fut

    def _try_reads(self) -> None:
        """Event loop: answer the waiting reads if the kernel is idle, else look again soon (the
        replay thread may have just finished its answers and be waiting for a live feed)."""
        if not self._reads:
            return
        if self.kernel.lock.acquire(blocking=False):
            try:
                self._answer_reads()
            finally:
                self.kernel.lock.release()
            return
        loop = asyncio.get_running_loop()
        if loop not in self._read_retries:
            self._read_retries.add(loop)
            loop.call_later(READ_RETRY_SECONDS, self._retry_reads, loop)

    def _retry_reads(self, loop: asyncio.AbstractEventLoop) -> None:
        self._read_retries.discard(loop)
        self._try_reads()

    def _reads_at_safe_point(self) -> None:
        """Kernel thread, lock held, in the middle of a long input (20 strategies entering at
        once took 10-35 ms): between two strategies' orders, or before the checkpoint."""
        if self._reads:
            self._answer_reads()

    def _answer_reads(self) -> None:
        """Any thread, under the kernel's lock: run every waiting read, hand each result (or
        error) to its event loop."""
        while self._reads:
            fn, fut = self._reads.popleft()
            try:
                result, error = fn(), None
            except Exception as exc:  # the endpoint turns it into its 4xx; never lost here
                result, error = None, exc
            fut.get_loop().call_soon_threadsafe(_settle, fut, result, error)

    def last_tick_age(self) -> float | None:
        """Wall seconds since the last input was processed (None before the first)."""
        if self.last_input_wall is None:
            return None
        return time.monotonic() - self.last_input_wall


def _settle(fut: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if fut.done():  # the request went away (client disconnected)
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)
