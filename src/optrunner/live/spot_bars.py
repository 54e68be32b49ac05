"""Minute bars of each index's spot, recorded from the inputs a session on a live feed processes.

A replay has the catalog's minute bars for the dashboard's spot chart and ``/spot/statistics``;
a live feed has no catalog, only the spot each chain snapshot carries. :class:`SpotBars` folds
those spots into minute OHLC bars of the session day, in the catalog's bar layout
(``BAR_SCHEMA``), so ``api/views.py`` resamples either source through one code path.

Recording runs on the kernel's thread, under its lock, once per input: it is a few integer
operations and list appends (no NumPy, no Arrow). Readers copy the lists under the same lock
(:meth:`SpotBars.copy`) and build their table outside it. Only minutes inside the 09:15-15:30
IST session are kept (``data/bars.py`` aligns every timeframe to it); a snapshot of a new day
drops the previous day's bars. Bars are recorded since the service started: a restart begins
the day's chart again from its first input.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa

from optrunner.data.bars import OPEN_MINUTE, SESSION_MINUTES
from optrunner.data.schema import BAR_SCHEMA, IST_OFFSET_NS, NS_PER_MINUTE, TS_TYPE
from optrunner.data.snapshot import ChainSnapshot

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE = timedelta(minutes=1)
_IST_OFFSET_MINUTES = IST_OFFSET_NS // NS_PER_MINUTE
_MINUTES_PER_DAY = 24 * 60
_CLOSE_MINUTE = OPEN_MINUTE + SESSION_MINUTES  # 15:30 IST: a spot stamped then opens no bar


class _Series:
    """One index's minute bars as parallel lists: appending and updating the last bar is O(1)."""

    __slots__ = ("close", "high", "low", "minute", "open")

    def __init__(self) -> None:
        self.minute: list[int] = []  # each bar's start, minutes since the epoch (UTC)
        self.open: list[float] = []
        self.high: list[float] = []
        self.low: list[float] = []
        self.close: list[float] = []

    def add(self, minute: int, price: float) -> None:
        last = self.minute[-1] if self.minute else None
        if last == minute:
            if price > self.high[-1]:
                self.high[-1] = price
            elif price < self.low[-1]:
                self.low[-1] = price
            self.close[-1] = price
        elif last is None or minute > last:
            self.minute.append(minute)
            self.open.append(price)
            self.high.append(price)
            self.low.append(price)
            self.close.append(price)
        # an older minute than the last bar's (a late input) would rewrite a closed bar: ignored


@dataclass(frozen=True, slots=True)
class RecordedBars:
    """The recorder's bars as one reader's own copy (see :meth:`SpotBars.copy`)."""

    day: date | None  # the IST session day the bars belong to (None: nothing recorded yet)
    series: dict[str, tuple[list[int], list[float], list[float], list[float], list[float]]]

    def symbols(self, day: date) -> list[str]:
        """The indices with bars on ``day``, sorted."""
        return sorted(self.series) if day == self.day else []

    def table(self, symbol: str, until: datetime) -> pa.Table:
        """``symbol``'s minute bars that start at or before ``until`` (the session time), in
        ``BAR_SCHEMA``: ts = the minute's start, volume NaN (an index has none). The minute in
        progress is included: it holds only spots seen so far, so it is no look-ahead."""
        minute, o, h, low, c = self.series.get(symbol, ([], [], [], [], []))
        n = bisect_right(minute, (until - _EPOCH) // _MINUTE)
        ts = pa.array(np.asarray(minute[:n], dtype=np.int64) * NS_PER_MINUTE).cast(TS_TYPE)
        cols = [pa.array(np.asarray(x[:n], dtype=np.float64)) for x in (o, h, low, c)]
        return pa.Table.from_arrays([ts, *cols, pa.array(np.full(n, np.nan))], schema=BAR_SCHEMA)


class SpotBars:
    """Minute OHLC bars of each index's spot on the session day, fed one input at a time."""

    def __init__(self) -> None:
        self._day: int | None = None  # IST day number (days since 1970-01-01) of the bars held
        self._series: dict[str, _Series] = {}

    def on_snapshot(self, snapshot: ChainSnapshot) -> None:
        """Record ``snapshot``'s spot (a ``TradingNode.on_input`` hook: kernel thread, under its lock)."""
        self.record(snapshot.symbol, snapshot.ts, snapshot.spot)

    def record(self, symbol: str, ts: datetime, spot: float) -> None:
        """Fold ``spot`` seen at ``ts`` (timezone-aware) into ``symbol``'s bar of that minute."""
        minute = (ts - _EPOCH) // _MINUTE
        day, of_day = divmod(minute + _IST_OFFSET_MINUTES, _MINUTES_PER_DAY)
        if day != self._day:
            if self._day is not None and day < self._day:
                return  # a late input of a day already left behind
            self._day = day  # checked before the session hours: a pre-open input starts the day
            self._series = {}
        if not (OPEN_MINUTE <= of_day < _CLOSE_MINUTE and spot > 0.0):  # NaN spot: not > 0
            return
        series = self._series.get(symbol)
        if series is None:
            series = self._series[symbol] = _Series()
        series.add(minute, float(spot))

    def copy(self) -> RecordedBars:
        """The bars so far as the caller's own lists (take the kernel's lock around it: the
        kernel's thread appends to them). O(minutes recorded): at most 375 per index."""
        day = None if self._day is None else _EPOCH.date() + timedelta(days=self._day)
        series = {
            s: (x.minute[:], x.open[:], x.high[:], x.low[:], x.close[:])
            for s, x in self._series.items()
        }
        return RecordedBars(day, series)
