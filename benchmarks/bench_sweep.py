"""A parameter sweep over the synthetic year on the local process pool: wall time, cost per
run against one backtest, and peak memory per worker.

    .venv/bin/python benchmarks/bench_sweep.py [--data data/bench_year] [--runs 4] [--workers 2]

Targets (issue 16): <= 1 GB peak RSS per worker on the year; per-run cost <= 1.3x a single
backtest (run cost = wall x workers / runs). The single backtest is timed first, in-process,
on the same data. Worker RSS is sampled from the pool's processes every 0.2 s (psutil).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backtest import CONFIG, ROOT, ensure_year

from optrunner.backtest.engine import BacktestSpec, run_backtest
from optrunner.backtest.sweep import SweepJob, parse_grid, sweep
from optrunner.config import load_config_file
from optrunner.execution.brokers.simulated import SimConfig


def sample_children(stop: threading.Event, peaks: dict[int, float]) -> None:
    me = psutil.Process()
    while not stop.is_set():
        for child in me.children(recursive=True):
            try:
                rss = child.memory_info().rss / 2**20
            except psutil.Error:
                continue
            peaks[child.pid] = max(peaks.get(child.pid, 0.0), rss)
        time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "bench_year")
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    ensure_year(args.data)
    t = time.perf_counter()
    run_backtest(BacktestSpec([load_config_file(CONFIG)], args.data))
    single = time.perf_counter() - t
    values = ",".join(f"{0.2 + 0.1 * i:.1f}" for i in range(args.runs))
    job = SweepJob(CONFIG, args.data, None, None, 1_000_000.0, SimConfig(), 0.0)
    stop, peaks = threading.Event(), {}
    sampler = threading.Thread(target=sample_children, args=(stop, peaks), daemon=True)
    sampler.start()
    t = time.perf_counter()
    rows = sweep(job, parse_grid([f"adjustment.delta_drift_trigger={values}"]), workers=args.workers)
    wall = time.perf_counter() - t
    stop.set()
    sampler.join()
    failed = [r for r in rows if r["error"]]
    per_run = wall * args.workers / args.runs
    print(f"single backtest of the year: {single:.2f} s")
    print(f"sweep: {args.runs} runs on {args.workers} workers in {wall:.2f} s ({len(failed)} failed); "
          f"per-run cost {per_run:.2f} s = {per_run / single:.2f}x a single backtest (target <= 1.3x)")  # fmt: skip
    worst = max(peaks.values(), default=0.0)
    print(f"peak RSS per worker: {', '.join(f'{v:,.0f} MB' for v in sorted(peaks.values(), reverse=True)[:args.workers])} "
          f"(target <= 1024 MB: {'met' if worst <= 1024 else 'MISSED'})")  # fmt: skip


if __name__ == "__main__":
    main()
