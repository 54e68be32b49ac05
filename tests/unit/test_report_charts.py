"""Report charts: min/max downsampling, rangebreaks over nights and weekends, order marks on spot."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from _report_support import SMALL_DAYS, session_minutes, small_run, weekdays

from optrunner.backtest.report_charts import (
    MARKERS,
    equity_figure,
    minmax_indices,
    rangebreaks,
    spot_figure,
)
from optrunner.backtest.report_data import load_run
from optrunner.core.types import Tag


def test_small_series_are_kept_whole():
    y = np.array([3.0, 1.0, 2.0])
    assert minmax_indices(y, 10).index.tolist() == [0, 1, 2]


@pytest.mark.parametrize("n", [10_001, 93_750, 100_003])
def test_downsampling_keeps_every_bucket_extreme_and_the_ends(n):
    y = np.cumsum(np.random.default_rng(n).normal(size=n))
    d = minmax_indices(y, 10_000)
    idx = d.index
    assert len(idx) <= 10_000 and (np.diff(idx) > 0).all()
    assert {0, n - 1, int(y.argmin()), int(y.argmax())} <= set(idx.tolist())
    for start in range(0, n, d.width):  # each bucket's min and max survive
        kept = idx[(idx >= start) & (idx < start + d.width)]
        bucket = y[start : start + d.width]
        assert y[kept].min() == bucket.min() and y[kept].max() == bucket.max()


def test_flat_series_downsamples():
    d = minmax_indices(np.full(50_000, 7.0), 1_000)
    assert len(d.index) <= 1_000 and d.index[0] == 0 and d.index[-1] == 49_999


def test_equity_chart_keeps_the_low_and_the_deepest_drawdown():
    n = 93_750
    rng = np.random.default_rng(1)
    equity = 1_000_000 + np.cumsum(rng.normal(0, 150, n))
    dd = np.maximum.accumulate(equity) - equity
    times = np.array([t[:-6] for d in weekdays(date(2026, 1, 1), 250) for t in session_minutes(d)])
    fig, keep = equity_figure({"time": times, "equity": equity, "drawdown": dd})
    eq_trace, dd_trace = fig.data
    assert len(eq_trace.y) + len(dd_trace.y) <= 20_000
    assert eq_trace.y.min() == equity.min() and eq_trace.y.max() == equity.max()
    # Underwater in % of the running peak; its deepest point is the run's max drawdown %.
    i = int(np.argmax(dd / (equity + dd)))
    assert dd_trace.y.min() == pytest.approx(-100 * dd[i] / (equity[i] + dd[i]), rel=1e-12)
    assert "min and max of each" in fig.layout.annotations[0].text and keep.width == 19


def test_rangebreaks_hide_nights_and_weekends_without_overlap():
    # Fri 30 Jan, Mon 2 Feb, Tue 3 Feb 2026, 09:15..15:29 IST: a weekend and a night to hide.
    times = np.array([t[:-6] for d in SMALL_DAYS for t in session_minutes(d)])
    hour = 3_600_000
    assert rangebreaks(times) == [
        {"values": ["2026-02-02 15:30"], "dvalue": int(17.75 * hour)},  # Mon 15:30 -> Tue 09:15
        {"values": ["2026-01-30 15:30"], "dvalue": int((48 + 17.75) * hour)},  # Fri 15:30 -> Mon 09:15
    ]
    assert rangebreaks(times[:375]) == []  # one day: nothing to hide


def test_marks_sit_on_the_spot_of_their_minute(tmp_path):
    run = load_run(small_run(tmp_path / "run"))
    fig, _ = spot_figure("BANKNIFTY", run.spot, run.events)
    line, *marks = fig.data
    assert line.name == "BANKNIFTY spot"
    by_name = {t.name: t for t in marks}
    assert set(by_name) == {"Entry (1)", "Adjustment exit (1)", "Adjustment entry (1)", "Exit (1)"}
    assert len({t.marker.symbol for t in marks}) == 4 and len({t.marker.color for t in marks}) == 4
    # Spot is 55,000 + minutes since 30 Jan 09:15; 3 Feb is the third day (750 minutes in).
    adjust_exit = by_name["Adjustment exit (1)"]  # written in UTC (05:30Z): shown at 11:00 IST
    assert list(adjust_exit.x) == ["2026-02-03T11:00:00"] and list(adjust_exit.y) == [55_000 + 750 + 105]
    assert list(by_name["Exit (1)"].y) == [55_000 + 750 + 285]
    hover = by_name["Adjustment entry (1)"].text[0]
    assert hover == "zones · BANKNIFTY 24 Feb 26 56500 PE<br>SELL 30 @ 1,234.50"


def test_a_mark_between_minutes_takes_the_minute_before_and_unpriced_shows_dash(tmp_path):
    run = load_run(small_run(tmp_path / "run"))
    fig, _ = spot_figure("NIFTY", run.spot, run.events)
    entries = next(t for t in fig.data if t.name == "Entry (2)")
    assert list(entries.y) == [25_005, 25_000 + 375 + 15]  # 09:20:30 -> the 09:20 spot
    exits = next(t for t in fig.data if t.name == "Exit (2)")
    assert exits.text[1] == "dnss · NIFTY 03 Feb 26 25100 CE<br>BUY 65 @ —"


def test_every_order_tag_has_a_marker_style():
    assert set(MARKERS) == {Tag.ENTRY.value, Tag.ADJUST_EXIT.value, Tag.ADJUST_ENTRY.value, Tag.EXIT.value}
