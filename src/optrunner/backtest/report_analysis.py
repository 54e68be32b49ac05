"""The numbers behind the report's breakdown and trade sections, computed from a run folder.

Kept apart from the HTML so each can be checked against a hand computation: weekday sums equal
the run's total, charges per day sum to the run's charges, a trade's margin is the margin model
applied to the legs it opened with (docs/metrics.md, "Report tables" and "Margin estimate").
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import numpy as np

from optrunner.backtest.margin import MarginModel, PositionLeg, payoff_points, position_margin
from optrunner.backtest.metrics import excursions
from optrunner.backtest.report_data import CHARGES, Columns, RunData
from optrunner.instruments.contracts import OptionContract

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PAYOFF_SPAN = 0.06  # the payoff diagram covers spot ± 6% (widened to every strike ± 1%)


def charges_by_day(fills: Columns) -> dict[str, dict[str, float]]:
    """{YYYY-MM-DD: {brokerage, stt, exchange, sebi, stamp, ipft, gst, total}} from fills.csv
    (expiry settlements included: their STT is charged on the expiry day)."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys((*CHARGES, "total"), 0.0))
    days = fills["time"].astype("U10")
    for i, d in enumerate(days.tolist()):
        row = out[d]
        for name in CHARGES:
            row[name] += float(fills[name][i])
        row["total"] += float(fills["charges"][i])
    return dict(sorted(out.items()))


@dataclass(frozen=True, slots=True)
class Bucket:
    """Days (or trades) falling in one weekday / days-to-expiry bucket and what they made."""

    count: int = 0
    wins: int = 0
    pnl: float = 0.0

    def add(self, pnl: float) -> Bucket:
        return Bucket(self.count + 1, self.wins + (pnl > 0), self.pnl + pnl)


def by_weekday(daily: Columns) -> dict[str, Bucket]:
    """Daily net P&L summed per weekday, Monday first; the buckets add up to the run's P&L."""
    out: dict[int, Bucket] = {}
    for d, pnl in zip(daily["date"].tolist(), daily["pnl"].tolist(), strict=True):
        k = date.fromisoformat(d).weekday()
        out[k] = out.get(k, Bucket()).add(pnl)
    return {WEEKDAYS[k]: out[k] for k in sorted(out)}


def days_to_expiry(legs: str, entry_time: str) -> int | None:
    """Calendar days from a trade's entry to the nearest expiry among its legs (0 = expiry day)."""
    expiries = []
    for cid in legs.split():
        try:
            expiries.append(OptionContract.from_id(cid).expiry)
        except ValueError:
            continue
    return (min(expiries) - date.fromisoformat(entry_time[:10])).days if expiries else None


def by_days_to_expiry(trades: Columns) -> dict[int | None, Bucket]:
    """Trades' net P&L by calendar days to expiry at entry; the buckets add up to all trades."""
    out: dict[int | None, Bucket] = {}
    for legs, entry, net in zip(trades["legs"].tolist(), trades["entry_time"].tolist(), trades["net_pnl"].tolist(),
                                strict=True):  # fmt: skip
        k = days_to_expiry(legs, entry)
        out[k] = out.get(k, Bucket()).add(net)
    return dict(sorted(out.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))


Series = dict[str, tuple[np.ndarray, np.ndarray]]


def spot_series(run: RunData) -> Series:
    """{symbol: (times, spot)}: spot.csv is grouped by symbol on load, so each is one slice."""
    if run.spot is None or not len(run.spot["symbol"]):
        return {}
    symbols = run.spot["symbol"].astype(str)
    starts = np.flatnonzero(np.concatenate([[True], symbols[1:] != symbols[:-1]]))
    ends = np.append(starts[1:], len(symbols))
    return {symbols[a]: (run.spot["time"][a:b], run.spot["spot"][a:b]) for a, b in zip(starts, ends, strict=True)}


