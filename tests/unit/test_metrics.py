"""Backtest metrics against numbers worked out by hand (and the stdlib's statistics)."""

import math
import statistics
from datetime import date

import pytest

from optrunner.backtest.metrics import TradeResult, drawdown, return_stats, summarise, trade_stats

DAYS = [date(2026, 11, d) for d in (2, 3, 4, 5)]
DAILY = [100.0, -50.0, 200.0, -100.0]
CAPITAL = 10_000.0


def test_trade_stats_by_hand():
    trades = [TradeResult("S", 320, 20), TradeResult("S", -80, 20), TradeResult("S", 70, 20), TradeResult("S", -30, 20)]
    s = trade_stats(trades)  # nets 300, -100, 50, -50
    assert s == {"trades": 4, "win_rate": 50.0, "avg_win": 175.0, "avg_loss": -75.0, "expectancy": 50.0,
                 "profit_factor": pytest.approx(350 / 150)}  # fmt: skip


def test_profit_factor_without_losses_is_none_not_inf():
    assert trade_stats([TradeResult("S", 10, 0)])["profit_factor"] is None
    assert trade_stats([])["trades"] == 0


def test_drawdown_in_rupees_and_percent_of_the_peak():
    dd, mx, pct = drawdown([10_000, 10_100, 10_050, 10_250, 10_150])
    assert list(dd) == [0, 0, 50, 0, 100]
    assert mx == 100 and pct == pytest.approx(100 * 100 / 10_250)


def test_sharpe_and_sortino_on_daily_returns_over_capital():
    r = [p / CAPITAL for p in DAILY]
    expected_sharpe = statistics.mean(r) / statistics.stdev(r) * math.sqrt(252)
    downside = math.sqrt(sum(min(x, 0) ** 2 for x in r) / len(r))
    expected_sortino = statistics.mean(r) / downside * math.sqrt(252)
    got = return_stats(DAILY, CAPITAL)
    assert got["sharpe"] == pytest.approx(expected_sharpe, rel=1e-12)
    assert got["sortino"] == pytest.approx(expected_sortino, rel=1e-12)
    assert got["sharpe"] == pytest.approx(4.3234, abs=1e-4)  # worked by hand


def test_risk_free_rate_lowers_sharpe():
    assert return_stats(DAILY, CAPITAL, 0.065)["sharpe"] < return_stats(DAILY, CAPITAL, 0.0)["sharpe"]


def test_summary_headline_numbers():
    s = summarise(
        start=DAYS[0], end=DAYS[-1], capital=CAPITAL, days=DAYS, daily_pnl=DAILY,
        equity=[10_000, 10_100, 10_050, 10_250, 10_150], trades=[TradeResult("S", 170, 20)],
        gross_pnl=170.0, charges=20.0,
    )  # fmt: skip
    assert s["net_pnl"] == 150.0 and s["return_pct"] == pytest.approx(1.5)
    assert s["days"] == 4
    assert s["best_day"] == {"date": "2026-11-04", "pnl": 200.0}
    assert s["worst_day"] == {"date": "2026-11-05", "pnl": -100.0}
    assert s["annual_return_pct"] == pytest.approx(0.00375 * 252 * 100)
    assert s["calmar"] == pytest.approx(94.5 / (100 * 100 / 10_250))


def test_single_flat_day_gives_none_ratios():
    s = return_stats([0.0], CAPITAL)
    assert s["sharpe"] is None and s["sortino"] is None
