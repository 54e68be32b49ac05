"""What every importer shares: input discovery, row checks with a per-reason report, the sink.

An importer parses its format into NumPy columns, runs :class:`RowChecks` (each bad row is
counted under its first failing reason, with a few ``file:line`` examples, and never
silently dropped), and hands the surviving rows to :class:`ChainSink`, which removes
repeated (time, contract) rows — reporting them — and writes to the catalog in batches
(merging with what the catalog already holds for those days).
"""

from __future__ import annotations

import glob
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from optrunner.data.catalog import Catalog
from optrunner.data.enrich import add_greeks
from optrunner.data.quality import REASON_TEXT, REASONS, row_reasons
from optrunner.data.schema import (
    CHAIN_FLOAT_COLUMNS,
    CHAIN_SCHEMA,
    IST_OFFSET_NS,
    NS_PER_DAY,
    TS_TYPE,
    chain_keys,
    conform_chain,
    ns_to_ist,
    sort_chain,
    ts_ns,
)

MAX_EXAMPLES = 3
ZERO_MEANS_UNKNOWN = ("spot", "future", "bid", "ask", "ltp", "iv", "iv_source")
FileCallback = Callable[[Path], None]


class DataImportError(Exception):
    """An input that is missing, unreadable or not the expected format (names the file)."""


