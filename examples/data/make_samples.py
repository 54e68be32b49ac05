"""Regenerate the sample seed-format chain files the example configs point at.

    .venv/bin/python examples/data/make_samples.py

Each file is one synthetic snapshot (10:00 IST on 2026-11-16) of the nearest expiry, in the
seed platform's SQLite layout (``option_chain`` + ``meta``), exactly what its chain
supervisor wrote — so a ``database_market`` config can be validated and polled without a
broker. Backtests use a catalog instead (``optrunner backtest --data``).
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime
from pathlib import Path

from optrunner.core.timeutil import IST
from optrunner.data.catalog import Catalog
from optrunner.data.seed_db import write_seed_db
from optrunner.data.synthetic import generate

DAY = date(2026, 11, 16)
HERE = Path(__file__).resolve().parent


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for symbol in ("NIFTY", "BANKNIFTY"):
            generate(symbol, DAY, DAY, seed=7, out=tmp, strikes_each_side=20, progress=False)
            snap = Catalog(tmp).chain_at(symbol, datetime(DAY.year, DAY.month, DAY.day, 10, 0, tzinfo=IST))
            assert snap is not None
            path = HERE / f"NFO_{symbol}_sample.sqlite"
            path.unlink(missing_ok=True)
            write_seed_db(path, snap, exchange="NFO")
            print(f"wrote {path} ({path.stat().st_size:,} bytes, {len(snap.for_expiry(snap.expiries()[0]))} rows)")


if __name__ == "__main__":
    main()
