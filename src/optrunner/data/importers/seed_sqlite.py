"""Seed-platform option-chain SQLite files (one snapshot of one expiry each) into the catalog.

A folder of these, captured every few seconds by the seed's supervisor, is a minute-level
history; the files are read with :func:`optrunner.data.seed_db.read_seed_db`, so the same
rules (IV in percent detected, timestamps from ``meta.snapshot_ts``) apply live and here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from optrunner.core.timeutil import to_epoch_ns
from optrunner.data.catalog import Catalog
from optrunner.data.importers.common import (
    ChainSink,
    DataImportError,
    FileCallback,
    ImportReport,
    RowChecks,
    chain_table,
)
from optrunner.data.seed_db import SeedDbError, read_seed_db
from optrunner.data.snapshot import FLOAT_COLUMNS
from optrunner.instruments import canonical_symbol

SUFFIXES = (".sqlite", ".sqlite3", ".db")


def import_seed_sqlite(
    catalog: Catalog, files: Sequence[Path], *, symbol: str | None = None,
    recompute_greeks: bool = False, on_file: FileCallback | None = None,
) -> ImportReport:  # fmt: skip
    """Import seed chain files; ``symbol`` keeps only that underlying's files."""
    report = ImportReport("seed-sqlite")
    sink = ChainSink(catalog, report, recompute_greeks=recompute_greeks)
    untimed = 0
    for path in files:
        try:
            snap, meta = read_seed_db(path)
        except SeedDbError as exc:
            raise DataImportError(str(exc)) from None
        report.files += 1
        report.rows_read += len(snap)
        if symbol is not None and snap.symbol != canonical_symbol(symbol):
            report.skipped[f"symbol {snap.symbol} (importing {canonical_symbol(symbol)})"] += len(snap)
        else:
            n = len(snap)
            ts = np.full(n, to_epoch_ns(snap.ts), np.int64)
            days = (snap.expiry - np.datetime64("1970-01-01", "D")).astype(np.int64)
            floats = {name: getattr(snap, name) for name in FLOAT_COLUMNS}
            floats["spot"] = np.full(n, snap.spot)
            checks = RowChecks(report, path.name, np.arange(1, n + 1))  # row number in strike order
            checks.common(ts, days, snap.strike, floats)
            if not meta.get("snapshot_ts"):
                report.note(
                    f"{path.name}: meta has no snapshot_ts; the file's modification time was used"
                )
            sink.add(
                snap.symbol, chain_table(ts, days, snap.strike, snap.is_call, floats, checks.keep)
            )
        sink.file_done()
        if on_file:
            on_file(path)
    sink.flush()
    if untimed:
        report.note(f"{untimed} file(s) had no meta.snapshot_ts: their modification time was used")
    return report
