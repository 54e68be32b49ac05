"""Aggregate index minute bars into session-aligned N-minute, hourly, 4-hour, daily and weekly bars.

Buckets are counted from the 09:15 IST open, not from the clock: hourly bars are 09:15-10:15,
..., 14:15-15:15 and a last partial 15:15-15:30; 4-hour bars are 09:15-13:15 and 13:15-15:30.
(An older system grouped hours by ``hour // 4 * 4`` on the clock, which mixes the morning
and afternoon sessions and disagrees with every charting package.) A bar's ``ts`` is its
nominal start, ``end`` its nominal end capped at the close; a bar is emitted from whatever
minutes of it exist.

Everything is one pass of NumPy ``reduceat`` over time-sorted arrays.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from optrunner.core.events import BarEvent
from optrunner.data.schema import (
    BAR_COLUMNS,
    IST_OFFSET_NS,
    NS_PER_DAY,
    NS_PER_MINUTE,
    TS_TYPE,
    conform_bars,
    ns_to_ist,
    ts_ns,
)

OPEN_MINUTE = 9 * 60 + 15  # 09:15 IST, minutes after midnight
SESSION_MINUTES = 375  # 09:15 -> 15:30
AGGREGATE_SCHEMA = pa.schema(
    [("ts", TS_TYPE), ("end", TS_TYPE), *[(name, pa.float64()) for name in BAR_COLUMNS]]
)
_TIMEFRAME = re.compile(r"^(\d+)(m|h|d|w)$")


def parse_timeframe(timeframe: str) -> tuple[str, int]:
    """("minutes", N) for "5m"/"1h"/"4h", ("day", 1) for "1d", ("week", 1) for "1w"."""
    m = _TIMEFRAME.match(timeframe.strip().lower())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"timeframe {timeframe!r} is not like 5m, 15m, 1h, 4h, 1d or 1w")
    n, unit = int(m.group(1)), m.group(2)
    if unit in ("d", "w"):
        if n != 1:
            raise ValueError(f"timeframe {timeframe!r}: only 1d and 1w are supported")
        return ("day" if unit == "d" else "week"), 1
    minutes = n * 60 if unit == "h" else n
    if minutes > SESSION_MINUTES:
        raise ValueError(f"timeframe {timeframe!r} is longer than the 375-minute session; use 1d")
    return "minutes", minutes


def resample(minute_bars: pa.Table, timeframe: str) -> pa.Table:
    """Aggregate minute bars (ts = minute start, any order) into ``timeframe`` bars.

    Returns columns ts (bar start), end, open, high, low, close, volume. Raises ValueError
    for a bar outside the 09:15-15:30 session or two bars with one start time.
    """
    kind, minutes = parse_timeframe(timeframe)
    table = conform_bars(minute_bars)
    t = ts_ns(table["ts"])
    if len(t) == 0:
        return AGGREGATE_SCHEMA.empty_table()
    order = np.argsort(t, kind="stable")
    t = t[order]
    if len(t) > 1 and np.any(t[1:] == t[:-1]):
        raise ValueError("two minute bars share a start time")
    local = t + IST_OFFSET_NS
    day = local // NS_PER_DAY
    session_minute = (local % NS_PER_DAY) // NS_PER_MINUTE - OPEN_MINUTE
    outside = (session_minute < 0) | (session_minute >= SESSION_MINUTES)
    if outside.any():
        first = ns_to_ist(int(t[np.argmax(outside)]))
        raise ValueError(
            f"{int(outside.sum())} bar(s) start outside the 09:15-15:30 session, first at {first}"
        )
    open_ns = day * NS_PER_DAY - IST_OFFSET_NS + OPEN_MINUTE * NS_PER_MINUTE
    close_ns = open_ns + SESSION_MINUTES * NS_PER_MINUTE
    if kind == "minutes":
        bucket = session_minute // minutes
        key = day * 1000 + bucket
        start = open_ns + bucket * minutes * NS_PER_MINUTE
        end = np.minimum(start + minutes * NS_PER_MINUTE, close_ns)
    elif kind == "day":
        key, start, end = day, open_ns, close_ns
    else:  # ISO weeks, Monday first: 1970-01-01 was a Thursday
        key = (day + 3) // 7
        start, end = open_ns, close_ns
    cuts = np.concatenate(([0], np.flatnonzero(np.diff(key)) + 1))
    last = np.concatenate((cuts[1:], [len(t)])) - 1
    cols = {name: table[name].to_numpy()[order] for name in BAR_COLUMNS}
    out = {
        "ts": start[cuts],
        "end": end[last],
        "open": cols["open"][cuts],
        "high": np.maximum.reduceat(cols["high"], cuts),
        "low": np.minimum.reduceat(cols["low"], cuts),
        "close": cols["close"][last],
        "volume": np.add.reduceat(cols["volume"], cuts),
    }
    arrays = [pa.array(out["ts"]).cast(TS_TYPE), pa.array(out["end"]).cast(TS_TYPE)]
    arrays += [pa.array(out[name]) for name in BAR_COLUMNS]
    return pa.Table.from_arrays(arrays, schema=AGGREGATE_SCHEMA)


def bar_events(bars: pa.Table, symbol: str, timeframe: str) -> list[BarEvent]:
    """``BarEvent``s (times in IST) from a table with ts, end, open, high, low, close[, volume]."""
    start, end = ts_ns(bars["ts"]), ts_ns(bars["end"])
    vol = bars["volume"].to_numpy() if "volume" in bars.column_names else np.zeros(bars.num_rows)
    o, h, low, c = (bars[name].to_numpy() for name in ("open", "high", "low", "close"))
    return [
        BarEvent(
            symbol,
            timeframe,
            ns_to_ist(int(start[i])),
            ns_to_ist(int(end[i])),
            float(o[i]),
            float(h[i]),
            float(low[i]),
            float(c[i]),
            float(vol[i]),
        )
        for i in range(bars.num_rows)
    ]


def minute_bar_events(minute_bars: pa.Table, symbol: str) -> list[BarEvent]:
    """Minute bars themselves as "1m" ``BarEvent``s (end = start + 1 minute)."""
    table = conform_bars(minute_bars)
    end = pa.array(ts_ns(table["ts"]) + NS_PER_MINUTE).cast(TS_TYPE)
    return bar_events(table.append_column("end", end), symbol, "1m")
