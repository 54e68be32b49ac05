"""What the data-quality door costs the hot path: bench_backtest with and without the checks.

    .venv/bin/python benchmarks/bench_data_quality.py [--data data/bench_year] [--pairs 5]

Runs the DNSS year of ``bench_backtest.py`` in fresh subprocesses, alternating a run with the
catalog's quality check (``optrunner.data.quality.check_day``, the shipped code) and a run with
the check replaced by a pass-through, so machine noise hits both sides alike. Prints each
side's median wall and CPU time (all threads) and their ratios (target: <= 1.05; on a
shared machine CPU time is the steadier one), then the check alone per day: the screen a
clean day takes (with the file's Parquet statistics, as shipped, and by NumPy reductions)
and the per-row reason codes a suspect day pays for.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_backtest import CONFIG, ROOT, ensure_year

CHILD = r"""
import json, sys, time
from pathlib import Path
import optrunner.data.catalog as catalog_module
from optrunner.backtest.engine import BacktestSpec, run_backtest
from optrunner.config import load_config_file
from optrunner.data.quality import DataQuality
if sys.argv[3] == "off":
    catalog_module.check_day = lambda day, ranges=None: (day, DataQuality())
cfg = load_config_file(sys.argv[1])
t, c = time.perf_counter(), time.process_time()
r = run_backtest(BacktestSpec([cfg], Path(sys.argv[2])))
print(json.dumps({"wall": time.perf_counter() - t, "cpu": time.process_time() - c,
                  "orders": r.summary["orders"], "quality": r.summary.get("data_quality")}))
"""


def run_once(data: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(CONFIG), str(data), mode],
                         check=True, capture_output=True, text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def check_alone(data: Path, days: int = 40) -> None:
    """The check by itself on freshly read days (as the replay meets them, cache-cold)."""
    from optrunner.data.catalog import Catalog
    from optrunner.data.quality import check_day, row_reasons

    cat = Catalog(data)
    took: dict[str, list[float]] = {"stats": [], "reductions": [], "codes": []}
    rows = 0
    for d in cat.dates("NIFTY")[:days]:
        for how in took:
            day = cat.day("NIFTY", d)
            t = time.perf_counter()
            if how == "codes":
                row_reasons(day.columns["spot"], day.columns)
            else:
                check_day(day, day.ranges if how == "stats" else None)
            took[how].append(time.perf_counter() - t)
        rows += len(day)
    ms = {how: 1e3 * statistics.median(t) for how, t in took.items()}
    print(f"check alone, {days} days of {rows / days:,.0f} rows, median per day: clean-day screen "
          f"{ms['stats']:.2f} ms with the file's statistics (shipped), {ms['reductions']:.2f} ms "
          f"by reductions; per-row reason codes (a suspect day) {ms['codes']:.2f} ms")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "bench_year")
    ap.add_argument("--pairs", type=int, default=5)
    args = ap.parse_args()
    ensure_year(args.data)
    runs: dict[str, list[dict]] = {"on": [], "off": []}
    for i in range(args.pairs):
        for mode in ("on", "off") if i % 2 == 0 else ("off", "on"):
            r = run_once(args.data, mode)
            runs[mode].append(r)
            print(f"pair {i + 1} checks {mode:<3} wall {r['wall']:6.2f} s  cpu {r['cpu']:6.2f} s  "
                  f"orders {r['orders']}  data_quality {r['quality']}")  # fmt: skip
    # CPU time (all threads) is the cost; wall time also shows how much the reader thread hides
    for key in ("wall", "cpu"):
        on = statistics.median(r[key] for r in runs["on"])
        off = statistics.median(r[key] for r in runs["off"])
        print(f"median {key}: with checks {on:.2f} s, without {off:.2f} s: ratio {on / off:.3f} "
              f"(target <= 1.05: {'met' if on / off <= 1.05 else 'MISSED'})")  # fmt: skip
    check_alone(args.data)


if __name__ == "__main__":
    main()
