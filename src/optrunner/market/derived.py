"""Ticks and closed bars derived from chain snapshots, for every mode alike.

Backtest and paper replay a catalog of chain snapshots; live feeds deliver them too. The
strategies that want ticks (an option, or the index) or bars (session-aligned, 09:15-based)
get them from here, computed from the same snapshots, so a strategy sees the same events
in backtest, paper and live.

A bar is delivered **once, when it has closed**: when an input at or after its end arrives,
or at the session close. Never a partial bar. Buckets follow ``data/bars.py``: hourly bars
are 09:15-10:15, ..., 14:15-15:15 and a last partial 15:15-15:30; 4-hour bars 09:15-13:15 and
13:15-15:30; ``1d`` the whole session. Bars are of the index (the snapshot's spot).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from optrunner.core.events import BarEvent, TickEvent
from optrunner.core.timeutil import SESSION_CLOSE, SESSION_OPEN, to_ist
from optrunner.data.bars import parse_timeframe
from optrunner.data.snapshot import ChainSnapshot
from optrunner.market.adapters.protocol import ticks_from_snapshot


@dataclass(slots=True)
class _OpenBar:
    start: datetime
    end: datetime
    open: float
    high: float
    low: float
    close: float


class BarBuilder:
    """One (symbol, timeframe): the bar being built from spot prices, closed by time."""

    __slots__ = ("_bar", "_minutes", "symbol", "timeframe")

    def __init__(self, symbol: str, timeframe: str) -> None:
        kind, minutes = parse_timeframe(timeframe)
        if kind == "week":
            raise ValueError(
                f"{timeframe}: weekly bars are not delivered as events — build them from 1d bars"
            )
        self.symbol, self.timeframe = symbol, timeframe
        self._minutes = minutes if kind == "minutes" else None  # None: the whole session
        self._bar: _OpenBar | None = None

    def bucket(self, ts: datetime) -> tuple[datetime, datetime]:
        """(start, end) of the session-aligned bar holding ``ts`` (IST)."""
        local = to_ist(ts)
        day_open = local.replace(hour=SESSION_OPEN.hour, minute=SESSION_OPEN.minute, second=0, microsecond=0)
        day_close = local.replace(hour=SESSION_CLOSE.hour, minute=SESSION_CLOSE.minute, second=0, microsecond=0)  # fmt: skip
        if self._minutes is None:
            return day_open, day_close
        n = int((local - day_open).total_seconds() // 60) // self._minutes
        start = day_open + timedelta(minutes=n * self._minutes)
        return start, min(start + timedelta(minutes=self._minutes), day_close)

    def close_until(self, now: datetime) -> BarEvent | None:
        """The open bar as a closed BarEvent when ``now`` is at or past its end."""
        bar = self._bar
        if bar is None or now < bar.end:
            return None
        self._bar = None
        return BarEvent(self.symbol, self.timeframe, bar.start, bar.end, bar.open, bar.high, bar.low, bar.close)  # fmt: skip

    def add(self, ts: datetime, price: float) -> None:
        """Fold one price in (after ``close_until(ts)`` has closed any earlier bar)."""
        bar = self._bar
        if bar is None:
            start, end = self.bucket(ts)
            if not start <= to_ist(ts) < end:  # outside the session: no bar holds it
                return
            self._bar = _OpenBar(start, end, price, price, price, price)
            return
        if price > bar.high:
            bar.high = price
        elif price < bar.low:
            bar.low = price
        bar.close = price


class DerivedEvents:
    """The ticks and bars the subscribers of one kernel want, from each snapshot.

    ``subscribe`` is called with the runner's current wants; a snapshot of an underlying
    nobody asked ticks or bars of costs one dict lookup.
    """

    def __init__(self) -> None:
        self._ticks: dict[str, list[str]] = {}  # underlying -> instruments wanted
        self._bars: dict[str, list[BarBuilder]] = {}  # underlying -> its bar builders
        self.active = False  # anyone subscribed at all (a DNSS-only session skips the call)

    def subscribe(self, instruments: Iterable[str], bars: Iterable[tuple[str, str]]) -> None:
        ticks: dict[str, list[str]] = {}
        for instrument in instruments:
            ticks.setdefault(instrument.split(":", 1)[0], []).append(instrument)
        self._ticks = {k: sorted(v) for k, v in ticks.items()}
        kept = {(b.symbol, b.timeframe): b for builders in self._bars.values() for b in builders}
        builders: dict[str, list[BarBuilder]] = {}
        for symbol, timeframe in sorted(set(bars)):
            builder = kept.get((symbol, timeframe)) or BarBuilder(symbol, timeframe)
            builders.setdefault(symbol, []).append(builder)
        self._bars = builders
        self.active = bool(self._ticks or self._bars)

    def on_snapshot(self, snapshot: ChainSnapshot) -> list[BarEvent | TickEvent]:
        """Bars this snapshot's time closes (first: they end before it), then its ticks."""
        out: list[BarEvent | TickEvent] = []
        builders = self._bars.get(snapshot.symbol)
        if builders:
            ts, spot = snapshot.ts, snapshot.spot
            for builder in builders:
                closed = builder.close_until(ts)
                if closed is not None:
                    out.append(closed)
                if spot > 0.0:  # also false for NaN: a snapshot without a spot adds no price
                    builder.add(ts, spot)
        instruments = self._ticks.get(snapshot.symbol)
        if instruments:
            out.extend(ticks_from_snapshot(snapshot, instruments))
        return out

    def close_until(self, now: datetime) -> list[BarEvent]:
        """Every open bar of any underlying that has ended by ``now`` (a timer, the close)."""
        out = []
        for builders in self._bars.values():
            for builder in builders:
                closed = builder.close_until(now)
                if closed is not None:
                    out.append(closed)
        return out
