"""Plotly figures of the backtest report: equity and underwater curves, daily P&L, spot with
order marks — and the min/max downsampling that keeps a year of minutes small.

A year is ~94k minutes per series; Plotly draws that slowly and it would bloat the page.
:func:`minmax_indices` splits a series into equal buckets of consecutive minutes and keeps
each bucket's lowest and highest point (plus the first and last), so every peak, trough and
the global extremes survive — a line plot of the result is what the full series looks like
at screen resolution. Each chart states the method and the point counts.

Nights, weekends and holidays carry no data; *rangebreaks* derived from the data itself hide
them so a week of trading is not drawn as mostly flat overnight lines. Times are IST
wall-clock text, which Plotly shows verbatim in any viewer's time zone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from optrunner.backtest.report_data import Columns, underlying
from optrunner.backtest.report_format import count, day, number
from optrunner.instruments.names import contract_name

MAX_POINTS = 10_000  # per downsampled series; the equity chart holds two (≤ 20k points)
GREEN, RED, GREY = "#1a9850", "#d73027", "#6b7280"
MARKERS = {  # tag -> (symbol, colour, legend label)
    "ENTRY": ("triangle-up", "#2563eb", "Entry"),
    "ADJUST_EXIT": ("x", "#f59e0b", "Adjustment exit"),
    "ADJUST_ENTRY": ("diamond", "#9333ea", "Adjustment entry"),
    "EXIT": ("square", "#111827", "Exit"),
}
WHEN = "%{x|%d %b %Y %H:%M}"
# Plotly formats with d3-format; this locale makes "$,.2f" read ₹1,23,45,678.90 (Indian
# grouping: three digits, then twos — d3 cycles the list, so it is spelled out) on axes and hovers.
CHART_CONFIG = {
    "displaylogo": False, "responsive": True, "locale": "en-IN",
    "locales": {"en-IN": {"format": {"grouping": [3] + [2] * 10, "currency": ["₹", ""]}}},
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Downsampled:
    """Rows kept from a series and how: ``width`` consecutive rows per bucket (1 = all kept)."""

    index: np.ndarray
    total: int
    width: int

    def note(self) -> str:
        if self.width == 1:
            return f"All {count(self.total)} minutes shown."
        return (
            f"Downsampled for display: the min and max of each {self.width}-minute bucket, "
            f"{count(len(self.index))} of {count(self.total)} points; every extreme is kept."
        )


def minmax_indices(y: np.ndarray, max_points: int = MAX_POINTS) -> Downsampled:
    """Indices of the first, last, and each bucket's min and max, ascending, ≤ max_points."""
    n = len(y)
    if n <= max_points:
        return Downsampled(np.arange(n), n, 1)
    width = -(-n // ((max_points - 2) // 2))
    buckets = -(-n // width)
    grid = np.concatenate([y, np.full(buckets * width - n, y[-1])]).reshape(buckets, width)
    starts = np.arange(buckets) * width
    picks = np.concatenate([[0, n - 1], starts + grid.argmin(axis=1), starts + grid.argmax(axis=1)])
    return Downsampled(np.unique(np.minimum(picks, n - 1)), n, width)


def rangebreaks(times: np.ndarray) -> list[dict[str, object]]:
    """Breaks hiding the time from each day's last row to the next day's first (nights,
    weekends, holidays) of sorted ISO wall-clock ``times``. Plotly garbles an axis whose breaks
    overlap (a weekend "values" break under a nightly "hour" pattern does), so every gap is
    its own break; gaps of one length share a rangebreak, as ``dvalue`` is per rangebreak."""
    days = times.astype("U10")
    by_length: dict[int, list[str]] = defaultdict(list)
    for i in np.flatnonzero(days[1:] != days[:-1]).tolist():
        start = datetime.fromisoformat(str(times[i])[:16]) + timedelta(minutes=1)
        end = datetime.fromisoformat(str(times[i + 1])[:16])
        if end > start:
            by_length[int((end - start).total_seconds()) * 1000].append(f"{start:%Y-%m-%d %H:%M}")
    return [{"values": starts, "dvalue": ms} for ms, starts in sorted(by_length.items())]


def _layout(fig: go.Figure, title: str, height: int, note: str = "") -> go.Figure:
    fig.update_layout(
        title={"text": escape(title), "x": 0.01, "font": {"size": 16}},
        template="plotly_white",
        height=height,
        margin={"l": 90, "r": 20, "t": 72 if note else 50, "b": 40},
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
        hovermode="closest",
    )
    if note:
        fig.add_annotation(text=escape(note), xref="paper", yref="paper", x=0, y=1.0, yanchor="bottom",
                           xanchor="left", showarrow=False, font={"size": 11, "color": GREY})  # fmt: skip
    return fig


def equity_figure(equity: Columns) -> tuple[go.Figure, Downsampled]:
    """Equity over time above the underwater curve (% below the running peak), one time axis."""
    times, eq, dd = equity["time"], equity["equity"], equity["drawdown"]
    peak = eq + dd
    under = -100.0 * dd / np.where(peak > 0, peak, np.inf)
    keep_eq, keep_dd = minmax_indices(eq), minmax_indices(under)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.68, 0.32])
    i, j = keep_eq.index, keep_dd.index
    fig.add_trace(go.Scatter(x=times[i], y=eq[i], name="Equity", mode="lines", line={"color": "#2563eb", "width": 1.5},
                             hovertemplate=f"{WHEN}<br>%{{y:$,.2f}}<extra>Equity</extra>"), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=times[j], y=under[j], customdata=dd[j], name="Drawdown", mode="lines", fill="tozeroy",
                             line={"color": RED, "width": 1}, fillcolor="rgba(215,48,39,0.25)",
                             hovertemplate=f"{WHEN}<br>%{{customdata:$,.2f}} below peak (%{{y:.2f}}%)<extra>Drawdown</extra>"),
                  row=2, col=1)  # fmt: skip
    note = keep_eq.note() if keep_eq.width == keep_dd.width else f"Equity: {keep_eq.note()} Drawdown: {keep_dd.note()}"
    _layout(fig, "Equity and drawdown (IST)", 560, note)
    fig.update_yaxes(title_text="Equity", tickformat="$,.0f", row=1, col=1)
    fig.update_yaxes(title_text="% below peak", row=2, col=1)
    fig.update_xaxes(rangebreaks=rangebreaks(times))
    return fig, keep_eq


