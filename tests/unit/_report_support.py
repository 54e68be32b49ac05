"""Helpers for the report tests (and benchmarks/bench_report.py): run folders written by hand in
the format the backtest writes, and a reader that turns the report's HTML tables back into text."""

from __future__ import annotations

import csv
import json
import re
from datetime import date, timedelta
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np

EQUITY_HEADER = ["time", "equity", "drawdown", "gross_pnl", "charges"]
TRADES_HEADER = ["strategy", "entry_time", "exit_time", "legs", "adjustments", "gross_pnl", "charges", "net_pnl",
                 "exit_reason"]  # fmt: skip
EVENTS_HEADER = ["time", "strategy", "tag", "contract", "side", "price", "quantity"]


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def strategy_figures(**values: Any) -> dict[str, Any]:
    """One entry of summary["strategies"]; a strategy that never traded by default."""
    base = {"net_pnl": 0.0, "gross_pnl": 0.0, "charges": 0.0, "trades": 0, "win_rate": None, "avg_win": None,
            "avg_loss": None, "expectancy": None, "profit_factor": None, "adjustments": 0}  # fmt: skip
    return base | values


def summary(**values: Any) -> dict[str, Any]:
    """A complete summary.json (docs/metrics.md fields) of a flat run, with ``values`` on top."""
    base = {
        "start": "2026-01-05", "end": "2026-01-05", "days": 1, "capital": 1_000_000.0, "gross_pnl": 0.0,
        "charges": 0.0, "net_pnl": 0.0, "return_pct": 0.0, "annual_return_pct": 0.0, "trades": 0,
        "win_rate": None, "avg_win": None, "avg_loss": None, "expectancy": None, "profit_factor": None,
        "max_drawdown": 0.0, "max_drawdown_pct": 0.0, "sharpe": None, "sortino": None, "calmar": None,
        "best_day": None, "worst_day": None, "adjustments": 0, "orders": 0, "rejected_orders": {},
        "strategies": {}, "claims": {}, "config_files": [], "data": "catalog", "risk_free_rate": 0.0,
        "generated": "2026-02-01T04:30:00+00:00",
    }  # fmt: skip
    return base | values


def write_summary(run_dir: Path, **values: Any) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "summary.json").write_text(json.dumps(summary(**values)), encoding="utf-8")


def session_minutes(d: date) -> list[str]:
    """The 375 IST minutes 09:15..15:29 of a trading day as the recorder writes them."""
    return [f"{d}T{(555 + m) // 60:02d}:{(555 + m) % 60:02d}:00+05:30" for m in range(375)]


def weekdays(start: date, n: int) -> list[date]:
    out, d = [], start
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(1)
    return out