def spot_at(series: Series, symbol: str, time: str) -> float | None:
    """The underlying's last spot at or before ``time`` (IST text), or its first after it."""
    if symbol not in series:
        return None
    times, level = series[symbol]
    i = max(int(np.searchsorted(times, time, side="right")) - 1, 0)
    return float(level[i])


def breakevens(x: np.ndarray, y: np.ndarray) -> list[float]:
    """Underlying levels where a piecewise linear payoff crosses zero (linear between corners)."""
    out = []
    for i in range(len(x) - 1):
        a, b = y[i], y[i + 1]
        if a == 0:
            out.append(float(x[i]))
        elif a * b < 0:
            out.append(float(x[i] + (x[i + 1] - x[i]) * a / (a - b)))
    if len(y) and y[-1] == 0:
        out.append(float(x[-1]))
    return out


@dataclass(slots=True)
class TradeDetail:
    """What the report adds to a trades.csv row: excursions, the entry position, its margin."""

    number: int
    mae: float | None = None
    mfe: float | None = None
    mtm_time: np.ndarray | None = None
    mtm: np.ndarray | None = None
    spot: float | None = None
    entry: list[PositionLeg] | None = None
    margin: float | None = None
    payoff_x: np.ndarray | None = None
    payoff_y: np.ndarray | None = None


def _entry_legs(legs: Columns, rows: np.ndarray) -> list[PositionLeg]:
    out = []
    for r in rows.tolist():
        if not legs["at_entry"][r] or not math.isfinite(legs["entry_price"][r]):
            continue
        sign = -1 if legs["side"][r] == "SELL" else 1
        out.append(PositionLeg(OptionContract.from_id(str(legs["contract"][r])), sign * int(legs["quantity"][r]),
                               float(legs["entry_price"][r])))  # fmt: skip
    return out


def trade_details(run: RunData, model: MarginModel) -> list[TradeDetail]:
    """One per trades.csv row (number = row, 1-based). MAE/MFE come from trade_mtm.csv; margin
    and payoff from the legs the trade opened with (legs.csv) at the spot of its entry minute."""
    if run.trades is None:
        return []
    n = len(run.trades["strategy"])
    out = [TradeDetail(i + 1) for i in range(n)]
    if run.trade_mtm is not None and len(run.trade_mtm["trade"]):
        ids = run.trade_mtm["trade"]
        order = np.argsort(ids, kind="stable")
        bounds = np.searchsorted(ids[order], np.arange(1, n + 2))
        for d in out:
            rows = order[bounds[d.number - 1] : bounds[d.number]]
            if len(rows):
                d.mtm_time, d.mtm = run.trade_mtm["time"][rows], run.trade_mtm["mtm"][rows]
                d.mae, d.mfe = excursions(d.mtm.tolist())
    if run.legs is None:
        return out
    series = spot_series(run)
    for d in out:
        rows = np.flatnonzero(run.legs["trade"] == d.number)
        legs = _entry_legs(run.legs, rows)
        if not legs:
            continue
        d.entry = legs
        d.spot = spot_at(series, legs[0].contract.underlying, str(run.trades["entry_time"][d.number - 1]))
        if d.spot is None:
            continue
        on = date.fromisoformat(str(run.trades["entry_time"][d.number - 1])[:10])
        d.margin = position_margin(legs, d.spot, on, model)
        strikes = [leg.contract.strike for leg in legs]
        lo = min(d.spot * (1 - PAYOFF_SPAN), min(strikes) * 0.99)
        hi = max(d.spot * (1 + PAYOFF_SPAN), max(strikes) * 1.01)
        d.payoff_x, d.payoff_y = payoff_points(legs, lo, hi)
    return out


__all__ = [
    "WEEKDAYS", "Bucket", "TradeDetail", "breakevens", "by_days_to_expiry", "by_weekday", "charges_by_day",
    "days_to_expiry", "spot_at", "spot_series", "trade_details",
]  # fmt: skip
