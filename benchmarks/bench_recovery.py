"""What durability costs: one synthetic NIFTY day through the plain kernel vs the trading node.

    .venv/bin/python benchmarks/bench_recovery.py [--repeats 5]

The node journals every order, transition and fill in SQLite before acting, keeps the paper
broker's book on disk (fsync per answer) and writes a checkpoint after every snapshot. The
strategy is the crash-recovery test's DNSS (30 lots, limit orders, adjustments on a 0.1
delta drift: ~70 orders). Also measured: the size of a checkpoint at the close and the time
``TradingNode.recover`` takes from it. Medians of ``--repeats`` runs; this machine is noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from optrunner.backtest.engine import merged_snapshots
from optrunner.config import validate_config
from optrunner.core.clock import SimClock
from optrunner.data.catalog import Catalog
from optrunner.data.synthetic import generate
from optrunner.execution.brokers.simulated import SimulatedExchange
from optrunner.kernel import Kernel
from optrunner.live.node import TradingNode
from optrunner.live.paper_broker import PaperBroker
from optrunner.live.recovery import CHECKPOINT
from optrunner.store import Store
from optrunner.strategies.registry import create_strategy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from test_crash_recovery import CONFIG  # noqa: E402  (the scenario the crash test runs)

DAY = date(2026, 11, 16)
CAPITAL = 50_000_000.0


def plain_kernel(cfg, snaps) -> float:
    clock = SimClock()
    kernel = Kernel(SimulatedExchange(clock), clock, capital=CAPITAL, log_alerts=False)
    kernel.add_strategy(create_strategy(cfg), cfg)
    t = time.perf_counter()
    for snap in snaps:
        kernel.on_chain(snap)
    kernel.end_of_day(DAY)
    return time.perf_counter() - t


def node(cfg, snaps, folder: Path) -> tuple[float, float, int, int]:
    """(run seconds, recover seconds, checkpoint bytes, orders)."""
    url = f"sqlite:///{folder / 'node.sqlite'}"
    store = Store(url)
    store.create_schema()
    clock = SimClock()
    n = TradingNode([cfg], store, PaperBroker(folder / "book.json", clock), clock, capital=CAPITAL)
    t = time.perf_counter()
    n.run(snaps)
    run = time.perf_counter() - t
    # as stored: latest_checkpoint would add back the finished orders a version-2 checkpoint
    # leaves to its checkpoint_orders batches
    size = len(json.dumps([e for e in store.journal() if e.kind == CHECKPOINT][-1].payload))
    orders = len(n.kernel.om.orders())
    store.close()
    store = Store(url)
    clock = SimClock()
    t = time.perf_counter()
    again = TradingNode.recover([cfg], store, PaperBroker(folder / "book.json", clock), clock, capital=CAPITAL)
    again.run(snaps)  # everything is covered: warm-up only
    recover = time.perf_counter() - t
    store.close()
    return run, recover, size, orders


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate("NIFTY", DAY, DAY, seed=11, out=root / "catalog", strikes_each_side=15, progress=False)
        cfg, issues = validate_config(CONFIG, root)
        assert not issues, issues
        snaps = list(merged_snapshots(Catalog(root / "catalog"), ["NIFTY"], DAY, DAY))
        plain, runs, recovers, sizes = [], [], [], []
        orders = 0
        for k in range(args.repeats):
            plain.append(plain_kernel(cfg, snaps))
            folder = root / f"run{k}"
            folder.mkdir()
            run, rec, size, orders = node(cfg, snaps, folder)
            runs.append(run)
            recovers.append(rec)
            sizes.append(size)
    p, r = statistics.median(plain), statistics.median(runs)
    per = len(snaps)
    print(f"one day: {per} snapshots, {orders} orders; medians of {args.repeats} runs\n")
    print(f"{'':<44}{'total s':>10}{'ms/snapshot':>14}{'ratio':>8}")
    print(f"{'plain kernel (backtest: no store)':<44}{p:>10.3f}{1000 * p / per:>14.2f}{1.0:>8.1f}")
    print(f"{'trading node (journal+broker file+ckpt)':<44}{r:>10.3f}{1000 * r / per:>14.2f}{r / p:>8.1f}")
    print(f"\ncheckpoint at the close: {statistics.median(sizes) / 1024:.0f} KB of JSON")
    print(f"TradingNode.recover + warm-up from it: {1000 * statistics.median(recovers):.0f} ms")


if __name__ == "__main__":
    main()
