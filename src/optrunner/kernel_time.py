"""The kernel as time passes without a snapshot: timers, stale data, bars that end.

A mixin of ``Kernel`` (kernel.py). Live, the runner's loop calls ``on_timer`` every poll
interval; a replay on a simulated clock fires the minutes it has no snapshot for
(``_fire_gap_timers``), so time exits, stale-data handling and bar closes happen in a
backtest exactly as they would live.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from optrunner.core.clock import SimClock
from optrunner.core.events import StaleDataEvent
from optrunner.core.timeutil import SESSION_CLOSE, to_ist
from optrunner.market.derived import DerivedEvents

if TYPE_CHECKING:
    from optrunner.data.snapshot import ChainSnapshot

ONE_MINUTE = timedelta(minutes=1)
DEFAULT_STALE_AFTER = 120.0  # seconds, as market_config.stale_after_seconds


class KernelTime:
    """``on_timer``, the replay's gap timers and the derived-event source."""

    # set by Kernel.__init__
    clock: Any
    runner: Any
    om: Any
    reconciler: Any
    latest: dict[str, ChainSnapshot]
    stale_after: dict[str, float]
    derived: DerivedEvents
    _lock: Any
    _stale: set[str]
    _last_input: datetime | None
    _input_seq: int
    _routes_seen: Any

    def on_timer(self, now: datetime) -> None:
        """Time passes without a snapshot: stale data is reported, bars that ended close,
        working orders time out and strategies' timers fire."""
        with self._lock:
            if isinstance(self.clock, SimClock):
                self.clock.advance(now)
            self._last_input = now
            self._input_seq += 1
            for symbol, snap in self.latest.items():
                age = (now - snap.ts).total_seconds()
                if symbol not in self._stale and age > self.stale_after.get(
                    symbol, DEFAULT_STALE_AFTER
                ):
                    self._stale.add(symbol)
                    self.runner.dispatch(StaleDataEvent(now, symbol, age))
            for bar in self._derived().close_until(now):
                self.runner.dispatch(bar)
            self.om.check_timers()
            if self.reconciler.due(now):
                self.reconciler.run("periodic")
            self.runner.fire_timers(now)
            self._after_input()

    def _fire_gap_timers(self, until: datetime) -> None:
        """A simulated clock fires the minutes a replay has no snapshot for (data gaps, a day
        that ends early) as timers, so time exits and stale-data handling run in a backtest
        exactly as they would live. Continuous minute data costs one comparison."""
        last = self._last_input
        if last is None or until - last <= ONE_MINUTE:
            return
        local = to_ist(last)
        t = local.replace(second=0, microsecond=0) + ONE_MINUTE
        close = local.replace(hour=SESSION_CLOSE.hour, minute=SESSION_CLOSE.minute, second=0, microsecond=0)  # fmt: skip
        end = min(until, close)  # never overnight: the next day starts with its own snapshot
        while t < end:
            self.on_timer(t)
            t += ONE_MINUTE

    def _derived(self) -> DerivedEvents:
        """The derived-event source, re-subscribed whenever the runner's routes changed."""
        routes = self.runner.routes
        if routes is not self._routes_seen:
            self._routes_seen = routes
            self.derived.subscribe(routes.ticks, routes.bars)
        return self.derived
