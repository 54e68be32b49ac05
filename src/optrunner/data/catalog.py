"""The option-chain catalog: Parquet day partitions per underlying, queried with DuckDB.

Layout under ROOT::

    catalog.json                                     symbols, days, row counts, provenance
    incomplete.json                                  only while (or after an interrupted) write
    chains/symbol=NIFTY/date=2026-01-06/part-0.parquet  one row per (ts, expiry, strike, right)
    bars/symbol=NIFTY/date=2026-01-06/part-0.parquet    index minute bars

A day file is sorted by ts, then by ChainSnapshot's contract key, so a reader slices a day
into snapshots without sorting anything. A day is the unit of writing (replaced atomically:
a temporary file renamed over the old one) and of reading (a backtest streams days, reading
the next one in a background thread while the current one is consumed). Greeks are computed
once, when rows are written, never on read.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from optrunner.core.timeutil import to_ist
from optrunner.data.catalog_sql import CatalogSQL
from optrunner.data.daychain import DayChain
from optrunner.data.enrich import add_greeks
from optrunner.data.quality import DataQuality, check_day, parquet_ranges
from optrunner.data.schema import (
    BAR_SCHEMA,
    CHAIN_FLOAT_COLUMNS,
    CHAIN_SCHEMA,
    GREEK_COLUMNS,
    KEY_COLUMNS,
    SchemaError,
    chain_keys,
    conform_bars,
    conform_chain,
    ist_day_numbers,
    sort_chain,
    ts_ns,
)
from optrunner.data.snapshot import ChainSnapshot

META_FILE = "catalog.json"
INCOMPLETE_FILE = "incomplete.json"  # the writes begun and not finished (see Catalog.writing)
DEFAULT_RATE = 0.055
_FORMAT = 1
_SYMBOL = re.compile(r"^[A-Z0-9_&-]{1,32}$")
# Measured on a synthetic NIFTY day (229k rows): lz4 with byte-stream-split floats read
# ~2x faster than snappy/zstd and was within 10 % of zstd's size; dictionary pages only for
# the low-cardinality columns (elsewhere they cost write time and buy nothing).
_CHAIN_WRITE = {
    "compression": "lz4",
    "use_dictionary": ["ts", "expiry", "strike", "right", "spot", "future", "iv_source"],
    "use_byte_stream_split": [
        "bid",
        "ask",
        "ltp",
        "bid_qty",
        "ask_qty",
        "volume",
        "oi",
        *GREEK_COLUMNS,
    ],
    "row_group_size": 1 << 22,
}
_BAR_WRITE = {"compression": "lz4"}


class CatalogError(Exception):
    """A catalog that is missing, corrupt or lacks the asked-for data (one-line message)."""


class Catalog:
    """Read and write the chain catalog at ``root`` (which must already hold one).

    A catalog some write left unfinished (Ctrl-C during ``data synth``, a crash during an
    import) is refused by readers unless ``allow_incomplete``: a backtest on 8 of 20 asked-for
    days would look whole. Writers and ``data info`` open it anyway.
    """

    def __init__(self, root: str | Path, *, allow_incomplete: bool = False) -> None:
        self.root = Path(root)
        meta_path = self.root / META_FILE
        if not meta_path.is_file():
            raise CatalogError(
                f"{self.root}: no catalog here (no {META_FILE}); create one with "
                f"`optrunner data synth --data {self.root} ...` or `optrunner data import ... --data {self.root}`"
            )
        try:
            self._meta: dict[str, Any] = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise CatalogError(f"{meta_path}: unreadable catalog metadata ({exc})") from None
        self._sql: CatalogSQL | None = None
        self._cached: tuple[tuple[Any, ...], DayChain] | None = None
        self.quality = DataQuality()  # rows and snapshots the replay (days/snapshots) dropped
        if self.incomplete and not allow_incomplete:
            raise CatalogError(self.incomplete_message())

    @property
    def incomplete(self) -> list[str]:
        """The writes begun on this catalog and never finished (empty when it is whole)."""
        path = self.root / INCOMPLETE_FILE
        if not path.is_file():
            return []
        try:
            return list(json.loads(path.read_text()).get("writes", []))
        except (OSError, ValueError, AttributeError):
            return ["an unknown write (unreadable incomplete.json)"]

    def incomplete_message(self) -> str:
        return (f"{self.root} is incomplete: {'; '.join(self.incomplete)} was interrupted — "
                "run that command again to finish it (or delete the folder)")  # fmt: skip

    @contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """Mark ``what`` (the command, e.g. ``data synth --symbol NIFTY ...``) as in progress
        while the block runs; the mark stays if the block does not finish, so readers refuse
        the catalog until the same write is run again to the end."""
        pending = [w for w in self.incomplete if w != what]
        _atomic_write_bytes(self.root / INCOMPLETE_FILE, json.dumps({"writes": [*pending, what]}).encode())
        yield
        if pending:
            _atomic_write_bytes(self.root / INCOMPLETE_FILE, json.dumps({"writes": pending}).encode())
        else:
            (self.root / INCOMPLETE_FILE).unlink(missing_ok=True)

    @classmethod
    def create(cls, root: str | Path, *, rate: float = DEFAULT_RATE) -> Catalog:
        """Open the catalog at ``root``, creating an empty one (folders and catalog.json) if absent.

        ``rate`` is the risk-free rate the catalog computes IV and greeks with; it is fixed at
        creation so every row of a catalog uses the same one.
        """
        root = Path(root)
        if not (root / META_FILE).is_file():
            root.mkdir(parents=True, exist_ok=True)
            meta = {
                "format": _FORMAT,
                "created": _now(),
                "rate": rate,
                "symbols": {},
                "provenance": [],
            }
            _atomic_write_bytes(root / META_FILE, json.dumps(meta, indent=1).encode())
        return cls(root, allow_incomplete=True)

    @property
    def rate(self) -> float:
        return float(self._meta.get("rate", DEFAULT_RATE))

    # --- writing ---------------------------------------------------------------------------

    def write_chain(
        self, symbol: str, table: pa.Table, *, merge: bool = False, compute_greeks: bool = True
    ) -> int:
        """Store chain rows, one partition per IST date of ``ts``; returns rows written.

        Each touched day is replaced as a whole (``merge=False``), or merged with what is
        stored (``merge=True``: a stored row with the same ts and contract is replaced).
        Rows whose iv/greeks are incomplete get all five from Black-76 (``compute_greeks``).
        """
        sym = _check_symbol(symbol)
        table, t, _ = sort_chain(conform_chain(table))
        if compute_greeks:
            table = add_greeks(table, rate=self.rate)
        written = 0
        for day, a, b in _day_slices(t):
            part = table.slice(a, b - a)
            path = self._chain_path(sym, day)
            if merge and path.is_file():
                part = _merge_day(self._read(path, None), part)
            _write_parquet(part, path, _CHAIN_WRITE)
            self._record(sym, "chain_days", day, part.num_rows)
            stamps = ts_ns(part["ts"])
            self._record(sym, "snapshots", day, int(np.count_nonzero(np.diff(stamps))) + 1)
            written += b - a
        self._save_meta()
        return written

    def write_bars(self, symbol: str, table: pa.Table) -> int:
        """Store index bars (ts = bar start), replacing each touched IST day; returns rows written."""
        sym = _check_symbol(symbol)
        table = conform_bars(table)
        t = ts_ns(table["ts"])
        if len(t) > 1 and np.any(np.diff(t) <= 0):
            order = np.argsort(t, kind="stable")
            table, t = table.take(order), t[order]
            if np.any(np.diff(t) == 0):
                raise SchemaError(f"{sym} bars: two bars share a start time")
        for day, a, b in _day_slices(t):
            _write_parquet(table.slice(a, b - a), self._bars_path(sym, day), _BAR_WRITE)
            self._record(sym, "bar_days", day, b - a)
        self._save_meta()
        return table.num_rows

    def add_provenance(self, entry: dict[str, Any]) -> None:
        """Record where data came from (generator parameters, imported files) in catalog.json."""
        self._meta.setdefault("provenance", []).append({"at": _now(), **entry})
        self._save_meta()

    # --- listing -----------------------------------------------------------------------------

    def symbols(self) -> list[str]:
        base = self.root / "chains"
        if not base.is_dir():
            return []
        return sorted(
            p.name[7:] for p in base.iterdir() if p.name.startswith("symbol=") and any(p.iterdir())
        )

    def dates(self, symbol: str) -> list[date]:
        """Days with chain data for ``symbol``, ascending."""
        return _partition_dates(self.root / "chains" / f"symbol={symbol.upper()}")

    def bar_dates(self, symbol: str) -> list[date]:
        return _partition_dates(self.root / "bars" / f"symbol={symbol.upper()}")

    def snapshots_per_day(self, symbol: str) -> dict[date, int]:
        """Snapshots stored per day, from catalog.json (days written before it was recorded are absent)."""
        recorded = self._meta.get("symbols", {}).get(symbol.upper(), {}).get("snapshots", {})
        return {date.fromisoformat(d): int(n) for d, n in recorded.items()}

    def is_daily(self, symbol: str, days: Sequence[date] | None = None) -> bool:
        """True when every recorded day (of ``days``) holds one snapshot: an end-of-day catalog
        such as a bhavcopy import, which cannot drive a strategy that trades within the day."""
        counts = self.snapshots_per_day(symbol)
        if days is not None:
            counts = {d: n for d, n in counts.items() if d in set(days)}
        return bool(counts) and max(counts.values()) <= 1

    def info(self) -> list[dict[str, Any]]:
        """Per symbol: first/last date, days, chain rows, bar days and bytes on disk."""
        out = []
        for sym in self.symbols():
            days = self.dates(sym)
            recorded = self._meta.get("symbols", {}).get(sym, {}).get("chain_days", {})
            rows = sum(int(recorded.get(d.isoformat(), 0)) or self._rows(sym, d) for d in days)
            size = sum(
                f.stat().st_size
                for f in (self.root / "chains" / f"symbol={sym}").rglob("*.parquet")
            )
            out.append({"symbol": sym, "first": days[0], "last": days[-1], "days": len(days),
                        "rows": rows, "bytes": size, "bar_days": len(self.bar_dates(sym))})  # fmt: skip
        return out

    # --- reading -----------------------------------------------------------------------------

    def day(self, symbol: str, d: date, columns: Sequence[str] | None = None) -> DayChain:
        """A day's chain as NumPy columns; ``columns`` limits the numeric columns read.

        The day carries its file's column statistics (``ranges``) for the quality check.
        """
        sym = symbol.upper()
        path = self._chain_path(sym, d)
        if not path.is_file():
            raise CatalogError(f"no {sym} chain for {d} in {self.root}; {self._range_hint(sym)}")
        table, metadata = self._read_file(path, _read_columns(columns))
        day = DayChain.from_table(sym, d, table)
        day.ranges = parquet_ranges(metadata)
        return day

    def days(
        self, symbol: str, start: date | None = None, end: date | None = None,
        columns: Sequence[str] | None = None,
    ) -> Iterator[DayChain]:  # fmt: skip
        """Days in ``[start, end]`` in order, the next one read in the background.

        These are the days a replay (backtest, paper run, feed server) trades on, so rows no
        strategy should see are dropped here and counted in ``self.quality``; ``day()`` and
        ``chain_at()`` show the stored data as it is.
        """
        wanted = [
            d
            for d in self.dates(symbol)
            if (start is None or d >= start) and (end is None or d <= end)
        ]
        if not wanted:
            return
        with ThreadPoolExecutor(1, thread_name_prefix="catalog-read") as pool:
            pending = pool.submit(self._checked_day, symbol, wanted[0], columns)
            for nxt in [*wanted[1:], None]:
                current, quality = pending.result()
                if nxt is not None:
                    pending = pool.submit(self._checked_day, symbol, nxt, columns)
                self.quality.add(quality)
                yield current

    def _checked_day(
        self, symbol: str, d: date, columns: Sequence[str] | None
    ) -> tuple[DayChain, DataQuality]:
        """A day for replay: bad rows and stale snapshots dropped and counted (data/quality.py);
        the file's column statistics spare the check most of its passes over the data."""
        day = self.day(symbol, d, columns)
        return check_day(day, day.ranges)

    def snapshots(
        self, symbol: str, start: date | None = None, end: date | None = None,
        columns: Sequence[str] | None = None,
    ) -> Iterator[ChainSnapshot]:  # fmt: skip
        """Every snapshot in ``[start, end]`` in time order, streamed a day at a time."""
        for day in self.days(symbol, start, end, columns):
            yield from day.snapshots()

    def chain_at(self, symbol: str, ts: datetime) -> ChainSnapshot | None:
        """The latest snapshot at or before ``ts`` on ``ts``'s IST date (None if there is none)."""
        if ts.tzinfo is None:
            raise ValueError(f"naive datetime {ts!r}: attach a timezone (IST or UTC)")
        sym, d = symbol.upper(), to_ist(ts).date()
        path = self._chain_path(sym, d)
        if not path.is_file():
            return None
        st = path.stat()
        stamp = (sym, d, st.st_mtime_ns, st.st_size)
        if self._cached is None or self._cached[0] != stamp:
            self._cached = (stamp, self.day(sym, d))
        day = self._cached[1]
        i = day.index_at(ts)
        return None if i is None else day.snapshot(i)

    def bars(self, symbol: str, start: date | None = None, end: date | None = None) -> pa.Table:
        """Index minute bars in ``[start, end]`` (ts = bar start, UTC)."""
        sym = symbol.upper()
        days = [
            d
            for d in self.bar_dates(sym)
            if (start is None or d >= start) and (end is None or d <= end)
        ]
        if not days:
            return BAR_SCHEMA.empty_table()
        return pa.concat_tables(
            [self._read(self._bars_path(sym, d), None, chain=False) for d in days]
        )

    def query(self, sql: str) -> pa.Table:
        """Run DuckDB SQL over views ``chains`` and ``bars`` and the macro ``chain_day(symbol, date)``
        (see :mod:`optrunner.data.catalog_sql`); IST session time zone."""
        if self._sql is None:
            self._sql = CatalogSQL(self.root)
        try:
            return self._sql.query(sql)
        except duckdb.Error as exc:
            raise CatalogError(f"query failed: {exc}") from None

    # --- internals ---------------------------------------------------------------------------

    def _chain_path(self, sym: str, d: date) -> Path:
        return self.root / "chains" / f"symbol={sym}" / f"date={d.isoformat()}" / "part-0.parquet"

    def _bars_path(self, sym: str, d: date) -> Path:
        return self.root / "bars" / f"symbol={sym}" / f"date={d.isoformat()}" / "part-0.parquet"

    def _read(self, path: Path, columns: list[str] | None, *, chain: bool = True) -> pa.Table:
        """A day file; chain columns a file written before they existed (``iv_source``) read as NaN."""
        return self._read_file(path, columns, chain=chain)[0]

    def _read_file(
        self, path: Path, columns: list[str] | None, *, chain: bool = True
    ) -> tuple[pa.Table, pq.FileMetaData]:
        try:
            reader = pq.ParquetFile(path, read_dictionary=["right"] if chain else None)
            names = reader.schema_arrow.names
            asked = names if columns is None else [c for c in columns if c in names]
            table, metadata = reader.read(columns=asked, use_threads=True), reader.metadata
        except (OSError, KeyError, pa.ArrowException) as exc:
            raise CatalogError(
                f"{path}: unreadable Parquet file, truncated or corrupt ({type(exc).__name__}: {exc})"
            ) from None
        if chain:
            wanted = CHAIN_SCHEMA.names if columns is None else columns
            for name in wanted:
                if name not in table.column_names:
                    table = table.append_column(name, pa.array(np.full(table.num_rows, np.nan)))
        return table, metadata

    def _rows(self, sym: str, d: date) -> int:
        return pq.ParquetFile(self._chain_path(sym, d)).metadata.num_rows

    def _range_hint(self, sym: str) -> str:
        days = self.dates(sym)
        if days:
            return f"{sym} has {len(days)} day(s) from {days[0]} to {days[-1]}"
        known = self.symbols()
        return f"no {sym} data at all; symbols here: {', '.join(known) or 'none'}"

    def _record(self, sym: str, kind: str, day: date, rows: int) -> None:
        entry = self._meta.setdefault("symbols", {}).setdefault(sym, {})
        entry.setdefault(kind, {})[day.isoformat()] = rows

    def _save_meta(self) -> None:
        for entry in self._meta.get("symbols", {}).values():
            days = sorted(entry.get("chain_days", {}))
            entry["summary"] = {
                "first": days[0] if days else None, "last": days[-1] if days else None, "days": len(days),
                "rows": sum(entry.get("chain_days", {}).values()), "bar_days": len(entry.get("bar_days", {})),
                "max_snapshots_per_day": max(entry.get("snapshots", {}).values(), default=None),
            }  # fmt: skip
        _atomic_write_bytes(
            self.root / META_FILE, json.dumps(self._meta, indent=1, sort_keys=True).encode()
        )


