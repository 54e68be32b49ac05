"""weekly_zones and momentum_buyer: per-event costs and a synthetic year side by side with DNSS.

    .venv/bin/python benchmarks/bench_strategies.py [--data data/bench_year] [--repeats 3] [--no-year]

Targets (issue 13): weekly-zone signal evaluation <= 20 us per closed hourly bar; chain
analysis of an 80-strike chain <= 100 us; each strategy's year backtest <= 1.5x the DNSS
time on the same data. Year runs are fresh subprocesses, interleaved (DNSS, weekly zones,
momentum buyer, DNSS, ...) so a busy machine slows them alike; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
CONFIGS = {
    "dnss": ROOT / "examples" / "configs" / "NIFTY_DNSS.json",
    "weekly_zones": ROOT / "examples" / "configs" / "NIFTY_WEEKLY_ZONES.json",
    "momentum_buyer": ROOT / "examples" / "configs" / "NIFTY_MOMENTUM_BUYER.json",
}

CHILD = r"""
import json, sys, time
from pathlib import Path
from optrunner.backtest.engine import BacktestSpec, run_backtest
from optrunner.config import load_config_file
cfg = load_config_file(sys.argv[1])
t = time.perf_counter()
r = run_backtest(BacktestSpec([cfg], Path(sys.argv[2])))
wall = time.perf_counter() - t
own = r.summary["strategies"][cfg.name].get("metrics", {})
print(json.dumps({"wall": wall, "trades": r.summary["trades"], "orders": r.summary["orders"],
                  "signals": own.get("signals")}))
"""


def _median_us(fn, n: int, repeats: int = 5) -> float:
    """Median over ``repeats`` of the mean time of ``n`` calls, in microseconds."""
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(runs)


def bench_signal_evaluation() -> float:
    """µs per closed hourly bar through WeeklyZones.on_bar (context tracker + S1-S8), a year of bars."""
    from optrunner.core.events import BarEvent
    from optrunner.core.timeutil import IST
    from optrunner.instruments import calendar_for
    from optrunner.strategies.weekly_context import WeeklyContextTracker
    from optrunner.strategies.weekly_signals import SignalEvaluator

    rnd = random.Random(3)
    bars, price = [], 25_000.0
    for d in calendar_for("NIFTY").trading_days(date(2026, 1, 1), date(2026, 12, 31)):
        for n in range(7):
            start = datetime(d.year, d.month, d.day, 9, 15, tzinfo=IST) + timedelta(hours=n)
            o = price
            price += rnd.gauss(0, 40)
            bars.append(BarEvent("NIFTY", "1h", start, start + timedelta(hours=1), o, max(o, price) + 10,
                                 min(o, price) - 10, price))  # fmt: skip
            if n in (3, 6):
                bars.append(BarEvent("NIFTY", "4h", start, start + timedelta(hours=1), o, o + 50, o - 50, price))
    hourly = sum(1 for b in bars if b.timeframe == "1h")

    def year() -> None:
        tracker, signals = WeeklyContextTracker(), SignalEvaluator()
        for b in bars:
            if tracker.on_bar(b):
                signals.new_week()
            if b.timeframe == "1h":
                signals.on_hour(b, tracker.context)

    return _median_us(year, 1) / hourly


def bench_chain_analysis() -> float:
    """µs per ChainAnalyzer.candidates on an 80-strike, two-expiry NIFTY chain."""
    import numpy as np

    from optrunner.config.kinds import MomentumBuyerSection
    from optrunner.core.timeutil import IST
    from optrunner.core.types import Right
    from optrunner.data.snapshot import ChainSnapshot
    from optrunner.strategies.chain_analyzer import ChainAnalyzer

    spot, strikes = 25_010.0, np.arange(23_000.0, 27_000.0, 50.0)  # 80 strikes
    rows = []
    for expiry in (date(2026, 11, 17), date(2026, 11, 24)):
        for k in strikes:
            for right in ("CE", "PE"):
                m = (spot - k) if right == "CE" else (k - spot)
                ltp = max(80.0 + m * 0.5, 1.0)
                delta = min(max(0.5 + m / 800.0, 0.01), 0.99) * (1 if right == "CE" else -1)
                rows.append(dict(strike=k, expiry=expiry, option_type=right, ltp=ltp, bid=ltp - 0.3, ask=ltp + 0.3,
                                 oi=6e5, volume=1e5, delta=delta, iv=0.14))  # fmt: skip
    snap = ChainSnapshot.from_quotes("NIFTY", datetime(2026, 11, 16, 10, 0, tzinfo=IST), spot, rows)
    assert len(snap) == 320
    analyzer = ChainAnalyzer(MomentumBuyerSection(premium_max=200.0), "NIFTY")
    now = datetime(2026, 11, 16, 10, 0).time()
    assert analyzer.candidates(snap, date(2026, 11, 17), Right.CE, now)
    return _median_us(lambda: analyzer.candidates(snap, date(2026, 11, 17), Right.CE, now), 2000)


def year_runs(data: Path, repeats: int) -> dict[str, list[dict]]:
    from bench_backtest import ensure_year

    ensure_year(data)
    out: dict[str, list[dict]] = {k: [] for k in CONFIGS}
    for _ in range(repeats):
        for kind, cfg in CONFIGS.items():
            done = subprocess.run([sys.executable, "-c", CHILD, str(cfg), str(data)], check=True,
                                  capture_output=True, text=True)  # fmt: skip
            out[kind].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "bench_year")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-year", action="store_true", help="only the per-event costs")
    args = ap.parse_args()
    ev = bench_signal_evaluation()
    ca = bench_chain_analysis()
    print(f"weekly-zone signal evaluation: {ev:6.2f} us per closed hourly bar  (target <= 20)")
    print(f"chain analysis, 80 strikes:    {ca:6.2f} us per call             (target <= 100)")
    if args.no_year:
        return
    runs = year_runs(args.data, args.repeats)
    base = statistics.median(r["wall"] for r in runs["dnss"])
    print(f"\nsynthetic year ({args.data}), median of {args.repeats} interleaved runs:")
    for kind, rs in runs.items():
        wall = statistics.median(r["wall"] for r in rs)
        last = rs[-1]
        print(f"  {kind:15s} {wall:7.2f} s  x{wall / base:4.2f} DNSS  trades {last['trades']:5d}  "
              f"orders {last['orders']:5d}" + (f"  signals {last['signals']}" if isinstance(last["signals"], dict) else ""))  # fmt: skip


if __name__ == "__main__":
    main()
