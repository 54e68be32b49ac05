"""The ``legs`` kind against DNSS over one year of synthetic NIFTY minute chains, side by side.

    .venv/bin/python benchmarks/bench_legs.py [--data data/bench_year] [--repeats 3]

Runs, alternately and each in a fresh subprocess: DNSS (examples/configs/NIFTY_DNSS.json, the
bench_backtest.py strategy) and a 4-leg iron condor with leg-wise stops (examples/configs/legs/
NIFTY_IRON_CONDOR_DELTA.json plus a 30 % stop trailed 5 % every 10 % and one re-execute on each
short leg). The year is the one bench_backtest.py generates (same seed and range). Target
(issue 17): the 4-leg run's median wall time <= 1.5x DNSS's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backtest import CONFIG as DNSS_CONFIG
from bench_backtest import ROOT, ensure_year

CONDOR = ROOT / "examples" / "configs" / "legs" / "NIFTY_IRON_CONDOR_DELTA.json"
LEG_STOPS = {"stop_loss_pct": 30, "trail_every": 10, "trail_by": 5, "reentry_on_stop": "re_execute",
             "reentry_on_stop_count": 1}  # fmt: skip

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from optrunner.backtest.engine import BacktestSpec, run_backtest
from optrunner.config import load_config_file
cfg = load_config_file(sys.argv[1])
t = time.perf_counter()
r = run_backtest(BacktestSpec([cfg], Path(sys.argv[2])))
wall = time.perf_counter() - t
m = r.summary["strategies"][cfg.name].get("metrics", {})
m.pop("timeline", None)
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "snapshots": r.snapshots, "days": r.summary["days"], "trades": r.summary["trades"],
                  "orders": r.summary["orders"], "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "metrics": {k: v for k, v in m.items() if isinstance(v, int | float)}}))
"""


def four_legs(folder: Path) -> Path:
    doc = json.loads(CONDOR.read_text())
    doc["name"] = "NIFTY_IRON_CONDOR_LEG_STOPS"
    for leg in doc["legs"]:
        if leg["action"] == "SELL":
            leg.update(LEG_STOPS)
    path = folder / "condor_leg_stops.json"
    path.write_text(json.dumps(doc))
    return path


def run_once(config: Path, data: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(config), str(data)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "bench_year")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ensure_year(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        legs_config = four_legs(Path(tmp))
        runs: dict[str, list[dict]] = {"DNSS": [], "legs (4-leg condor, leg stops)": []}
        for _ in range(args.repeats):  # alternate, so machine noise hits both alike
            runs["DNSS"].append(run_once(DNSS_CONFIG, args.data))
            runs["legs (4-leg condor, leg stops)"].append(run_once(legs_config, args.data))
    medians, cpus = {}, {}
    print(f"{'strategy':<34}{'median s':>10}{'runs s':>24}{'median CPU s':>14}{'days':>6}{'orders':>8}{'peak RSS MB':>13}")
    for name, rs in runs.items():
        medians[name] = statistics.median(r["wall"] for r in rs)
        cpus[name] = statistics.median(r["cpu"] for r in rs)  # process CPU (import and load too): less load-bound
        walls = " ".join(f"{r['wall']:.2f}" for r in rs)
        print(f"{name:<34}{medians[name]:>10.2f}{walls:>24}{cpus[name]:>14.2f}{rs[0]['days']:>6}{rs[0]['orders']:>8}"
              f"{max(r['rss_mb'] for r in rs):>13,.0f}")  # fmt: skip
    legs_runs = runs["legs (4-leg condor, leg stops)"]
    print("legs counters:", json.dumps(legs_runs[0]["metrics"]))
    ratio = medians["legs (4-leg condor, leg stops)"] / medians["DNSS"]
    cpu_ratio = cpus["legs (4-leg condor, leg stops)"] / cpus["DNSS"]
    print(f"ratio legs / DNSS = {ratio:.2f} wall, {cpu_ratio:.2f} CPU (target <= 1.5: {'met' if ratio <= 1.5 else 'MISSED'})")


if __name__ == "__main__":
    main()