def _check_symbol(symbol: str) -> str:
    sym = symbol.upper()
    if not _SYMBOL.match(sym):
        raise SchemaError(f"symbol {symbol!r} is not a plain index name like NIFTY")
    return sym


def _read_columns(columns: Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    unknown = sorted(set(columns) - set(CHAIN_FLOAT_COLUMNS))
    if unknown:
        raise CatalogError(
            f"unknown chain column(s) {unknown}; numeric columns are {list(CHAIN_FLOAT_COLUMNS)}"
        )
    return [*KEY_COLUMNS, *dict.fromkeys(["spot", *columns])]


def _day_slices(t: np.ndarray) -> Iterator[tuple[date, int, int]]:
    """(IST date, start, stop) runs of a time-sorted int64 ns array."""
    days = ist_day_numbers(t)
    cuts = np.concatenate(([0], np.flatnonzero(np.diff(days)) + 1, [len(days)]))
    for a, b in itertools.pairwise(cuts):
        yield date.fromordinal(date(1970, 1, 1).toordinal() + int(days[a])), int(a), int(b)


def _merge_day(old: pa.Table, new: pa.Table) -> pa.Table:
    """Stored rows not superseded by ``new`` (same ts and contract), plus ``new``, sorted."""
    both = pa.concat_tables([old.select(CHAIN_SCHEMA.names).cast(CHAIN_SCHEMA), new])
    t, k = ts_ns(both["ts"]), chain_keys(both)
    source = np.repeat(np.array([0, 1], np.int8), [old.num_rows, new.num_rows])
    order = np.lexsort((source, k, t))  # a stored row sorts just before the new row replacing it
    t, k = t[order], k[order]
    superseded = np.zeros(len(order), bool)
    superseded[:-1] = (t[1:] == t[:-1]) & (k[1:] == k[:-1])
    return both.take(order[~superseded])


def _partition_dates(base: Path) -> list[date]:
    if not base.is_dir():
        return []
    out = []
    for p in base.iterdir():
        if p.name.startswith("date=") and (p / "part-0.parquet").is_file():
            try:
                out.append(date.fromisoformat(p.name[5:]))
            except ValueError:
                continue
    return sorted(out)


def _write_parquet(table: pa.Table, path: Path, options: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp, **options)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
