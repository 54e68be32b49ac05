"""Backtest performance metrics. Definitions are in docs/metrics.md; keep the two in step.

Returns are daily P&L over the starting capital (a strategy account does not compound
its margin intraday), annualised over 252 trading days, with a configurable risk-free
rate. Ratios that would divide by zero are reported as None, never as inf or NaN, so
``summary.json`` stays valid JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

TRADING_DAYS = 252


@dataclass(frozen=True, slots=True)
class TradeResult:
    """One round trip (flat -> flat) of a strategy, net of its charges."""

    strategy: str
    gross: float
    charges: float

    @property
    def net(self) -> float:
        return self.gross - self.charges


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 or not math.isfinite(den) or not math.isfinite(num) else num / den


def trade_stats(trades: Sequence[TradeResult]) -> dict[str, float | int | None]:
    """trades, win_rate (%), avg_win, avg_loss (<= 0), expectancy, profit_factor."""
    nets = np.array([t.net for t in trades], dtype=float)
    wins, losses = nets[nets > 0], nets[nets <= 0]
    n = len(nets)
    return {
        "trades": n,
        "win_rate": 100.0 * len(wins) / n if n else None,
        "avg_win": float(wins.mean()) if len(wins) else None,
        "avg_loss": float(losses.mean()) if len(losses) else None,
        "expectancy": float(nets.mean()) if n else None,
        "profit_factor": _ratio(float(wins.sum()), float(-losses.sum())),
    }


def drawdown(equity: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Drawdown series (rupees below the running peak), max drawdown and its % of that peak."""
    equity = np.asarray(equity, dtype=float)
    if not len(equity):
        return equity, 0.0, 0.0
    peak = np.maximum.accumulate(equity)
    dd = peak - equity
    i = int(np.argmax(dd))
    pct = 100.0 * dd[i] / peak[i] if peak[i] > 0 else 0.0
    return dd, float(dd[i]), float(pct)


def return_stats(daily_pnl: Sequence[float], capital: float, risk_free: float = 0.0) -> dict[str, float | None]:
    """sharpe, sortino (annualised, on daily returns over capital) and annual_return_pct."""
    r = np.asarray(daily_pnl, dtype=float) / capital
    if not len(r):
        return {"sharpe": None, "sortino": None, "annual_return_pct": None}
    excess = r - risk_free / TRADING_DAYS
    sd = float(excess.std(ddof=1)) if len(r) > 1 else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)))
    scale = math.sqrt(TRADING_DAYS)
    sharpe = _ratio(float(excess.mean()) * scale, sd)
    sortino = _ratio(float(excess.mean()) * scale, downside)
    return {"sharpe": sharpe, "sortino": sortino, "annual_return_pct": 100.0 * float(r.mean()) * TRADING_DAYS}


def summarise(
    *,
    start: date,
    end: date,
    capital: float,
    days: Sequence[date],
    daily_pnl: Sequence[float],
    equity: Sequence[float],
    trades: Sequence[TradeResult],
    gross_pnl: float,
    charges: float,
    risk_free: float = 0.0,
) -> dict[str, object]:
    """The headline numbers of a run (the strategy breakdowns reuse ``trade_stats``)."""
    _, max_dd, max_dd_pct = drawdown(np.asarray(equity, dtype=float))
    net = gross_pnl - charges
    rs = return_stats(daily_pnl, capital, risk_free)
    best = int(np.argmax(daily_pnl)) if len(daily_pnl) else None
    worst = int(np.argmin(daily_pnl)) if len(daily_pnl) else None
    annual = rs.pop("annual_return_pct")
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "days": len(days),
        "capital": capital,
        "gross_pnl": gross_pnl,
        "charges": charges,
        "net_pnl": net,
        "return_pct": 100.0 * net / capital,
        "annual_return_pct": annual,
        **trade_stats(trades),
        "max_drawdown": max_dd,
        "max_drawdown_pct": max_dd_pct,
        **rs,
        "calmar": _ratio(annual, max_dd_pct) if annual is not None else None,
        "best_day": {"date": days[best].isoformat(), "pnl": float(daily_pnl[best])} if best is not None else None,
        "worst_day": {"date": days[worst].isoformat(), "pnl": float(daily_pnl[worst])} if worst is not None else None,
        "risk_free_rate": risk_free,
    }


# --- trade and run diagnostics shown by the report (docs/metrics.md, "Report tables") --------


def excursions(path: Sequence[float]) -> tuple[float, float]:
    """MAE and MFE of a trade's net mark-to-market path: the lowest and highest value, where
    the trade starts flat at 0 (so MAE <= 0 <= MFE; a trade that never went red has MAE 0)."""
    return min(0.0, min(path, default=0.0)), max(0.0, max(path, default=0.0))


@dataclass(frozen=True, slots=True)
class Streaks:
    """Longest runs of consecutive wins (> 0) and losses (< 0), with what each run summed to,
    and the run in progress at the end (+n wins / -n losses / 0). A zero ends any run."""

    longest_win: int
    longest_win_sum: float
    longest_loss: int
    longest_loss_sum: float
    current: int


def streaks(values: Sequence[float]) -> Streaks:
    best = {1: (0, 0.0), -1: (0, 0.0)}
    run, total, sign = 0, 0.0, 0
    for v in values:
        s = (v > 0) - (v < 0)
        if s and s == sign:
            run, total = run + 1, total + v
        else:
            run, total, sign = (1, v, s) if s else (0, 0.0, 0)
        if sign and run > best[sign][0]:
            best[sign] = (run, total)
    return Streaks(best[1][0], best[1][1], best[-1][0], best[-1][1], sign * run)


@dataclass(frozen=True, slots=True)
class DrawdownEpisode:
    """One fall below a running peak and the climb back: indices into the equity series.
    ``recovery`` is the first index back at or above the peak, None if never recovered."""

    peak: int
    trough: int
    recovery: int | None
    depth: float
    depth_pct: float


def drawdown_episodes(equity: Sequence[float], n: int = 5) -> list[DrawdownEpisode]:
    """The ``n`` deepest drawdowns of an equity series, deepest first; episodes never overlap
    (each runs from a peak to the next time equity regains it)."""
    eq = np.asarray(equity, dtype=float)
    if not len(eq):
        return []
    peak = np.maximum.accumulate(eq)
    under = np.concatenate([[False], eq < peak, [False]]).astype(np.int8)
    starts = np.flatnonzero(np.diff(under) == 1)  # first index under water
    ends = np.flatnonzero(np.diff(under) == -1)  # first index back at the peak (may be len(eq))
    out = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        t = a + int(np.argmin(eq[a:b]))
        top = float(peak[a])
        depth = top - float(eq[t])
        out.append(DrawdownEpisode(a - 1, t, b if b < len(eq) else None, depth,
                                   100.0 * depth / top if top > 0 else 0.0))  # fmt: skip
    return sorted(out, key=lambda e: -e.depth)[:n]