# The hand-made run: three trading days over a month end, two strategies that traded and one
# that never did. Capital ₹10,00,000; daily P&L -10,000, +1,00,000, +33,456.78, so net P&L is
# ₹1,23,456.78 and the trades below add up to the same (gross 1,29,000 - charges 5,543.22).
SMALL_DAYS = [date(2026, 1, 30), date(2026, 2, 2), date(2026, 2, 3)]  # Fri, Mon, Tue
SMALL_DAILY = [-10_000.0, 100_000.0, 33_456.78]
SMALL_TRADES = [
    ["dnss", "2026-01-30T09:20:00+05:30", "2026-01-30T15:20:00+05:30",
     "NIFTY:20260203:25000:CE NIFTY:20260203:25000:PE", 0, -9_000.0, 1_000.0, -10_000.0, "STOP_LOSS"],
    ["dnss", "2026-02-02T09:30:00+05:30", "2026-02-02T15:15:00+05:30",
     "NIFTY:20260203:25100:CE NIFTY:20260203:24900:PE", 0, 101_000.0, 1_000.0, 100_000.0, "EXIT"],
    ["zones", "2026-02-03T10:00:00+05:30", "2026-02-03T14:00:00+05:30",
     "BANKNIFTY:20260224:57000:PE BANKNIFTY:20260224:56500:PE", 1, 37_000.0, 3_543.22, 33_456.78, "TARGET"],
]  # fmt: skip
# Spot is base + the minute's position in the run (0 = 30 Jan 09:15), so a mark's spot is known.
SPOT_BASE = {"NIFTY": 25_000.0, "BANKNIFTY": 55_000.0}
SMALL_EVENTS = [
    ["2026-01-30T09:20:30+05:30", "dnss", "ENTRY", "NIFTY:20260203:25000:CE", "SELL", 120.5, 65],  # spot 25,005
    ["2026-01-30T15:20:00+05:30", "dnss", "EXIT", "NIFTY:20260203:25000:CE", "BUY", 80.25, 65],
    ["2026-02-02T09:30:00+05:30", "dnss", "ENTRY", "NIFTY:20260203:25100:CE", "SELL", 99.0, 65],
    ["2026-02-02T15:15:00+05:30", "dnss", "EXIT", "NIFTY:20260203:25100:CE", "BUY", "", 65],  # unpriced
    ["2026-02-03T10:00:00+05:30", "zones", "ENTRY", "BANKNIFTY:20260224:57000:PE", "SELL", 310.0, 30],
    ["2026-02-03T05:30:00+00:00", "zones", "ADJUST_EXIT", "BANKNIFTY:20260224:57000:PE", "BUY", 350.0, 30],  # 11:00 IST
    ["2026-02-03T11:00:00+05:30", "zones", "ADJUST_ENTRY", "BANKNIFTY:20260224:56500:PE", "SELL", 1_234.5, 30],
    ["2026-02-03T14:00:00+05:30", "zones", "EXIT", "BANKNIFTY:20260224:56500:PE", "BUY", 200.0, 30],
]  # fmt: skip
# Legs, fills, MTM paths and the adjustment log of the three trades, adding up to the trades above:
# trade 1 gross 3,000 - 12,000 = -9,000; trade 2 50,500 + 50,500 = 1,01,000; trade 3 -2,000 + 39,000 = 37,000.
LEGS_HEADER = ["trade", "strategy", "contract", "side", "quantity", "entry_time", "entry_price", "exit_time",
               "exit_price", "exit", "gross_pnl", "charges", "net_pnl", "at_entry"]  # fmt: skip
SMALL_LEGS = [  # trade, strategy, contract, side, qty, entry, exit, exit tag, gross, charges, opened at entry
    (1, "dnss", "NIFTY:20260203:25000:CE", "SELL", 75, ("2026-01-30T09:20:00+05:30", 120.0),
     ("2026-01-30T15:20:00+05:30", 80.0), "EXIT", 3_000.0, 500.0, 1),
    (1, "dnss", "NIFTY:20260203:25000:PE", "SELL", 75, ("2026-01-30T09:20:00+05:30", 100.0),
     ("2026-01-30T15:20:00+05:30", 260.0), "EXIT", -12_000.0, 500.0, 1),
    (2, "dnss", "NIFTY:20260203:25100:CE", "SELL", 100, ("2026-02-02T09:30:00+05:30", 700.0),
     ("2026-02-02T15:15:00+05:30", 195.0), "EXIT", 50_500.0, 500.0, 1),
    (2, "dnss", "NIFTY:20260203:24900:PE", "SELL", 100, ("2026-02-02T09:30:00+05:30", 600.0),
     ("2026-02-02T15:15:00+05:30", 95.0), "EXIT", 50_500.0, 500.0, 1),
    (3, "zones", "BANKNIFTY:20260224:57000:PE", "SELL", 50, ("2026-02-03T10:00:00+05:30", 310.0),
     ("2026-02-03T11:00:00+05:30", 350.0), "ADJUST_EXIT", -2_000.0, 1_500.0, 1),
    (3, "zones", "BANKNIFTY:20260224:56500:PE", "SELL", 50, ("2026-02-03T11:00:00+05:30", 1_000.0),
     ("2026-02-03T14:00:00+05:30", 220.0), "EXIT", 39_000.0, 2_043.22, 0),
]  # fmt: skip
FILLS_HEADER = ["time", "fill_id", "client_id", "strategy", "tag", "contract", "side", "quantity", "price",
                "settlement", "brokerage", "stt", "exchange", "sebi", "stamp", "ipft", "gst", "charges"]  # fmt: skip
