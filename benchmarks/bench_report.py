"""HTML report of a year-long run: time to read the run folder and to render the page, and its size.

Run: .venv/bin/python benchmarks/bench_report.py [--quick]
The run folder is synthetic (tests/unit/_report_support.py: ~94k equity minutes, spot for two
underlyings, 500 trades with 2,000 order marks). Targets: < 8 MB, a few seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))  # the run-folder writer

from _report_support import year_run

from optrunner.backtest.report import build_html, render_report
from optrunner.backtest.report_data import load_run


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    repeats = 3 if parser.parse_args().quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'days':>5} {'equity rows':>12} {'load s':>8} {'build s':>8} {'render s':>9} {'size MB':>8}")
        for days in (20, 250):
            run_dir = year_run(Path(tmp) / f"run{days}", days=days, trades=2 * days)
            load = _median_seconds(lambda d=run_dir: load_run(d), repeats)
            run = load_run(run_dir)
            build = _median_seconds(lambda r=run: build_html(r), repeats)
            total = _median_seconds(lambda d=run_dir: render_report(d), repeats)
            size = (run_dir / "report.html").stat().st_size / 1e6
            print(f"{days:>5} {len(run.equity['time']):>12,} {load:>8.2f} {build:>8.2f} {total:>9.2f} {size:>8.2f}")
    print(f"medians of {repeats}; render = load + build + write; target < 8 MB and a few seconds for 250 days")


if __name__ == "__main__":
    main()
