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
