"""Option lookup latency on a 250-row chain (125 strikes x CE/PE), target < 20 us per call.

Run: .venv/bin/python benchmarks/bench_lookup.py [--repeats 7]
Each case is timed in batches (timeit); the table shows the median over repeats of the
per-call time, and its ratio to a seed-style Python loop over row dicts doing the same
nearest-|delta| search (what the old find_option did after loading the rows).
"""

from __future__ import annotations

import argparse
import math
import statistics
import timeit
from collections.abc import Callable
from datetime import date, datetime

from optrunner.core.timeutil import IST
from optrunner.data.snapshot import ChainSnapshot
from optrunner.market import (
    find_option,
    find_option_by_criteria,
    find_option_by_premium,
    find_options,
    option_at_offset,
)

TARGET_US = 20.0


def build_chain(n_strikes: int = 125) -> ChainSnapshot:
    """A NIFTY weekly strip around 25,000 with a logistic delta profile, quotes and OI."""
    rows = []
    for i in range(n_strikes):
        k = 25_000 + 50 * (i - n_strikes // 2)
        call = 1.0 / (1.0 + math.exp((k - 25_000) / 300.0))
        for right, delta in (("CE", call), ("PE", call - 1.0)):
            ltp = max(1.0, 200.0 * abs(delta))
            rows.append(dict(strike=k, expiry=date(2026, 1, 13), option_type=right, delta=delta,
                             ltp=ltp, bid=ltp - 0.5, ask=ltp + 0.5, oi=50_000.0 + i, iv=0.14,
                             gamma=0.0004, theta=-9.0, vega=12.0, future=25_010.0))  # fmt: skip
    return ChainSnapshot.from_quotes(
        "NIFTY", datetime(2026, 1, 6, 10, 30, tzinfo=IST), 25_000.0, rows
    )


def python_loop(rows: list[dict], target: float, right: str) -> dict | None:
    """The seed's approach: a Python scan over row dicts (with the |delta| fix)."""
    best, best_d = None, math.inf
    for r in rows:
        if r["option_type"] != right or not r["ltp"] > 0:
            continue
        d = abs(abs(r["delta"]) - target)
        if d < best_d:
            best, best_d = r, d
    return best


def per_call_us(fn: Callable[[], object], repeats: int) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return statistics.median(t / number * 1e6 for t in timer.repeat(repeats, number))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    chain = build_chain()
    rows = chain.to_rows()
    now = chain.ts
    cases: list[tuple[str, Callable[[], object]]] = [
        ("python loop over row dicts (reference)", lambda: python_loop(rows, 0.30, "PE")),
        ("chain.quote(i) alone (build one OptionQuote)", lambda: chain.quote(60)),
        ("find_option delta 0.30 PE", lambda: find_option(chain, "delta", 0.30, "PE")),
        ("find_option + all filters, expiry=weekly",
         lambda: find_option(chain, "delta", 0.30, "PE", expiry="weekly", max_spread_pct=5.0,
                             min_oi=1_000, max_age_seconds=120, now=now)),
        ("find_option iv 0.14 (tie: every row)", lambda: find_option(chain, "iv", 0.14, "CE")),
        ("find_options limit=5", lambda: find_options(chain, "delta", 0.30, "PE", limit=5)),
        ("find_option_by_criteria delta+ltp",
         lambda: find_option_by_criteria(chain, {"delta": 0.3, "ltp": 60.0}, {"delta": 100.0}, "PE")),
        ("option_at_offset CE +4", lambda: option_at_offset(chain, "CE", 4)),
        ("find_option_by_premium 50 PE", lambda: find_option_by_premium(chain, 50.0, "PE")),
    ]  # fmt: skip
    assert len(chain) == 250
    assert (
        python_loop(rows, 0.30, "PE")["strike"]
        == find_option(chain, "delta", 0.30, "PE").contract.strike
    )
    results = [(name, per_call_us(fn, args.repeats)) for name, fn in cases]
    base = results[0][1]
    print(
        f"Option lookup on a {len(chain)}-row chain; median of {args.repeats} repeats; target < {TARGET_US:g} us"
    )
    print(f"{'case':<44} {'us/call':>9} {'vs loop':>8}  target")
    for name, us in results:
        verdict = (
            "" if name.startswith(("python", "chain")) else ("ok" if us < TARGET_US else "SLOW")
        )
        print(f"{name:<44} {us:>9.2f} {base / us:>7.1f}x  {verdict}")


if __name__ == "__main__":
    main()
