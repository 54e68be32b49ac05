"""Seed-platform option-chain SQLite files (one snapshot of one expiry each) into the catalog.

A folder of these, captured every few seconds by the seed's supervisor, is a minute-level
history; the files are read with :func:`optrunner.data.seed_db.read_seed_rows`, so the same
rules (IV in percent detected, timestamps from ``meta.snapshot_ts``) apply live and here.
A cell that is not a number fails its row; a file whose meta is garbage (``spot_ltp = 'abc'``,
``snapshot_ts = 'yesterday'``) has all its rows rejected under that reason, and the import
goes on with the other files.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np

from optrunner.core.timeutil import to_epoch_ns
from optrunner.data.catalog import Catalog
from optrunner.data.importers.common import (
    MAX_EXAMPLES,
    ChainSink,
    DataImportError,
    FileCallback,
    ImportReport,
    RowChecks,
    chain_table,
)
from optrunner.data.seed_db import SeedDbError, SeedMetaError, read_seed_rows
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
    for path in files:
        try:
            seed = read_seed_rows(path)
        except SeedMetaError as exc:  # readable, but its meta is garbage: its rows cannot be used
            report.files += 1
            report.rows_read += exc.rows
            _reject_file(
                report, f"unusable file: {exc.problem}", exc.rows, f"{path.name}: {exc.raw!r:.40}"
            )
            continue
        except SeedDbError as exc:
            raise DataImportError(str(exc)) from None
        report.files += 1
        n = len(seed.is_call)
        report.rows_read += n
        if symbol is not None and seed.symbol != canonical_symbol(symbol):
            report.skipped[f"symbol {seed.symbol} (importing {canonical_symbol(symbol)})"] += n
        else:
            ts = np.full(n, to_epoch_ns(seed.ts), np.int64)
            days = np.full(n, (seed.expiry - date(1970, 1, 1)).days, np.int64)
            floats = {name: seed.columns[name] for name in FLOAT_COLUMNS}
            floats["spot"] = np.full(n, seed.spot)
            checks = RowChecks(report, path.name, np.arange(1, n + 1))  # row number in strike order
            for reason, bad in seed.unreadable.items():
                checks.fail(reason, bad)
            checks.common(ts, days, seed.columns["strike"], floats)
            if not seed.timed:
                report.note(
                    f"{path.name}: meta has no snapshot_ts; the file's modification time was used"
                )
            sink.add(
                seed.symbol,
                chain_table(ts, days, seed.columns["strike"], seed.is_call, floats, checks.keep),
            )
        sink.file_done()
        if on_file:
            on_file(path)
    sink.flush()
    return report


def _reject_file(report: ImportReport, reason: str, rows: int, example: str) -> None:
    report.rejected[reason] += rows
    examples = report.examples.setdefault(reason, [])
    if len(examples) < MAX_EXAMPLES:
        examples.append(example)
