"""Synthetic generator speed: a month of NIFTY minute chains (target < 30 s on 2 cores).

Run: .venv/bin/python benchmarks/bench_synthetic.py [--from 2026-01-01 --to 2026-01-31]
     [--repeats 3] [--symbol NIFTY]

Times, over --repeats fresh runs (median, min, max):
1. `generate` into a new catalog folder: the whole command path (model, quotes, IV/greeks
   from the mids, Parquet writes) with the default 30 strikes each side and 30-day horizon;
2. `SyntheticMarket.day` alone (model + IV/greeks, no writes), summed over the same days.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from optrunner.data.synthetic import SyntheticMarket, generate


def generate_once(symbol: str, start: date, end: date) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        summary = generate(symbol, start, end, seed=7, out=Path(tmp) / "cat", progress=False)
        return time.perf_counter() - began, summary.days, summary.rows


def days_in_memory(symbol: str, start: date, end: date) -> float:
    market = SyntheticMarket(symbol, 7)
    began = time.perf_counter()
    for d in market.calendar.trading_days(start, end):
        market.day(d)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbol", default="NIFTY")
    parser.add_argument("--from", dest="start", default="2026-01-01")
    parser.add_argument("--to", dest="end", default="2026-01-31")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)

    SyntheticMarket(args.symbol, 1, strikes_each_side=2).day(start)  # compile numba kernels once
    runs = [generate_once(args.symbol, start, end) for _ in range(args.repeats)]
    memory = [days_in_memory(args.symbol, start, end) for _ in range(args.repeats)]
    seconds = [r[0] for r in runs]
    days, rows = runs[0][1], runs[0][2]

    print(
        f"\n{args.symbol} {start}..{end}: {days} trading days, {rows:,} rows; repeats={args.repeats}"
    )
    print(f"{'measure':<40}{'median':>10}{'min':>9}{'max':>9}{'per day':>11}{'rows/s':>14}")
    for name, values in (
        ("generate (model + greeks + writes)", seconds),
        ("SyntheticMarket.day only", memory),
    ):
        med = statistics.median(values)
        print(f"{name:<40}{med:>9.2f}s{min(values):>8.2f}s{max(values):>8.2f}s"
              f"{med / days:>10.3f}s{rows / med:>14,.0f}")  # fmt: skip
    month = statistics.median(seconds) / days * 21  # a month has ~21 trading days
    print(f"target: a month (21 days) < 30 s: {month:.1f} s -> {'met' if month < 30 else 'MISSED'}")


if __name__ == "__main__":
    main()
