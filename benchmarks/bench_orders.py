"""Order round trips through the order manager and the simulated exchange.

Measures, per journal (NullJournal baseline, MemoryJournal, and the real SQLite store when
``optrunner.store`` is importable):

* throughput: intents -> simulated fills per second, with intents placed in groups of
  ``group`` (1000, 100, 1) per kernel tick (one journal group commit per group, as the kernel does), and
  one at a time (a commit before every request);
* latency: intent -> acknowledgement for single intents (place, then drain until the ACK is
  published to listeners), p50 / p99.

Every run is made inside ``session_collector()``, the garbage-collector setting the backtest
engine and the trading node run their sessions with (optrunner/core/collector.py); the
SQLite store is measured once more under CPython's default setting, for comparison.

Targets (brief): >= 20,000 orders/s with the SQLite journal; p99 intent->ack <= 1 ms.
Run: ``.venv/bin/python benchmarks/bench_orders.py [--orders 20000] [--repeats 5]``.
The machine is noisy: every number is the median of ``repeats`` runs.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date
from datetime import time as dtime
from pathlib import Path
from typing import Any

from optrunner.core.clock import SimClock
from optrunner.core.collector import session_collector
from optrunner.core.events import OrderUpdateEvent
from optrunner.core.orders import OrderIntent
from optrunner.core.timeutil import ist
from optrunner.core.types import OrderState, Right, Side, Tag
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution import MemoryJournal, NullJournal, OrderManager
from optrunner.execution.brokers import SimulatedExchange
from optrunner.instruments.contracts import OptionContract

EXPIRY = date(2026, 1, 13)
T0 = ist(date(2026, 1, 5), dtime(10, 0))
STRIKES = [24800.0, 24900.0, 25000.0, 25100.0, 25200.0]
CONTRACTS = [OptionContract("NIFTY", EXPIRY, k, r) for k in STRIKES for r in (Right.CE, Right.PE)]


def chain() -> ChainSnapshot:
    n = len(CONTRACTS)
    return ChainSnapshot.from_columns("NIFTY", T0, 25010.0, {
        "strike": [c.strike for c in CONTRACTS], "right": [c.right.value for c in CONTRACTS],
        "expiry": [EXPIRY] * n, "bid": [100.0] * n, "ask": [100.5] * n, "ltp": [100.25] * n,
    })  # fmt: skip


def store_factory() -> Callable[[Path], Any] | None:
    try:
        from optrunner.store import Store
    except ImportError:
        return None

    def make(folder: Path) -> Any:
        s = Store(f"sqlite:///{folder / 'bench.sqlite'}", batch_size=1_000_000)
        s.create_schema()
        return s

    return make


def rig(journal: Any) -> tuple[OrderManager, list[int]]:
    clock = SimClock(T0)
    ex = SimulatedExchange(clock)
    snap = chain()
    ex.on_snapshot(snap)
    om = OrderManager(ex, clock, journal=journal)
    om.on_snapshot(snap)
    acks: list[int] = []

    accepted = OrderState.ACCEPTED  # an enum member looked up on its class costs ~75 ns

    def on_event(e: object) -> None:
        if isinstance(e, OrderUpdateEvent) and e.order.state is accepted:
            acks.append(time.perf_counter_ns())

    om.add_listener(on_event)
    return om, acks


def intents(n: int) -> list[OrderIntent]:
    return [
        OrderIntent(f"b{k % 50:02d}", Tag.ENTRY, CONTRACTS[k % len(CONTRACTS)], Side.BUY if k % 2 else Side.SELL, 65)
        for k in range(n)
    ]


def throughput(journal: Any, n: int, group: int) -> float:
    om, _ = rig(journal)
    work = intents(n)
    gc.collect()
    t = time.perf_counter()
    for start in range(0, n, group):
        with om.batch():
            for i in work[start : start + group]:
                om.place(i)
        om.drain()
    elapsed = time.perf_counter() - t
    filled = sum(o.state is OrderState.FILLED for o in om.orders())
    assert filled == n, f"only {filled}/{n} filled"
    return n / elapsed


def ack_latency(journal: Any, n: int) -> tuple[float, float]:
    om, acks = rig(journal)
    work = intents(n)
    lat = []
    gc.collect()
    for i in work:
        t0 = time.perf_counter_ns()
        om.place(i)
        om.drain()
        lat.append((acks[-1] - t0) / 1000.0)
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--latency-orders", type=int, default=5_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    # (journal, run inside the session collector?)
    journals: dict[str, tuple[Callable[[Path], Any], bool]] = {
        "null": (lambda _: NullJournal(), True),
        "memory": (lambda _: MemoryJournal(), True),
    }
    make_store = store_factory()
    if make_store is not None:
        journals["sqlite store"] = (make_store, True)
        journals["sqlite, gc dflt"] = (make_store, False)
    else:
        print("optrunner.store not importable: SQLite journal skipped")

    load_before = os.getloadavg()[0]
    rows = []
    for name, (make, session) in journals.items():
        results: dict[str, list[float]] = {"g1000": [], "g100": [], "g1": [], "p50": [], "p99": []}
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp, session_collector() if session else nullcontext():
                folder = Path(tmp)
                for group in (1000, 100, 1):
                    sub = folder / f"g{group}"
                    sub.mkdir()
                    results[f"g{group}"].append(throughput(make(sub), args.orders, group))
                lat = folder / "lat"
                lat.mkdir()
                p50, p99 = ack_latency(make(lat), args.latency_orders)
                results["p50"].append(p50)
                results["p99"].append(p99)
        rows.append((name, {k: statistics.median(v) for k, v in results.items()}))

    base = rows[0][1]["g1000"]
    print(f"\n{args.orders:,} intents -> simulated fills; medians of {args.repeats} runs")
    print(f"{'journal':<16}{'orders/s (1000/tick)':>22}{'(100/tick)':>12}{'(1/tick)':>12}"
          f"{'vs null':>9}{'ack p50 us':>12}{'ack p99 us':>12}")  # fmt: skip
    for name, r in rows:
        print(
            f"{name:<16}{r['g1000']:>22,.0f}{r['g100']:>12,.0f}{r['g1']:>12,.0f}"
            f"{r['g1000'] / base:>9.2f}{r['p50']:>12.1f}{r['p99']:>12.1f}"
        )
    print("targets: >= 20,000 orders/s with the SQLite journal; ack p99 <= 1,000 us")
    print("every row runs in the sessions' collector setting but 'gc dflt' (CPython's default)")
    print(f"machine load average (2 cores) before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