# Each fill pays half its leg's charges: brokerage 20, exchange 10, SEBI 0.01, stamp 0.50 (buys), IPFT 0.04,
# GST 5.4018, STT the rest. Per day: 1,000.00 (30 Jan), 1,000.00 (2 Feb), 3,543.22 (3 Feb).
SMALL_MTM = {1: [("2026-01-30T09:20:00+05:30", -1_000.0), ("2026-01-30T10:00:00+05:30", 500.0),
                 ("2026-01-30T12:00:00+05:30", -12_000.0), ("2026-01-30T15:20:00+05:30", -10_000.0)],
             2: [("2026-02-02T09:30:00+05:30", -1_000.0), ("2026-02-02T12:00:00+05:30", 110_000.0),
                 ("2026-02-02T15:15:00+05:30", 100_000.0)],
             3: [("2026-02-03T10:00:00+05:30", -3_000.0), ("2026-02-03T11:00:00+05:30", 36_000.0),
                 ("2026-02-03T14:00:00+05:30", 33_456.78)]}  # fmt: skip
ADJUSTMENTS_HEADER = ["time", "strategy", "trade", "trigger", "delta_before", "delta_after", "closed", "opened"]
SMALL_ADJUSTMENTS = [["2026-02-03T11:00:00+05:30", "zones", 3, "DELTA_DRIFT", -150.5, 3.25,
                      "BANKNIFTY:20260224:57000:PE", "BANKNIFTY:20260224:56500:PE"]]  # fmt: skip


def _fill(time: str, strategy: str, tag: str, contract: str, side: str, qty: int, price: float, charges: float) -> list:
    stamp = 0.5 if side == "BUY" else 0.0
    parts = {"brokerage": 20.0, "exchange": 10.0, "sebi": 0.01, "stamp": stamp, "ipft": 0.04, "gst": 5.4018}
    stt = round(charges - sum(parts.values()), 4)
    return [time, "f", "c", strategy, tag, contract, side, qty, price, False, 20.0, stt, 10.0, 0.01, stamp, 0.04,
            5.4018, charges]  # fmt: skip


def write_trade_detail(run_dir: Path) -> None:
    """legs.csv, fills.csv, trade_mtm.csv and adjustments.csv of the hand-made run."""
    legs, fills = [], []
    for trade, strategy, contract, side, qty, (t0, p0), (t1, p1), tag, gross, charges, at_entry in SMALL_LEGS:
        legs.append([trade, strategy, contract, side, qty, t0, p0, t1, p1, tag, gross, charges, gross - charges,
                     at_entry])  # fmt: skip
        back = "BUY" if side == "SELL" else "SELL"
        fills.append(_fill(t0, strategy, "ENTRY" if at_entry else "ADJUST_ENTRY", contract, side, qty, p0, charges / 2))
        fills.append(_fill(t1, strategy, tag, contract, back, qty, p1, charges / 2))
    write_csv(run_dir / "legs.csv", LEGS_HEADER, legs)
    write_csv(run_dir / "fills.csv", FILLS_HEADER, sorted(fills, key=lambda r: r[0]))
    write_csv(run_dir / "trade_mtm.csv", ["trade", "time", "mtm"],
              [[k, t, v] for k, path in SMALL_MTM.items() for t, v in path])  # fmt: skip
    write_csv(run_dir / "adjustments.csv", ADJUSTMENTS_HEADER, SMALL_ADJUSTMENTS)