def daily_figure(daily: Columns) -> go.Figure:
    pnl = daily["pnl"]
    """One bar per trading day on a category axis: no gaps for weekends and holidays."""
    pnl = daily["pnl"]
    days = [day(d) for d in daily["date"].tolist()]
    fig = go.Figure(go.Bar(x=days, y=pnl, marker_color=np.where(pnl >= 0, GREEN, RED), name="Daily P&L",
                           hovertemplate="%{x}<br>%{y:$,.2f}<extra></extra>"))  # fmt: skip
    _layout(fig, "Daily P&L (net of charges)", 340)
    fig.update_yaxes(tickformat="$,.0f")
    fig.update_xaxes(type="category", nticks=12)
    return fig


def _mark_text(events: Columns, rows: np.ndarray) -> list[str]:
    return [
        f"{escape(str(events['strategy'][r]))} · {escape(contract_name(str(events['contract'][r])))}<br>"
        f"{escape(str(events['side'][r]))} {int(events['quantity'][r]):,} @ {number(events['price'][r])}"
        for r in rows
    ]


def spot_figure(symbol: str, spot: Columns, events: Columns | None, max_points: int = MAX_POINTS) -> tuple[go.Figure, Downsampled]:
    """The underlying's spot with one marker trace per order tag, placed on the spot at the
    order's minute (the last spot at or before it)."""
    mine = spot["symbol"] == symbol
    times, level = spot["time"][mine], spot["spot"][mine]
    keep = minmax_indices(level, max_points)
    fig = go.Figure(go.Scatter(x=times[keep.index], y=level[keep.index], name=f"{symbol} spot", mode="lines",
                               line={"color": GREY, "width": 1.2},
                               hovertemplate=f"{WHEN}<br>%{{y:,.2f}}<extra>{symbol}</extra>"))  # fmt: skip
    if events is not None and len(times):
        ours = np.array([underlying(c) == symbol for c in events["contract"]], dtype=bool)
        for tag, (shape, colour, label) in MARKERS.items():
            rows = np.flatnonzero(ours & (events["tag"] == tag))
            if not len(rows):
                continue
            at = np.maximum(np.searchsorted(times, events["time"][rows], side="right") - 1, 0)
            fig.add_trace(go.Scatter(
                x=events["time"][rows], y=level[at], mode="markers", name=f"{label} ({count(len(rows))})",
                marker={"symbol": shape, "color": colour, "size": 10, "line": {"width": 1, "color": "white"}},
                text=_mark_text(events, rows),
                hovertemplate=f"<b>{label}</b> {WHEN}<br>%{{text}}<br>spot %{{y:,.2f}}<extra></extra>"))  # fmt: skip
    _layout(fig, f"{symbol} spot with entries, adjustments and exits (IST)", 460, keep.note())
    fig.update_yaxes(tickformat=",.0f")
    marked = events["time"][[underlying(c) == symbol for c in events["contract"]]] if events is not None else []
    fig.update_xaxes(rangebreaks=rangebreaks(np.sort(np.concatenate([times, marked]))))
    return fig, keep


__all__ = [
    "CHART_CONFIG", "MARKERS", "Downsampled", "daily_figure", "equity_figure", "minmax_indices", "rangebreaks",
    "spot_figure",
]  # fmt: skip
