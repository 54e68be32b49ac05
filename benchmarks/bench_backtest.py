"""DNSS over one year of synthetic NIFTY minute chains: wall time, option rows/s, peak memory.

    .venv/bin/python benchmarks/bench_backtest.py [--data data/bench_year] [--repeats 3] [--profile]

The year (all weekly expiries within 30 days, ATM +/- 30 strikes, greeks precomputed in the
catalog) is generated on first use (~1 minute, ~2.3 GB). Each run is a fresh subprocess so
its peak RSS is its own. Targets (issue 5): <= 10 s and <= 2 GB RSS on this 2-core machine.
With --profile, one more run under cProfile says where the time goes, grouped by layer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "configs" / "NIFTY_DNSS.json"
YEAR = (date(2026, 1, 1), date(2026, 12, 31))

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from optrunner.backtest.engine import BacktestSpec, run_backtest
from optrunner.config import load_config_file
from optrunner.data.catalog import Catalog
cfg = load_config_file(sys.argv[1])
data = Path(sys.argv[2])
rows = sum(e["rows"] for e in Catalog(data).info() if e["symbol"] == "NIFTY")
t = time.perf_counter()
r = run_backtest(BacktestSpec([cfg], data))
wall = time.perf_counter() - t
print(json.dumps({"wall": wall, "rows": rows, "snapshots": r.snapshots, "days": r.summary["days"],
                  "trades": r.summary["trades"], "orders": r.summary["orders"],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

GROUPS = {
    "catalog read (Parquet -> NumPy, snapshot views)": ("data/catalog", "data/daychain", "pyarrow", "parquet"),
    "strategy (DNSS)": ("strategies/dnss",),
    "portfolio marks / equity": ("portfolio/",),
    "order manager + router + simulated exchange": ("execution/",),
    "risk checks": ("risk/",),
    "runner dispatch": ("/runner",),
    "kernel glue + recorder": ("/kernel", "backtest/"),
}


def ensure_year(data: Path) -> None:
    from optrunner.data.catalog import Catalog
    from optrunner.data.synthetic import generate

    if (data / "catalog.json").is_file() and len(Catalog(data).dates("NIFTY")) >= 240:
        return
    print(f"generating a year of synthetic NIFTY minute chains into {data} (one-off, ~1 minute) ...")
    generate("NIFTY", *YEAR, seed=7, out=data)


def run_once(data: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(CONFIG), str(data)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def profile(data: Path) -> None:
    import cProfile
    import pstats

    from optrunner.backtest.engine import BacktestSpec, run_backtest
    from optrunner.config import load_config_file

    prof = cProfile.Profile()
    prof.enable()
    run_backtest(BacktestSpec([load_config_file(CONFIG)], data))
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())  # tottime
    by_group: dict[str, float] = dict.fromkeys(GROUPS, 0.0)
    other = 0.0
    for (filename, _, _), (_, _, tottime, _, _) in stats.items():
        for group, needles in GROUPS.items():
            if any(n in filename for n in needles):
                by_group[group] += tottime
                break
        else:
            other += tottime
    print("\nwhere the time goes (cProfile self time, profiled run is ~2x slower):")
    for group, t in sorted(by_group.items(), key=lambda kv: -kv[1]):
        print(f"  {group:<48} {t:6.2f} s  {100 * t / total:5.1f}%")
    print(f"  {'numpy / stdlib / other':<48} {other:6.2f} s  {100 * other / total:5.1f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "bench_year")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    ensure_year(args.data)
    runs = [run_once(args.data) for _ in range(args.repeats)]
    wall = statistics.median(r["wall"] for r in runs)
    rss = max(r["rss_mb"] for r in runs)
    r0 = runs[0]
    print(f"DNSS backtest over {r0['days']} days: {r0['rows']:,} option rows, {r0['snapshots']:,} snapshots, "
          f"{r0['trades']} trades, {r0['orders']} orders")  # fmt: skip
    print(f"{'run':<6}{'wall s':>9}{'rows/s':>14}{'snapshots/s':>14}{'peak RSS MB':>14}")
    for i, r in enumerate(runs, 1):
        print(f"{i:<6}{r['wall']:>9.2f}{r['rows'] / r['wall']:>14,.0f}{r['snapshots'] / r['wall']:>14,.0f}{r['rss_mb']:>14,.0f}")
    print(f"median wall {wall:.2f} s (target <= 10 s: {'met' if wall <= 10 else 'MISSED'}), "
          f"peak RSS {rss:,.0f} MB (target <= 2048 MB: {'met' if rss <= 2048 else 'MISSED'}), "
          f"{r0['rows'] / wall / 1e6:.1f} M option rows/s")  # fmt: skip
    if args.profile:
        profile(args.data)


if __name__ == "__main__":
    main()
