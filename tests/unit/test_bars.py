"""Session-aligned bar aggregation, checked against hand-computed buckets."""

from datetime import date, datetime, time, timedelta

import numpy as np
import pyarrow as pa
import pytest

from optrunner.core.timeutil import IST
from optrunner.data.bars import bar_events, minute_bar_events, parse_timeframe, resample


def minute_bars(days: list[date], minutes: int = 375) -> pa.Table:
    """Minute i of day j: open = 1000j + i, high = open + 0.5, low = open - 0.5, close = open + 0.25."""
    ts, o = [], []
    for j, d in enumerate(days):
        start = datetime.combine(d, time(9, 15), IST)
        for i in range(minutes):
            ts.append(start + timedelta(minutes=i))
            o.append(1000.0 * j + i)
    o = np.array(o)
    return pa.table({
        "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
        "open": o, "high": o + 0.5, "low": o - 0.5, "close": o + 0.25, "volume": np.ones(len(o)),
    })  # fmt: skip


def ist_times(column: pa.ChunkedArray) -> list[str]:
    return [v.astimezone(IST).strftime("%Y-%m-%d %H:%M") for v in column.to_pylist()]


DAY = date(2026, 1, 6)


def test_hourly_bars_start_at_0915_and_the_last_is_the_partial_1515_1530():
    out = resample(minute_bars([DAY]), "1h")
    assert ist_times(out["ts"]) == [f"2026-01-06 {h:02d}:15" for h in range(9, 16)]
    assert ist_times(out["end"]) == [f"2026-01-06 {h:02d}:15" for h in range(10, 16)] + ["2026-01-06 15:30"]
    # bucket k holds minutes 60k .. 60k+59 (the last 360 .. 374)
    assert out["open"].to_pylist() == [0, 60, 120, 180, 240, 300, 360]
    assert out["close"].to_pylist() == [59.25, 119.25, 179.25, 239.25, 299.25, 359.25, 374.25]
    assert out["high"].to_pylist() == [59.5, 119.5, 179.5, 239.5, 299.5, 359.5, 374.5]
    assert out["low"].to_pylist() == [-0.5, 59.5, 119.5, 179.5, 239.5, 299.5, 359.5]
    assert out["volume"].to_pylist() == [60, 60, 60, 60, 60, 60, 15]


def test_four_hour_bars_are_session_aligned_not_clock_buckets():
    out = resample(minute_bars([DAY]), "4h")
    assert ist_times(out["ts"]) == ["2026-01-06 09:15", "2026-01-06 13:15"]
    assert ist_times(out["end"]) == ["2026-01-06 13:15", "2026-01-06 15:30"]
    assert out["open"].to_pylist() == [0, 240]
    assert out["close"].to_pylist() == [239.25, 374.25]
    assert out["low"].to_pylist() == [-0.5, 239.5]


def test_n_minute_bars_and_missing_minutes():
    table = minute_bars([DAY]).filter(pa.array([i not in (5, 6, 7, 8, 9) for i in range(375)]))
    out = resample(table, "5m")
    assert out.num_rows == 74  # 09:40-09:45 bucket (minutes 5..9) absent, nothing invented
    assert ist_times(out["ts"])[:3] == ["2026-01-06 09:15", "2026-01-06 09:25", "2026-01-06 09:30"]
    assert out["open"].to_pylist()[:2] == [0, 10]


def test_daily_and_weekly_bars_follow_trading_days():
    # Mon 12 Jan .. Fri 16 Jan 2026 (15 Jan a holiday) and Mon 19 Jan
    days = [date(2026, 1, 12), date(2026, 1, 13), date(2026, 1, 14), date(2026, 1, 16), date(2026, 1, 19)]
    table = minute_bars(days)
    daily = resample(table, "1d")
    assert daily["open"].to_pylist() == [0, 1000, 2000, 3000, 4000]
    assert daily["close"].to_pylist() == [374.25, 1374.25, 2374.25, 3374.25, 4374.25]
    weekly = resample(table, "1w")
    assert ist_times(weekly["ts"]) == ["2026-01-12 09:15", "2026-01-19 09:15"]
    assert ist_times(weekly["end"]) == ["2026-01-16 15:30", "2026-01-19 15:30"]
    assert weekly["open"].to_pylist() == [0, 4000]
    assert weekly["high"].to_pylist() == [3374.5, 4374.5]
    assert weekly["low"].to_pylist() == [-0.5, 3999.5]
    assert weekly["close"].to_pylist() == [3374.25, 4374.25]


def test_input_order_does_not_matter():
    table = minute_bars([DAY, date(2026, 1, 7)])
    shuffled = table.take(np.random.default_rng(3).permutation(table.num_rows))
    assert resample(shuffled, "1h").equals(resample(table, "1h"))


def test_bar_events_carry_ist_times_and_values():
    events = bar_events(resample(minute_bars([DAY]), "4h"), "NIFTY", "4h")
    assert [(e.start.time(), e.end.time()) for e in events] == [(time(9, 15), time(13, 15)), (time(13, 15), time(15, 30))]
    assert events[0].ts == datetime(2026, 1, 6, 13, 15, tzinfo=IST)
    assert (events[1].open, events[1].close, events[1].symbol, events[1].timeframe) == (240, 374.25, "NIFTY", "4h")
    ones = minute_bar_events(minute_bars([DAY], minutes=2), "NIFTY")
    assert [e.end.time() for e in ones] == [time(9, 16), time(9, 17)]


def test_bars_outside_the_session_are_refused():
    table = minute_bars([DAY])
    late = pa.table({
        "ts": pa.array([datetime(2026, 1, 6, 15, 30, tzinfo=IST)], pa.timestamp("ns", tz="UTC")),
        "open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [0.0],
    })  # fmt: skip
    with pytest.raises(ValueError, match=r"1 bar\(s\) start outside .* 15:30"):
        resample(pa.concat_tables([table, late]), "1h")


@pytest.mark.parametrize("bad", ["0m", "2d", "7h", "hourly", "1x"])
def test_bad_timeframes_are_named(bad):
    with pytest.raises(ValueError, match=bad):
        parse_timeframe(bad)


def test_timeframe_parsing():
    assert parse_timeframe("1h") == ("minutes", 60)
    assert parse_timeframe("75m") == ("minutes", 75)
    assert parse_timeframe("1W") == ("week", 1)