@dataclass(slots=True)
class ImportReport:
    """Files read, rows imported and rows rejected per reason (with ``file:line`` examples)."""

    kind: str
    files: int = 0
    rows_read: int = 0
    rows_imported: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)  # rows outside the import, not errors
    days: dict[str, set[date]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    zeros_as_nan: Counter[str] = field(default_factory=Counter)  # source 0s stored as NaN, per column

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def all_notes(self) -> list[str]:
        """Notes plus one line per column whose zeros were stored as NaN."""
        zeros = [f"{n:,} {name} value(s) of 0 (no trade / no quote) stored as NaN"
                 for name, n in sorted(self.zeros_as_nan.items())]  # fmt: skip
        return [*self.notes, *zeros]


class RowChecks:
    """Marks rows bad, one reason per row (the first that fails), recording examples."""

    def __init__(self, report: ImportReport, source: str, lines: np.ndarray) -> None:
        self.report, self.source, self.lines = report, source, lines
        self.keep = np.ones(len(lines), bool)

    def fail(
        self, reason: str, mask: np.ndarray, shown: Sequence | np.ndarray | None = None
    ) -> None:
        new = np.asarray(mask, bool) & self.keep
        if not new.any():
            return
        idx = np.flatnonzero(new)
        self.report.rejected[reason] += len(idx)
        examples = self.report.examples.setdefault(reason, [])
        for i in idx[: max(0, MAX_EXAMPLES - len(examples))]:
            value = "" if shown is None else f": {shown[i]!r}"
            examples.append(f"{self.source}:{self.lines[i]}{value}")
        self.keep &= ~new

    def common(
        self,
        ts: np.ndarray,
        expiry_days: np.ndarray,
        strike: np.ndarray,
        floats: dict[str, np.ndarray],
    ) -> None:
        """Checks every format needs once its columns are parsed (NaT/NaN already failed)."""
        self.fail("strike missing or not positive", ~(strike > 0), strike)
        trade_day = (ts + IST_OFFSET_NS) // NS_PER_DAY
        self.fail("expiry before the trade date", expiry_days < trade_day)
        for name in ("bid", "ask", "ltp", "bid_qty", "ask_qty", "volume", "oi"):
            if name in floats:
                self.fail(f"negative {name}", floats[name] < 0, floats[name])
        if "bid" in floats and "ask" in floats:
            crossed = (floats["bid"] > 0) & (floats["ask"] > 0) & (floats["bid"] > floats["ask"])
            self.fail("crossed quote (bid > ask)", crossed)
        for name in ("iv", "iv_source"):
            if name in floats:
                self.fail(
                    f"{name} above 500 % (is the IV column in percent? set iv_percent)",
                    floats[name] > 5.0,
                    floats[name],
                )
        self.zeros_to_nan(floats)  # first: a 0 that means "no trade" is unknown, not bad
        self.quality(strike, floats)

    def zeros_to_nan(self, floats: dict[str, np.ndarray]) -> None:
        """Prices and IVs of 0 become NaN, in place: sources write 0 for "no trade" / "no quote"
        (NSE's screen shows LTP 0 and IV 0 for an untraded strike), and the catalog's only
        spelling of unknown is NaN — a 0 would be read as a real price."""
        for name in ZERO_MEANS_UNKNOWN:
            values = floats.get(name)
            if values is None:
                continue
            zero = (values == 0) & self.keep
            if zero.any():
                floats[name] = np.where(values == 0, np.nan, values)
                self.report.zeros_as_nan[name] += int(zero.sum())

    def quality(self, strike: np.ndarray, floats: dict[str, np.ndarray]) -> None:
        """The data-quality door every chain source shares (optrunner.data.quality): zero,
        infinite and absurd prices and impossible greeks never reach the catalog. A missing
        spot is allowed (legacy bhavcopy has none); a zero or infinite one is not."""
        spot = floats.get("spot", np.full(len(strike), np.nan))
        codes = row_reasons(spot, {"strike": strike, **floats}, missing_spot_ok=True)
        for code in np.unique(codes[codes > 0]):
            self.fail(REASON_TEXT[REASONS[code - 1]], codes == code)


def chain_table(
    ts: np.ndarray, expiry_days: np.ndarray, strike: np.ndarray, is_call: np.ndarray,
    floats: dict[str, np.ndarray], keep: np.ndarray | None = None,
) -> pa.Table:  # fmt: skip
    """A catalog-schema table from parsed columns (rows where ``keep``); absent floats are NaN."""
    m = np.ones(len(ts), bool) if keep is None else keep
    n = int(m.sum())
    cols = {
        "ts": pa.array(np.asarray(ts, np.int64)[m]).cast(TS_TYPE),
        "expiry": pa.array(np.asarray(expiry_days, np.int64)[m].astype(np.int32)).cast(pa.date32()),
        "strike": pa.array(np.asarray(strike, np.float64)[m]),
        "right": pa.array(np.where(np.asarray(is_call, bool)[m], "CE", "PE")),
    }
    for name in CHAIN_FLOAT_COLUMNS:
        v = floats.get(name)
        cols[name] = pa.array(np.full(n, np.nan) if v is None else np.asarray(v, np.float64)[m])
    return pa.table(cols, schema=CHAIN_SCHEMA)


class ChainSink:
    """Collects imported rows per symbol and writes them to the catalog in batches.

    Repeated (ts, contract) rows within an import keep the last one read and are reported
    under "duplicate"; a row already in the catalog is replaced (re-importing is idempotent).
    """

    def __init__(self, catalog: Catalog, report: ImportReport, *, recompute_greeks: bool = False,
                 flush_rows: int = 4_000_000, min_t_years: float = 0.0) -> None:  # fmt: skip
        self.catalog, self.report = catalog, report
        self.recompute = recompute_greeks
        self.min_t_years = min_t_years
        self.flush_rows = flush_rows
        self._pending: dict[str, list[pa.Table]] = {}
        self._rows = 0

    def add(self, symbol: str, table: pa.Table) -> None:
        if table.num_rows:
            self._pending.setdefault(symbol.upper(), []).append(table)
            self._rows += table.num_rows

    def file_done(self) -> None:
        """Called between files: write once enough rows are pending (never mid-file)."""
        if self._rows >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        for symbol, tables in self._pending.items():
            table = self._deduplicate(pa.concat_tables(tables))
            table, _, _ = sort_chain(conform_chain(table))
            table = add_greeks(table, rate=self.catalog.rate, recompute=self.recompute, min_t_years=self.min_t_years)
            self.catalog.write_chain(symbol, table, merge=True, compute_greeks=False)
            self.report.rows_imported += table.num_rows
            days = (ts_ns(table["ts"]) + IST_OFFSET_NS) // NS_PER_DAY
            self.report.days.setdefault(symbol, set()).update(
                date.fromordinal(date(1970, 1, 1).toordinal() + int(d)) for d in np.unique(days)
            )
        self._pending.clear()
        self._rows = 0

    def _deduplicate(self, table: pa.Table) -> pa.Table:
        t_row, k_row = ts_ns(table["ts"]), chain_keys(table)
        order = np.lexsort((np.arange(len(t_row)), k_row, t_row))
        t, k = t_row[order], k_row[order]
        repeated = np.zeros(len(t), bool)
        repeated[:-1] = (t[1:] == t[:-1]) & (k[1:] == k[:-1])  # a later row of the same key follows
        if not repeated.any():
            return table
        reason = "duplicate (same time and contract; the last one read is kept)"
        self.report.rejected[reason] += int(repeated.sum())
        examples = self.report.examples.setdefault(reason, [])
        for i in order[repeated][: max(0, MAX_EXAMPLES - len(examples))]:
            row = table.slice(int(i), 1).to_pylist()[0]
            when = ns_to_ist(int(t_row[i]))
            examples.append(
                f"{when:%Y-%m-%d %H:%M:%S} {row['expiry']} {row['strike']:g} {row['right']}"
            )
        return table.take(np.sort(order[~repeated]))


def import_each(
    kind: str, catalog: Catalog, files: Sequence[Path], import_one: Callable[[Path, ImportReport, ChainSink], None],
    *, recompute_greeks: bool, on_file: FileCallback | None, min_t_years: float = 0.0,
) -> ImportReport:  # fmt: skip
    """Run ``import_one`` over ``files`` into one sink, counting files; the loop every importer shares.

    ``min_t_years`` floors time to expiry for the greeks (end-of-day prices, see bhavcopy).
    """
    report = ImportReport(kind)
    sink = ChainSink(catalog, report, recompute_greeks=recompute_greeks, min_t_years=min_t_years)
    for path in files:
        import_one(path, report, sink)
        report.files += 1
        sink.file_done()
        if on_file:
            on_file(path)
    sink.flush()
    return report


def expand_inputs(paths: Iterable[str | Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Files named by ``paths``: files as given, folders searched (recursively) for ``suffixes``,
    glob patterns expanded. A path matching nothing is an error naming it."""
    out: list[Path] = []
    for item in paths:
        p = Path(item)
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            found = sorted(
                f for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(suffixes)
            )
            if not found:
                raise DataImportError(f"{p}: folder holds no {'/'.join(suffixes)} files")
            out.extend(found)
        elif any(ch in str(item) for ch in "*?["):
            found = sorted(
                Path(f) for f in glob.glob(str(item), recursive=True) if Path(f).is_file()
            )
            if not found:
                raise DataImportError(f"{item}: no files match this pattern")
            out.extend(found)
        else:
            raise DataImportError(f"{p}: no such file or folder")
    return list(dict.fromkeys(out))
