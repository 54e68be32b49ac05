"""Reconciliation cost: one ``Reconciler.run`` against the simulated exchange's books.

Rig: a kernel on the simulated exchange holding ``--positions`` open positions (one contract
each, 10 strategies), so the trade book, the order book and the position book each hold that
many rows; every call reads all three, applies nothing (the books agree) and finds nothing.
That is the steady-state cost paid every ``reconcile_seconds`` in paper/live and at each
session close; a call that finds differences adds the alerts and adjustments it records.

Target (issue 11): <= 1 ms per call for 100 positions. Prints the median and p90 over
``--calls`` calls, median of ``--repeats`` rigs (the machine is noisy).
Run: ``.venv/bin/python benchmarks/bench_reconcile.py [--positions 100]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date
from datetime import time as dtime

from optrunner.core.clock import SimClock
from optrunner.core.orders import OrderIntent
from optrunner.core.timeutil import ist
from optrunner.core.types import Right, Side, Tag
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution.brokers import SimulatedExchange
from optrunner.instruments.contracts import OptionContract
from optrunner.kernel import Kernel

EXPIRY = date(2026, 1, 13)
T0 = ist(date(2026, 1, 5), dtime(10, 0))


def rig(n: int) -> Kernel:
    contracts = [OptionContract("NIFTY", EXPIRY, 20000.0 + 50.0 * (k // 2), (Right.CE, Right.PE)[k % 2]) for k in range(n)]
    snap = ChainSnapshot.from_columns("NIFTY", T0, 25010.0, {
        "strike": [c.strike for c in contracts], "right": [c.right.value for c in contracts],
        "expiry": [EXPIRY] * n, "bid": [100.0] * n, "ask": [100.5] * n, "ltp": [100.25] * n,
    })  # fmt: skip
    clock = SimClock(T0)
    kernel = Kernel(SimulatedExchange(clock), clock, capital=1e9, log_alerts=False)
    kernel.on_chain(snap)
    for k, c in enumerate(contracts):
        kernel.router.submit(OrderIntent(f"s{k % 10}", Tag.ENTRY, c, Side.SELL if k % 3 else Side.BUY, 65))
    kernel.om.drain()
    assert len(kernel.portfolio.positions()) == n
    return kernel


def measure(n: int, calls: int) -> tuple[float, float]:
    kernel = rig(n)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        found = kernel.reconciler.run("periodic")
        times.append(time.perf_counter() - t0)
        assert not found
    times.sort()
    return statistics.median(times), times[int(0.9 * len(times))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--positions", type=int, default=100)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    runs = [measure(args.positions, args.calls) for _ in range(args.repeats)]
    med = statistics.median(m for m, _ in runs)
    p90 = statistics.median(p for _, p in runs)
    print(f"reconcile, {args.positions} positions (and as many orders and trades): "
          f"median {1000 * med:.3f} ms, p90 {1000 * p90:.3f} ms per call (target <= 1 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
