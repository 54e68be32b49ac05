"""A parameter sweep over the synthetic year, local process pool vs Dask LocalCluster: wall
time, cost per run against one backtest, and peak memory per worker.

    .venv/bin/python benchmarks/bench_sweep.py [--data data/bench_year] [--runs 8] [--workers 2]
                                               [--repeats 3]

Targets (issue 16): <= 1 GB peak RSS per worker on the year; per-run cost <= 1.3x a single
backtest (run cost = wall x workers / runs). The single backtest is timed in-process on the
same data, once per repeat, and each sweep's ratio uses the median. Worker RSS is sampled
from every child process every 0.2 s (psutil); the Dask wall includes starting and closing
its LocalCluster (processes=True, one thread per worker). Both sweeps must rank the same
rows. Sweeps run up to 4 parameter sets per task on one pass over the data
(engine.run_backtests); the third variant, one run per task (share=1), shows what that saves.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backtest import CONFIG, ROOT, ensure_year

from optrunner.backtest.engine import BacktestSpec, run_backtest
from optrunner.backtest.sweep import REPORTED, SHARE, SweepJob, parse_grid, sweep
from optrunner.config import load_config_file
from optrunner.execution.brokers.simulated import SimConfig

AXIS = "adjustment.delta_drift_trigger"


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


def timed_sweep(job: SweepJob, grid: str, workers: int, dask: str | None, share: int) -> tuple[float, list[float], list[dict]]:
    stop, peaks = threading.Event(), {}
    sampler = threading.Thread(target=sample_children, args=(stop, peaks), daemon=True)
    sampler.start()
    t = time.perf_counter()
    rows = sweep(job, parse_grid([grid]), workers=workers, dask=dask, share=share)
    wall = time.perf_counter() - t
    stop.set()
    sampler.join()
    return wall, sorted(peaks.values(), reverse=True)[:workers], rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "bench_year")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ensure_year(args.data)
    values = [round(0.2 + 0.05 * i, 2) for i in range(args.runs)]
    grid = f"{AXIS}={','.join(map(str, values))}"
    job = SweepJob(CONFIG, args.data, None, None, 1_000_000.0, SimConfig(), 0.0)
    singles: list[float] = []
    variants = (("local pool", None, SHARE), ("dask LocalCluster", f"local:{args.workers}", SHARE),
                ("pool, 1 run per task", None, 1))  # fmt: skip
    results: dict[str, list[tuple[float, list[float]]]] = {label: [] for label, _, _ in variants}
    reference: list[tuple] | None = None
    for rep in range(1, args.repeats + 1):
        t = time.perf_counter()
        run_backtest(BacktestSpec([load_config_file(CONFIG)], args.data))
        singles.append(time.perf_counter() - t)
        for label, dask, share in variants:
            wall, peaks, rows = timed_sweep(job, grid, args.workers, dask, share)
            failed = [r for r in rows if r["error"]]
            if failed:
                raise SystemExit(f"{label}: {len(failed)} runs failed: {failed[0]['error']}")
            ranked = [(r["rank"], r["run"], *(r[k] for k in REPORTED)) for r in rows]
            if reference is None:
                reference = ranked
            elif ranked != reference:
                raise SystemExit(f"{label}: the rows differ from the first sweep's")
            results[label].append((wall, peaks))
            print(f"repeat {rep}: {label:<21} {wall:7.2f} s, worker peak RSS "
                  f"{', '.join(f'{p:,.0f}' for p in peaks)} MB; single backtest {singles[-1]:.2f} s", flush=True)  # fmt: skip
    single = statistics.median(singles)
    print(f"\nsingle backtest of the year (median of {len(singles)}): {single:.2f} s")
    print(f"{args.runs} runs on {args.workers} workers, identical ranked rows on all; medians of {args.repeats}:")
    for label, reps in results.items():
        wall = statistics.median(w for w, _ in reps)
        per_run = wall * args.workers / args.runs
        worst = max(max(p, default=0.0) for _, p in reps)
        print(f"  {label:<21} wall {wall:7.2f} s  per-run {per_run:5.2f} s = {per_run / single:.2f}x a single "
              f"backtest (target <= 1.3x: {'met' if per_run / single <= 1.3 else 'MISSED'})  "
              f"peak RSS per worker {worst:,.0f} MB (target <= 1024: {'met' if worst <= 1024 else 'MISSED'})")  # fmt: skip

if __name__ == "__main__":
    main()
