"""The runner's live loop: adapters push events onto a queue, one thread dispatches them and
fires timers every poll interval (paper and live; a backtest calls ``dispatch`` itself).

A mixin of ``StrategyRunner`` (runner.py), kept apart so the dispatch core stays readable.
A kernel bot runs the market side itself, so its chains, stale data and timers are handed
to it (``_consume``) instead of being dispatched straight to the strategies.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from optrunner.core.events import ChainEvent, Event, StaleDataEvent

log = logging.getLogger("optrunner.runner")

_STOP = object()  # queue sentinel: everything queued before it is still dispatched


class RunnerLoop:
    """``submit``, ``start``, ``stop`` and the thread between them."""

    _queue: queue.SimpleQueue[Any]
    _thread: threading.Thread | None

    def submit(self, event: Event) -> None:
        """Queue ``event`` for the runner thread (thread-safe; adapters' sink)."""
        self._queue.put(event)

    def start(self) -> None:
        """Start live adapters and the runner thread (idempotent); returns at once."""
        with self._state_lock:
            if self._running:
                return
            self._running = True
            markets = list(self._markets.values())
        self.apply_environment()
        self.start_strategies(self.clock.now())
        for market in markets:
            if getattr(market, "is_live", False):
                market.start(self.submit)
            elif hasattr(market, "events"):
                log.warning("%s is a replay, not a live source: drive it with runner.replay()", market)
        self._thread = threading.Thread(target=self._loop, name="strategy-runner", daemon=True)
        self._thread.start()
        log.info("runner started: %d strategies, %d markets", len(self._slots), len(markets))

    def _loop(self) -> None:
        next_due = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, next_due - time.monotonic()))
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            try:
                if item is not None:
                    self._consume(item)
                if time.monotonic() >= next_due:
                    if self._bot_takes_market:
                        self._bot.on_timer(self.clock.now())
                    else:
                        self.fire_timers(self.clock.now())
                    next_due = time.monotonic() + self._timer_tick()
            except Exception:  # the loop must outlive any one bad cycle
                self.loop_errors += 1
                log.exception("runner loop cycle failed")

    def _consume(self, event: Event) -> None:
        """One event from a live adapter: to the kernel when it runs the market side, else dispatched."""
        if self._bot_takes_market:
            if isinstance(event, ChainEvent):
                self._bot.on_chain(event.snapshot)
                return
            if isinstance(event, StaleDataEvent):
                self._bot.on_stale(event)
                return
        self.dispatch(event)

    def _timer_tick(self) -> float:
        return min(
            (slot.timer_interval for slot, _ in self._routes.timer), default=self.poll_interval
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop adapters, finish queued events, join the thread, ``on_stop`` (idempotent)."""
        with self._state_lock:
            if not self._running:
                return
            self._running = False
            markets = list(self._markets.values())
        for market in markets:
            if getattr(market, "is_live", False):
                market.stop()
        self._queue.put(_STOP)
        thread = self._thread  # kept after stop: the seed's scripts join it themselves
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.error("runner thread did not stop within %.0fs", timeout)
        self.stop_strategies(self.clock.now())
        log.info("runner stopped")

