"""What delivering bars and ticks costs a year's backtest, side by side with a baseline checkout.

    .venv/bin/python benchmarks/bench_events.py [--data data/bench_year] [--repeats 3] \
        [--baseline-src ../base/src]

Three runs, interleaved, each a fresh subprocess (medians; the machine is small and noisy):

* ``dnss``   — the example DNSS on the synthetic year (bench_backtest.py's run), this checkout;
* ``events`` — the same plus a strategy that subscribes to the index's 1m, 1h, 4h and 1d bars
  and its ticks, so every snapshot also builds bars and derives a tick (issue 10: <= 5 %);
* ``base``   — DNSS on another checkout's ``src`` (``--baseline-src``), e.g. the commit before
  the kernel delivered bars, timers and stale data (issue 10: within 10 %).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backtest import CONFIG, ROOT, ensure_year

CHILD = r"""
import json, sys, time
from pathlib import Path
import optrunner.backtest.engine as engine
from optrunner.config import load_config_file
if sys.argv[3] == "events":
    from optrunner.strategies.base import BaseStrategy, Subscriptions

    class Listener(BaseStrategy):
        bars = ticks = 0
        def subscriptions(self):
            return Subscriptions(ticks={"NIFTY"}, bars={("NIFTY", tf) for tf in ("1m", "1h", "4h", "1d")})
        def on_bar(self, bar):
            Listener.bars += 1
            return ()
        def on_tick(self, tick):
            Listener.ticks += 1
            return ()

    class WithListener(engine.Kernel):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.add_strategy(Listener("LISTENER"))

    engine.Kernel = WithListener
cfg = load_config_file(sys.argv[1])
t = time.perf_counter()
r = engine.run_backtest(engine.BacktestSpec([cfg], Path(sys.argv[2])))
wall = time.perf_counter() - t
extra = {"bars": Listener.bars, "ticks": Listener.ticks} if sys.argv[3] == "events" else {}
print(json.dumps({"wall": wall, "trades": r.summary["trades"], "orders": r.summary["orders"], **extra}))
"""


def run_once(mode: str, data: Path, src: Path) -> dict:
    """One run on the checkout whose ``src`` is given, with that checkout's own example file."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src)
    config = src.parent / CONFIG.relative_to(ROOT)
    out = subprocess.run([sys.executable, "-c", CHILD, str(config), str(data), mode],
                         check=True, capture_output=True, text=True, env=env)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "bench_year")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-src", type=Path, default=None, help="src/ of another checkout to compare with")
    args = ap.parse_args()
    ensure_year(args.data)
    modes = ["dnss", "events"]
    if args.baseline_src:
        modes.append("base")
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for _ in range(args.repeats):
        for mode in modes:
            src = args.baseline_src if mode == "base" else ROOT / "src"
            runs[mode].append(run_once("dnss" if mode == "base" else mode, args.data, src))
    med = {m: statistics.median(r["wall"] for r in rs) for m, rs in runs.items()}
    print(f"{'run':<8}{'median s':>10}  walls")
    for m, rs in runs.items():
        print(f"{m:<8}{med[m]:>10.2f}  " + " ".join(f"{r['wall']:.2f}" for r in rs))
    ev = runs["events"][0]
    print(f"events run delivered {ev['bars']:,} bars and {ev['ticks']:,} ticks; "
          f"cost {100 * (med['events'] / med['dnss'] - 1):+.1f}% (target <= 5%)")  # fmt: skip
    if "base" in med:
        same = runs["base"][0]["orders"] == runs["dnss"][0]["orders"]
        print(f"this checkout vs baseline: {med['dnss'] / med['base']:.3f}x (target within 10%); "
              f"orders {runs['dnss'][0]['orders']} vs {runs['base'][0]['orders']}{'' if same else ' (differ)'}")


if __name__ == "__main__":
    main()
