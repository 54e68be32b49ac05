"""Portfolio hot paths: mark(snapshot) per minute snapshot, apply_fill, summary, state.

A backtest marks the portfolio once per chain snapshot (~375 per day, ~94k per year), so
``mark`` must stay O(open legs x log rows). This prints medians of several repeats (the
machine is noisy) and ratios that show how mark scales with legs and with chain size.

Run: .venv/bin/python benchmarks/bench_portfolio.py
"""

from __future__ import annotations

import statistics
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime

import numpy as np

from optrunner.core.orders import ChargeBreakdown, Fill
from optrunner.core.timeutil import ist
from optrunner.core.types import Right, Side, Tag
from optrunner.data.snapshot import ChainSnapshot
from optrunner.instruments.contracts import OptionContract
from optrunner.portfolio import ChargeSchedule, Portfolio

DAY = date(2026, 11, 2)
EXPIRIES = [date(2026, 11, 10), date(2026, 11, 17), date(2026, 11, 23), date(2026, 11, 30)]
REPEATS = 7


def make_chain(strikes_per_expiry: int, n_expiries: int, ts: datetime) -> ChainSnapshot:
    strikes = 25500.0 + 50.0 * (np.arange(strikes_per_expiry) - strikes_per_expiry // 2)
    exp = np.repeat(np.array(EXPIRIES[:n_expiries], dtype="datetime64[D]"), 2 * strikes_per_expiry)
    k = np.tile(np.concatenate([strikes, strikes]), n_expiries)
    is_call = np.tile(np.repeat([True, False], strikes_per_expiry), n_expiries)
    n = len(k)
    rng = np.random.default_rng(7)
    ltp = rng.uniform(1, 300, n)
    cols = {
        "expiry": exp, "strike": k, "is_call": is_call, "ltp": ltp, "bid": ltp - 0.5, "ask": ltp + 0.5,
        "delta": np.where(is_call, 0.4, -0.4), "gamma": np.full(n, 0.0002),
        "vega": np.full(n, 10.0), "theta": np.full(n, -6.0),
    }  # fmt: skip
    return ChainSnapshot.from_columns("NIFTY", ts, 25500.0, cols)


def open_legs(pf: Portfolio, legs: int) -> None:
    for i in range(legs):
        right = Right.CE if i % 2 == 0 else Right.PE
        strike = 25500.0 + (1 if right is Right.CE else -1) * 50.0 * (1 + i // 2)
        c = OptionContract("NIFTY", EXPIRIES[i % 2], strike, right)
        pf.apply_fill(
            Fill(f"f{i}", f"c{i}", f"s{i % 3}", Tag.ENTRY, c, Side.SELL, 65, 100.0, ist(DAY, dtime(9, 20)),
                 ChargeBreakdown(brokerage=20.0))
        )  # fmt: skip


def median_us(fn, number: int) -> float:
    runs = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - t0) / number * 1e6)
    return statistics.median(runs)


def main() -> None:
    ts = ist(DAY, dtime(10, 0))
    rows: list[tuple[str, str, float, float]] = []

    base = None
    for legs in (4, 8, 16):
        pf = Portfolio(1_000_000)
        open_legs(pf, legs)
        snap = make_chain(100, 4, ts)
        us = median_us(lambda pf=pf, snap=snap: pf.mark(snap), 2000)
        base = base or us
        rows.append(("mark: legs (chain 800 rows)", str(legs), us, us / base))

    base = None
    for strikes in (25, 100, 500):
        pf = Portfolio(1_000_000)
        open_legs(pf, 8)
        snap = make_chain(strikes, 4, ts)
        us = median_us(lambda pf=pf, snap=snap: pf.mark(snap), 2000)
        base = base or us
        rows.append(("mark: chain rows (8 legs)", str(len(snap)), us, us / base))

    pf = Portfolio(1_000_000)
    open_legs(pf, 8)
    pf.mark(make_chain(100, 4, ts))
    c = OptionContract("NIFTY", EXPIRIES[0], 25600.0, Right.CE)
    buy = Fill("b", "b", "s0", Tag.EXIT, c, Side.BUY, 65, 90.0, ts, ChargeBreakdown(brokerage=20.0))
    sell = Fill(
        "s", "s", "s0", Tag.ENTRY, c, Side.SELL, 65, 95.0, ts, ChargeBreakdown(brokerage=20.0)
    )

    def round_trip_fill() -> None:
        pf.apply_fill(buy)
        pf.apply_fill(sell)

    sched = ChargeSchedule.load()
    other = [
        ("apply_fill (8 open legs)", "1", median_us(round_trip_fill, 2000) / 2),
        ("summary() account (8 legs)", "1", median_us(pf.summary, 2000)),
        ("summary(strategy) (8 legs)", "1", median_us(lambda: pf.summary("s0"), 2000)),
        ("to_state (8 legs)", "1", median_us(pf.to_state, 500)),
        ("from_state (8 legs)", "1", median_us(lambda: Portfolio.from_state(pf.to_state()), 500)),
        ("charges_for_fill", "1", median_us(
            lambda: sched.charges_for_fill("NSE", Side.SELL, 65, 100.0, DAY, first_fill_of_order=True), 5000)),
    ]  # fmt: skip
    rows += [(name, n, us, float("nan")) for name, n, us in other]

    year = 375 * 250 * timedelta(microseconds=rows[1][2])
    print(f"{'operation':<32}{'size':>8}{'median µs':>12}{'ratio':>8}")
    for name, size, us, ratio in rows:
        print(f"{name:<32}{size:>8}{us:>12.1f}{'' if ratio != ratio else f'{ratio:>8.2f}'}")
    print(
        f"\nmark with 8 legs over a year of minute snapshots (93,750): {year.total_seconds():.2f} s"
    )


if __name__ == "__main__":
    main()
