"""StrategyRunner: routes market and execution events to strategies and their intents onward.

The same runner serves backtest, paper and live. Its synchronous core, ``dispatch(event)``,
finds the interested strategies with one dict lookup built from each strategy's
``subscriptions()`` (chains by underlying, ticks by instrument, bars by (symbol, timeframe),
fills and order updates by strategy name, stale data by symbol, timers to timer
subscribers), so an event costs the same however many uninterested strategies are loaded.
Backtests call ``run(events)``; paper and live call ``start()``, which pulls events from the
live market adapters on a background thread and fires timers every poll interval.

Each strategy is isolated: an exception is counted and logged with its context, and after
``max_consecutive_errors`` in a row the strategy is halted (it gets no more events until
``resume``) and an ``AlertEvent`` goes to the alert listeners and its webhook. The old
runner counted errors and retried a broken strategy forever.

The seed's public API is kept: ``StrategyRunner(bot=..., poll_interval=2.0)``,
``load_strategies_from_json``, ``register``, ``start``, ``stop``, ``get_status``,
``get_metrics``, ``print_metrics``. The strategy set (``register``, ``replace``, ``unregister``,
loading files or rows) is in runner_registration.py, the live loop in runner_live.py and the
status, metrics and saved states in runner_reporting.py: mixins, so this file is the event flow.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from optrunner.core.buckets import NS_BOUNDS
from optrunner.core.clock import Clock, LiveClock
from optrunner.core.events import (
    AlertEvent,
    BarEvent,
    ChainEvent,
    Event,
    FillEvent,
    OrderUpdateEvent,
    StaleDataEvent,
    TickEvent,
    TimerEvent,
)
from optrunner.core.orders import Basket
from optrunner.risk.kill_switch import env_disable_reason
from optrunner.runner_live import RunnerLoop
from optrunner.runner_registration import RunnerRegistration
from optrunner.runner_reporting import RunnerReporting
from optrunner.runner_support import (
    DispatchResult,
    StrategySlot,
    build_routes,
    make_intent_sink,
    post_webhook,
)
from optrunner.strategies.base import Intents, StrategyHalt

log = logging.getLogger(__name__)
_FIRST_NS = NS_BOUNDS[0]

# A live loop wakes by the monotonic clock and compares wall times: without a little slack a
# wake-up a hair early would skip a whole interval.
_TIMER_SLACK = timedelta(milliseconds=10)


class StrategyRunner(RunnerRegistration, RunnerLoop, RunnerReporting):
    """Loads strategies, routes events to them, isolates their failures and measures them."""

    def __init__(
        self,
        bot: Any = None,
        poll_interval: float = 2.0,
        *,
        clock: Clock | None = None,
        max_consecutive_errors: int = 5,
        slow_handler_ms: float = 100.0,
    ) -> None:
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval}")
        if max_consecutive_errors < 1:
            raise ValueError(
                f"max_consecutive_errors must be at least 1, got {max_consecutive_errors}"
            )
        self.poll_interval = float(poll_interval)
        self.clock: Clock = clock or LiveClock()
        self.max_consecutive_errors = max_consecutive_errors
        self.slow_handler_ns = int(slow_handler_ms * 1e6)
        self._slots: dict[str, StrategySlot] = {}
        self._markets: dict[tuple[Any, ...], Any] = {}
        self._alert_listeners: list[Callable[[AlertEvent], None]] = []
        self._lock = threading.RLock()  # one event at a time through the strategies
        self._state_lock = threading.Lock()  # start/stop
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._running = False
        self.events_dispatched = 0
        self.events_unrouted = 0
        self.bot_errors = 0
        self.loop_errors = 0
        self.trading_disabled: str | None = None  # why new entries are blocked (the environment)
        self.intents_blocked = 0
        self._routes = build_routes({})
        self._hold_entries = False
        # name -> the config it changes to (None: removed) once it is flat (runner_reload.py)
        self.pending_changes: dict[str, Any] = {}
        # called (this thread, lock held) where others may read the book in the middle of an
        # input: after each strategy's handler and after its intents went through the bot
        # (live/service.py's API reads)
        self.safe_points: list[Callable[[], None]] = []
        self._dispatchers: dict[type, Callable[[Any], DispatchResult]] = {
            ChainEvent: self._dispatch_chain,
            TickEvent: self._dispatch_tick,
            BarEvent: self._dispatch_bar,
            FillEvent: self._dispatch_fill,
            OrderUpdateEvent: self._dispatch_order_update,
            StaleDataEvent: self._dispatch_stale,
            TimerEvent: self._dispatch_timer,
            AlertEvent: self._dispatch_alert,
        }
        self.bot = bot  # the property also builds the intent sink (and attaches a kernel)

    # --- registration -------------------------------------------------------------------

    @property
    def bot(self) -> Any:
        """Where intents go: ``process_intents(name, intents)`` or the seed's ``_process_strategy_intents``."""
        return self._bot

    @bot.setter
    def bot(self, bot: Any) -> None:
        self._send_intents = make_intent_sink(bot)
        self._bot = bot
        # A bot that runs the market side itself (the kernel: quotes, marks, risk, derived
        # ticks and bars) takes the live adapters' chains, stale data and timers; the
        # runner's loop hands them over instead of dispatching them directly.
        self._bot_takes_market = callable(getattr(bot, "on_chain", None))
        # a bot that refuses a draining strategy's entries itself (the kernel's risk: the
        # strategy hears the refusal); for any other bot the runner drops them
        self._bot_drains = callable(getattr(bot, "set_draining", None))
        attach = getattr(bot, "attach_runner", None)
        if callable(attach):
            attach(self)

    def apply_environment(self) -> str | None:
        """Read the environment's kill switch (DISABLE_TRADING_SUPERVISOR / OPTRUNNER_DISABLE_TRADING).

        A bot with ``apply_environment()`` (the kernel) turns it into its kill switch's
        REDUCING state, so strategies hear their refused entries. For any other bot the runner
        itself holds back entry intents (exits and adjustment exits still go out)."""
        apply = getattr(self._bot, "apply_environment", None)
        reason = apply() if callable(apply) else env_disable_reason()
        if reason != self.trading_disabled:
            if reason:
                log.warning("trading disabled by the environment (%s): entries blocked, exits run", reason)
            else:
                log.warning("trading re-enabled: the environment no longer disables it")
        self.trading_disabled = reason
        self._hold_entries = reason is not None and not callable(apply)
        return reason

    def on_alert(self, callback: Callable[[AlertEvent], None]) -> None:
        """Call ``callback(alert)`` for every alert (strategy halted, ...)."""
        self._alert_listeners.append(callback)

    # --- the synchronous core -----------------------------------------------------------

    def dispatch(self, event: Event) -> list[tuple[str, Intents]]:
        """Deliver ``event`` to the strategies interested in it; their intents, also sent to the bot."""
        route = self._dispatchers.get(event.__class__)
        if route is None:
            raise TypeError(f"the runner does not route {type(event).__name__} events")
        return route(event)

    def _dispatch_chain(self, event: ChainEvent) -> DispatchResult:
        return self._deliver(self._routes.chains.get(event.snapshot.symbol), event.snapshot, event)

    def _dispatch_tick(self, event: TickEvent) -> DispatchResult:
        return self._deliver(self._routes.ticks.get(event.instrument), event, event)

    def _dispatch_bar(self, event: BarEvent) -> DispatchResult:
        return self._deliver(self._routes.bars.get((event.symbol, event.timeframe)), event, event)

    def _dispatch_fill(self, event: FillEvent) -> DispatchResult:
        return self._deliver(self._routes.fills.get(event.fill.strategy), event.fill, event)

    def _dispatch_order_update(self, event: OrderUpdateEvent) -> DispatchResult:
        return self._deliver(
            self._routes.order_updates.get(event.order.strategy), event.order, event
        )

    def _dispatch_stale(self, event: StaleDataEvent) -> DispatchResult:
        return self._deliver(self._routes.stale.get(event.symbol), event, event)

    def _dispatch_timer(self, event: TimerEvent) -> DispatchResult:
        return self._deliver(self._routes.timer, event.ts, event)

    def _dispatch_alert(self, event: AlertEvent) -> DispatchResult:
        self._publish_alert(event, None)
        return []

    def _deliver(self, targets: Any, arg: Any, event: Any) -> DispatchResult:
        """Call each (slot, handler) with ``arg``: timed, counted, isolated. The hot path."""
        perf = time.perf_counter_ns
        with self._lock:
            self.events_dispatched += 1
            if not targets:
                self.events_unrouted += 1
                return []
            out: DispatchResult = []
            for slot, handler in targets:
                t0 = perf()
                try:
                    intents = handler(arg)
                except Exception as exc:
                    self._handler_failed(slot, type(event).__name__, event.ts, exc)
                    continue
                dt = perf() - t0
                slot.events += 1
                slot.total_ns += dt
                slot.ema_ns += 0.1 * (dt - slot.ema_ns)
                if dt <= _FIRST_NS:  # the usual case: under 0.1 ms
                    slot.eval_counts[0] += 1
                else:
                    slot.eval_counts[bisect_left(NS_BOUNDS, dt)] += 1
                slot.consecutive_errors = 0
                if dt > slot.max_ns:
                    slot.max_ns = dt
                if dt > self.slow_handler_ns:
                    slot.slow += 1
                    slot.logger.warning("%s: slow handler: %s at %s took %.1f ms",
                                        slot.name, type(event).__name__, event.ts, dt / 1e6)  # fmt: skip
                if intents:
                    slot.commands += len(intents)
                    out.append((slot.name, intents))
                if self.safe_points:  # nothing of this event went out yet: the book is as before it
                    self.safe_point()
            if out and self._send_intents is not None:
                self._forward(out, event.ts)
        return out

    def _forward(self, out: DispatchResult, ts: datetime) -> None:
        """Intents to the bot; a bot failure is counted and alerted, never blamed on the strategy."""
        for name, intents in out:
            slot = self._slots[name]
            if self._hold_entries or (slot.draining and not self._bot_drains):
                intents = self._exits_only(intents)
                if not intents:
                    continue
            try:
                self._send_intents(name, slot.strategy, slot.market, intents)
            except Exception as exc:
                self.bot_errors += 1
                log.exception("bot failed to process %d intent(s) from %s", len(intents), name)
                message = f"bot could not process {name}'s intents: {type(exc).__name__}: {exc}"
                self._publish_alert(AlertEvent(ts, "critical", f"strategy:{name}", message), slot)
            self.safe_point()

    def safe_point(self) -> None:
        """Let ``safe_points`` run: no strategy's intents are half way through the bot."""
        for hook in self.safe_points:
            hook()

    def _exits_only(self, intents: Intents) -> Intents:
        kept = [
            i for i in intents
            if (i.is_exit if isinstance(i, Basket) else i.tag.is_exit)
        ]  # fmt: skip
        self.intents_blocked += len(intents) - len(kept)
        return kept

    def _handler_failed(self, slot: StrategySlot, what: str, ts: datetime, exc: Exception) -> None:
        if isinstance(exc, StrategyHalt):  # the strategy's own decision, not a bug
            self.halt(slot.name, str(exc), ts)
            return
        slot.errors += 1
        slot.consecutive_errors += 1
        slot.last_error = f"{type(exc).__name__}: {exc}"
        slot.logger.error(
            "%s failed on %s at %s (%d in a row): %s",
            slot.name, what, ts, slot.consecutive_errors, slot.last_error, exc_info=exc,
        )  # fmt: skip
        if slot.consecutive_errors >= self.max_consecutive_errors:
            self.halt(
                slot.name,
                f"{slot.consecutive_errors} consecutive errors, last: {slot.last_error}",
                ts,
            )

    def halt(self, name: str, reason: str, ts: datetime | None = None) -> None:
        """Stop delivering events to ``name`` until ``resume(name)``, and raise a critical alert."""
        with self._lock:
            slot = self._slots[name]
            if slot.halted:
                return
            slot.halted = True
            slot.halt_reason = reason
            self._routes = build_routes(self._slots)
        slot.logger.critical("%s halted: %s", name, reason)
        alert = AlertEvent(
            ts or self.clock.now(), "critical", f"strategy:{name}", f"{name} halted: {reason}"
        )
        self._publish_alert(alert, slot)

    def set_draining(self, name: str, draining: bool = True) -> None:
        """Drain ``name``: it keeps its events and its exits run, its entries are refused (by the
        bot when it can, else dropped here) — until it is flat and removed (runner_reload.py)."""
        with self._lock:
            slot = self._slots[name]
            slot.draining = draining
            mark = getattr(self._bot, "set_draining", None)
            if callable(mark):
                mark(name, draining)
        if draining:
            slot.logger.warning("%s draining: exits only until it is flat", name)

    def resume(self, name: str) -> None:
        """Deliver events to a halted strategy again (its consecutive-error count restarts)."""
        with self._lock:
            slot = self._slots[name]
            slot.halted = False
            slot.halt_reason = ""
            slot.consecutive_errors = 0
            self._routes = build_routes(self._slots)
        slot.logger.warning("%s resumed", name)

    def _publish_alert(self, alert: AlertEvent, slot: StrategySlot | None) -> None:
        for listener in list(self._alert_listeners):
            try:
                listener(alert)
            except Exception:
                log.exception("alert listener %r failed", listener)
        if slot is not None and slot.webhook:
            post_webhook(slot.webhook, alert)

    def fire_timers(self, now: datetime) -> DispatchResult:
        """``on_timer(now)`` for every timer subscriber whose interval has elapsed."""
        due = []
        for slot, handler in self._routes.timer:
            if slot.next_timer is None or now + _TIMER_SLACK >= slot.next_timer:
                slot.next_timer = now + timedelta(seconds=slot.timer_interval)
                due.append((slot, handler))
        return self._deliver(tuple(due), now, TimerEvent(now)) if due else []

    def run(self, events: Iterable[Event], *, timers: bool = True) -> int:
        """Dispatch ``events`` in order (a backtest or replay), with timers on the events' own clock."""
        n = 0
        has_timers = timers and bool(self._routes.timer)
        for event in events:
            self.dispatch(event)
            if has_timers:
                self.fire_timers(event.ts)
            n += 1
        return n

    def replay(self, adapter: Any, *, timers: bool = True) -> int:
        """Run a replay adapter's events, after subscribing it to every tick instrument of its
        symbol that a registered strategy wants (the backtest's market loop)."""
        symbol = adapter.symbol
        wanted = [i for i in self._routes.ticks if i == symbol or i.split(":", 1)[0] == symbol]
        if wanted:
            adapter.subscribe(wanted)
        return self.run(adapter.events(), timers=timers)

    def start_strategies(self, now: datetime) -> DispatchResult:
        """``on_start(now)`` for every strategy (``start()`` does this; a backtest calls it itself)."""
        return [
            r for slot in list(self._slots.values()) for r in self._lifecycle(slot, "on_start", now)
        ]

    def stop_strategies(self, now: datetime) -> DispatchResult:
        return [
            r for slot in list(self._slots.values()) for r in self._lifecycle(slot, "on_stop", now)
        ]

    def _lifecycle(self, slot: StrategySlot, method: str, now: datetime) -> DispatchResult:
        """``on_start``/``on_stop``: isolated like any handler, not counted as events."""
        if slot.halted:
            return []
        with self._lock:
            try:
                intents = getattr(slot.strategy, method)(now)
            except Exception as exc:
                self._handler_failed(slot, method, now, exc)
                return []
            out: DispatchResult = [(slot.name, intents)] if intents else []
            if out:
                slot.commands += len(intents)
                if self._send_intents is not None:
                    self._forward(out, now)
        return out

    @property
    def routes(self) -> Any:
        """The current routing tables (a new object whenever they change): the kernel derives
        ticks and bars for the instruments and (symbol, timeframe) pairs they name."""
        return self._routes

    @property
    def running(self) -> bool:
        return self._running
