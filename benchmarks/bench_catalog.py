"""Catalog throughput on a year of synthetic NIFTY minute chains.

Run: .venv/bin/python benchmarks/bench_catalog.py [--root DIR] [--from 2026-01-01 --to 2026-12-31]
     [--repeats 3] [--reuse]

1. Generates the range (all weekly expiries within 30 days, ATM +/- 30 strikes, a row per
   contract per minute) with `optrunner.data.synthetic.generate`, timing it.
2. Write: `Catalog.write_chain` of already-enriched day tables (sort check + Parquet +
   atomic rename), and the greeks fill (`add_greeks`: grouped parity forward + IV/greeks).
3. Read: streaming every snapshot of the range (`Catalog.snapshots`, all columns and a
   5-column subset), median of --repeats full passes. Files were just written, so the page
   cache is warm: this measures decoding and snapshot building, not the disk.
4. DuckDB: per-day nearest-|delta| query (the 0.20-delta put of the nearest expiry at every
   minute of one day) through the `chains` view and through `chain_day()`, median over 20 days.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from optrunner.data.catalog import Catalog
from optrunner.data.enrich import add_greeks
from optrunner.data.schema import GREEK_COLUMNS, conform_chain, sort_chain
from optrunner.data.synthetic import SyntheticMarket, generate

SUBSET = ["bid", "ask", "ltp", "delta", "iv"]
NEAREST_DELTA_SQL = """
WITH day AS (SELECT * FROM {source})
SELECT ts, strike, delta, bid, ask FROM day
WHERE expiry = (SELECT min(expiry) FROM day) AND "right" = 'PE'
QUALIFY row_number() OVER (PARTITION BY ts ORDER BY abs(abs(delta) - 0.20)) = 1
"""
VIEW_DAY = "chains WHERE symbol = 'NIFTY' AND date = DATE '{day}'"
MACRO_DAY = "chain_day('NIFTY', DATE '{day}')"


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def read_pass(catalog: Catalog, columns: list[str] | None) -> tuple[float, int, int]:
    began = time.perf_counter()
    rows = snaps = 0
    for snap in catalog.snapshots("NIFTY", columns=columns):
        snaps += 1
        rows += len(snap)
    return time.perf_counter() - began, rows, snaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "optrunner-bench-catalog")
    parser.add_argument("--from", dest="start", default="2026-01-01")
    parser.add_argument("--to", dest="end", default="2026-12-31")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="keep an existing catalog at --root")
    args = parser.parse_args()
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)

    if not (args.reuse and (args.root / "catalog.json").is_file()):
        if args.root.exists():
            shutil.rmtree(args.root)
        summary = generate("NIFTY", start, end, seed=7, out=args.root, progress=True)
        print(f"generate: {summary.days} days, {summary.rows:,} rows in {summary.seconds:.1f} s "
              f"({summary.rows / summary.seconds:,.0f} rows/s, {summary.seconds / summary.days:.2f} s/day)")  # fmt: skip
    catalog = Catalog(args.root)
    info = catalog.info()[0]
    print(f"catalog: {info['days']} days, {info['rows']:,} rows, {info['bytes'] / 1e9:.2f} GB "
          f"({info['bytes'] / info['rows']:.1f} bytes/row)")  # fmt: skip

    # write and greeks fill, on fresh day tables (not the stored ones)
    market = SyntheticMarket("NIFTY", 99, rate=catalog.rate)
    days = catalog.dates("NIFTY")[:5]
    tables = [market.day(d)[0] for d in days]
    blank = [t.drop_columns(list(GREEK_COLUMNS)) for t in tables]
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Catalog.create(tmp)
        write_s = [timed(lambda t=t: scratch.write_chain("NIFTY", t, compute_greeks=False)) for t in tables]
    sorted_blank = [sort_chain(conform_chain(t))[0] for t in blank]
    fill_s = [timed(lambda t=t: add_greeks(t, rate=catalog.rate)) for t in sorted_blank]
    per_day = tables[0].num_rows

    # read a full pass, several times
    passes = [read_pass(catalog, None) for _ in range(args.repeats)]
    subset = [read_pass(catalog, SUBSET) for _ in range(args.repeats)]
    rows, snaps = passes[0][1], passes[0][2]
    read_all = statistics.median(p[0] for p in passes)
    read_sub = statistics.median(p[0] for p in subset)

    # DuckDB per-day nearest delta
    all_days = catalog.dates("NIFTY")
    sample = [all_days[i] for i in np.linspace(0, len(all_days) - 1, min(20, len(all_days))).astype(int)]
    def sql(source: str, d: date) -> str:
        return NEAREST_DELTA_SQL.format(source=source.format(day=d))

    catalog.query(sql(VIEW_DAY, sample[0]))  # warm the connection and views
    view_s = [timed(lambda d=d: catalog.query(sql(VIEW_DAY, d))) for d in sample]
    macro_s = [timed(lambda d=d: catalog.query(sql(MACRO_DAY, d))) for d in sample]
    picked = catalog.query(sql(MACRO_DAY, sample[0])).num_rows

    print()
    print(f"{'measure':<46}{'median':>14}{'rate':>22}")
    print(f"{'write_chain, one day (' + format(per_day, ',') + ' rows)':<46}{statistics.median(write_s) * 1e3:>11.0f} ms"
          f"{per_day / statistics.median(write_s):>16,.0f} rows/s")  # fmt: skip
    print(f"{'greeks fill at write (parity fwd + IV + greeks)':<46}{statistics.median(fill_s) * 1e3:>11.0f} ms"
          f"{per_day / statistics.median(fill_s):>16,.0f} rows/s")  # fmt: skip
    print(f"{'read all snapshots, all columns':<46}{read_all:>12.2f} s{rows / read_all:>16,.0f} rows/s")
    print(f"{'read all snapshots, 5 columns':<46}{read_sub:>12.2f} s{rows / read_sub:>16,.0f} rows/s")
    print(f"{'  per snapshot (all columns)':<46}{read_all / snaps * 1e6:>11.0f} us{snaps / read_all:>11,.0f} snapshots/s")
    print(f"{'DuckDB nearest-delta put, day via chains view':<46}{statistics.median(view_s) * 1e3:>11.0f} ms"
          f"{'(' + str(picked) + ' minutes picked)':>22}")  # fmt: skip
    print(f"{'DuckDB nearest-delta put, day via chain_day()':<46}{statistics.median(macro_s) * 1e3:>11.0f} ms")
    print(f"\n{rows:,} rows in {snaps:,} snapshots over {len(all_days)} days; repeats={args.repeats}; "
          f"read passes: {', '.join(f'{p[0]:.2f}' for p in passes)} s")  # fmt: skip


if __name__ == "__main__":
    main()