SMALL_SUMMARY = {
    "start": "2026-01-30", "end": "2026-02-03", "days": 3, "capital": 1_000_000.0, "gross_pnl": 129_000.0,
    "charges": 5_543.22, "net_pnl": 123_456.78, "return_pct": 12.345678, "annual_return_pct": 1036.0,
    "trades": 3, "win_rate": 200 / 3, "avg_win": 66_728.39, "avg_loss": -10_000.0, "expectancy": 41_152.26,
    "profit_factor": 13.345678, "max_drawdown": 12_345.5, "max_drawdown_pct": 1.2345, "sharpe": None,
    "sortino": 5.1234, "calmar": None, "best_day": {"date": "2026-02-02", "pnl": 100_000.0},
    "worst_day": {"date": "2026-01-30", "pnl": -10_000.0}, "adjustments": 1, "orders": 14,
    "rejected_orders": {"MARGIN": 2, "FREEZE_QTY": 5},
    "strategies": {
        "dnss": strategy_figures(net_pnl=90_000.0, gross_pnl=92_000.0, charges=2_000.0, trades=2, win_rate=50.0,
                                 avg_win=100_000.0, avg_loss=-10_000.0, expectancy=45_000.0, profit_factor=10.0),
        "zones": strategy_figures(net_pnl=33_456.78, gross_pnl=37_000.0, charges=3_543.22, trades=1, win_rate=100.0,
                                  avg_win=33_456.78, expectancy=33_456.78, adjustments=1),
        "idle": strategy_figures(),
    },
    "claims": {"dnss": {"backtest_win_rate": 72.5, "backtest_avg_profit": 4_500, "backtest_avg_loss": 1_800,
                        "backtest_dates": "2025-01-01 to 2025-12-31"}},
    "config_files": ["strategies/dnss.json", "strategies/zones.json"], "data": "data/catalog",
}  # fmt: skip


def small_run(run_dir: Path, **summary_values: Any) -> Path:
    """The hand-made run above, written as the backtest writes a run folder."""
    run_dir.mkdir(parents=True, exist_ok=True)
    times = [t for d in SMALL_DAYS for t in session_minutes(d)]
    closes = 1_000_000.0 + np.cumsum(SMALL_DAILY)
    opens = np.concatenate([[1_000_000.0], closes[:-1]])
    # Each day moves in a straight line from the previous close to its own close.
    equity = np.concatenate([np.linspace(o, c, 375) for o, c in zip(opens, closes, strict=True)])
    dd = np.maximum.accumulate(equity) - equity
    write_csv(run_dir / "equity.csv", EQUITY_HEADER,
              [[t, round(e, 4), round(x, 4), 0, 0] for t, e, x in zip(times, equity, dd, strict=True)])  # fmt: skip
    write_csv(run_dir / "daily.csv", ["date", "pnl", "equity"],
              [[str(d), p, c] for d, p, c in zip(SMALL_DAYS, SMALL_DAILY, closes, strict=True)])  # fmt: skip
    write_csv(run_dir / "spot.csv", ["time", "symbol", "spot"],
              [[t, s, base + k] for k, t in enumerate(times) for s, base in SPOT_BASE.items()])  # fmt: skip
    write_csv(run_dir / "trades.csv", TRADES_HEADER, SMALL_TRADES)
    write_csv(run_dir / "events.csv", EVENTS_HEADER, SMALL_EVENTS)
    write_trade_detail(run_dir)
    (run_dir / "summary.json").write_text(json.dumps(summary(**(SMALL_SUMMARY | summary_values))), encoding="utf-8")
    return run_dir


def year_run(run_dir: Path, days: int = 250, symbols: tuple[str, ...] = ("NIFTY", "BANKNIFTY"),
             trades: int = 500, seed: int = 7) -> Path:  # fmt: skip
    """A year-sized run folder: a minute equity curve (~94k rows), spot per symbol, daily P&L,
    ``trades`` trades with four order marks each. Random but seeded."""
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    capital = 1_000_000.0
    sessions = weekdays(date(2026, 1, 1), days)
    times = [t for d in sessions for t in session_minutes(d)]
    equity = capital + np.cumsum(rng.normal(0, 150, len(times)))
    dd = np.maximum.accumulate(equity) - equity
    write_csv(run_dir / "equity.csv", EQUITY_HEADER,
              [[t, round(e, 2), round(x, 2), 0, 0] for t, e, x in zip(times, equity, dd, strict=True)])  # fmt: skip
    closes = equity[374::375]
    pnl = np.diff(closes, prepend=capital)
    write_csv(run_dir / "daily.csv", ["date", "pnl", "equity"],
              [[str(d), round(p, 2), round(e, 2)] for d, p, e in zip(sessions, pnl, closes, strict=True)])  # fmt: skip
    levels = {s: 25_000.0 * (k + 1) + np.cumsum(rng.normal(0, 4, len(times))) for k, s in enumerate(symbols)}
    write_csv(run_dir / "spot.csv", ["time", "symbol", "spot"],
              [[t, s, round(levels[s][i], 2)] for i, t in enumerate(times) for s in symbols])  # fmt: skip
    trade_rows, event_rows, starts = [], [], []
    for k in range(trades):
        s, i = symbols[k % len(symbols)], int(rng.integers(0, len(times) - 200))
        legs = [f"{s}:20261229:{25_000 * (1 + symbols.index(s)) + 100 * j}:{'CE' if j % 2 else 'PE'}" for j in range(3)]
        net = round(float(rng.normal(500, 3000)), 2)
        trade_rows.append(["dnss" if k % 2 else "zones", times[i], times[i + 150], " ".join(legs), 1, net + 80, 80,
                           net, "EXIT"])  # fmt: skip
        for tag, at, leg, side in (("ENTRY", i, 0, "SELL"), ("ADJUST_EXIT", i + 60, 0, "BUY"),
                                   ("ADJUST_ENTRY", i + 60, 2, "SELL"), ("EXIT", i + 150, 2, "BUY")):  # fmt: skip
            event_rows.append([times[at], trade_rows[-1][0], tag, legs[leg], side, 101.5, 75])
        starts.append(i)
    order = sorted(range(trades), key=lambda k: trade_rows[k][1])
    write_csv(run_dir / "trades.csv", TRADES_HEADER, [trade_rows[k] for k in order])
    # Each trade's minute MTM path (151 points) and its three legs (two opened at entry), numbered by row.
    mtm_rows, leg_rows = [], []
    for n, k in enumerate(order, start=1):
        i, row = starts[k], trade_rows[k]
        path = np.cumsum(rng.normal(0, 60, 151))
        mtm_rows += [[n, times[i + m], round(float(v), 2)] for m, v in enumerate(path)]
        for j, contract in enumerate(row[3].split()):
            leg_rows.append([n, row[0], contract, "SELL", 75, times[i], 101.5, times[i + 150], 90.0, "EXIT",
                             862.5, 40.0, 822.5, int(j < 2)])  # fmt: skip
    write_csv(run_dir / "trade_mtm.csv", ["trade", "time", "mtm"], mtm_rows)
    write_csv(run_dir / "legs.csv", LEGS_HEADER, leg_rows)
    write_csv(run_dir / "events.csv", EVENTS_HEADER, sorted(event_rows, key=lambda r: r[0]))
    write_summary(run_dir, start=str(sessions[0]), end=str(sessions[-1]), days=days, capital=capital,
                  net_pnl=float(closes[-1] - capital), trades=trades,
                  strategies={"dnss": strategy_figures(trades=trades // 2), "zones": strategy_figures(trades=trades // 2)})  # fmt: skip
    return run_dir


def cards(html: str) -> dict[str, str]:
    """Headline cards: label -> value text."""
    found = re.findall(r'<div class="label">([^<]*)</div><div class="value[^"]*">([^<]*)</div>', html)
    return {unescape(label): unescape(value) for label, value in found}


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(html: str) -> list[list[list[str]]]:
    """Every table in the page as rows of cell text (header row first)."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def table_with(html: str, *headings: str) -> list[list[str]]:
    """The one table whose header row starts with ``headings``."""
    found = [t for t in html_tables(html) if t and t[0][: len(headings)] == list(headings)]
    assert len(found) == 1, f"{len(found)} tables headed {headings!r}"
    return found[0]
