"""Generic CSV/Parquet chain files, read through a column mapping.

A mapping says which of the file's columns holds each catalog column (``ts`` — or ``date``
and ``time`` — ``expiry``, ``strike``, ``right`` and any of the numeric ones), how its dates,
times and option types are written, whether IV is in percent and which quantities are in
lots. It comes from a YAML/JSON file, a dict, or the built-in ``nse_minute`` for
minute-by-minute scrapes of NSE's option-chain screen.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from optrunner.data.catalog import Catalog
from optrunner.data.importers.common import (
    ChainSink,
    DataImportError,
    FileCallback,
    ImportReport,
    RowChecks,
    chain_table,
    import_each,
)
from optrunner.data.importers.parsing import dates, numbers, read_table, rights, timestamps
from optrunner.data.schema import CHAIN_FLOAT_COLUMNS, ist_day_numbers
from optrunner.instruments import canonical_symbol, get_index

TARGETS = ("ts", "date", "time", "expiry", "strike", "right", "symbol", *CHAIN_FLOAT_COLUMNS)
QUANTITIES = ("bid_qty", "ask_qty", "volume", "oi")
SUFFIXES = (".csv", ".parquet")


class TabularMapping(BaseModel):
    """How a file's columns become catalog columns (``columns``: ours -> theirs)."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str]
    timestamp_format: str = "%Y-%m-%d %H:%M:%S"  # or epoch_s / epoch_ms / epoch_us / epoch_ns
    date_format: str = "%Y-%m-%d"  # with separate date and time columns
    time_format: str = "%H:%M:%S"
    expiry_format: str = "%Y-%m-%d"
    timezone: str = "Asia/Kolkata"  # of times written without an offset
    right_values: dict[str, str] = {
        "CE": "CE",
        "PE": "PE",
        "CALL": "CE",
        "PUT": "PE",
        "C": "CE",
        "P": "PE",
    }
    iv_percent: bool = False  # applies to iv and iv_source
    optional: list[str] = []  # our columns a file may lack (a scrape without quotes): NaN then
    lots_columns: list[
        str
    ] = []  # quantities given in lots (NSE's chain screen shows OI in contracts)
    symbol: str | None = None  # when the file has no symbol column

    @field_validator("columns")
    @classmethod
    def _known_targets(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(TARGETS))
        if unknown:
            raise ValueError(f"unknown catalog column(s) {unknown}; map any of {list(TARGETS)}")
        return v

    @field_validator("right_values")
    @classmethod
    def _ce_pe(cls, v: dict[str, str]) -> dict[str, str]:
        bad = sorted({x for x in v.values() if x not in ("CE", "PE")})
        if bad:
            raise ValueError(f"right_values must map to CE or PE, not {bad}")
        return v

    @field_validator("optional")
    @classmethod
    def _optional_numbers(cls, v: list[str]) -> list[str]:
        bad = sorted(set(v) - set(CHAIN_FLOAT_COLUMNS))
        if bad:
            raise ValueError(f"optional may name numeric columns {list(CHAIN_FLOAT_COLUMNS)}, not {bad}")
        return v

    @field_validator("lots_columns")
    @classmethod
    def _quantities(cls, v: list[str]) -> list[str]:
        bad = sorted(set(v) - set(QUANTITIES))
        if bad:
            raise ValueError(f"lots_columns may hold {list(QUANTITIES)}, not {bad}")
        return v

    @model_validator(mode="after")
    def _required(self) -> TabularMapping:
        cols = self.columns
        missing = [c for c in ("expiry", "strike", "right") if c not in cols]
        if "ts" not in cols and not ("date" in cols and "time" in cols):
            missing.insert(0, "ts (or date and time)")
        if missing:
            raise ValueError(f"columns must map {missing}")
        return self


# NSE's IV (spot Black-Scholes, r = 10 %) goes to iv_source; iv and greeks are recomputed with
# Black-76. Public scrapes often lack quotes (and sometimes IV, spot or volume): those columns
# are optional, and fills then use LTP +/- a modelled half-spread.
NSE_MINUTE = TabularMapping(
    columns={
        "ts": "timestamp", "expiry": "expiry", "strike": "strike", "right": "option_type", "spot": "spot",
        "ltp": "ltp", "volume": "volume", "oi": "oi", "iv_source": "iv", "bid": "bid", "ask": "ask",
        "bid_qty": "bid_qty", "ask_qty": "ask_qty",
    },
    expiry_format="%d-%b-%Y",
    iv_percent=True,
    optional=["spot", "volume", "oi", "iv_source", "bid", "ask", "bid_qty", "ask_qty"],
    lots_columns=["oi", "volume"],
)  # fmt: skip
BUILTIN_MAPPINGS = {"nse_minute": NSE_MINUTE}


def load_mapping(source: str | Path | Mapping[str, Any] | TabularMapping) -> TabularMapping:
    """A mapping from a built-in name, a YAML/JSON file or a dict; problems are listed at once."""
    if isinstance(source, TabularMapping):
        return source
    if isinstance(source, str) and source in BUILTIN_MAPPINGS:
        return BUILTIN_MAPPINGS[source]
    if isinstance(source, Mapping):
        raw, where = dict(source), "mapping"
    else:
        path = Path(source)
        if not path.is_file():
            raise DataImportError(
                f"{path}: no such mapping file (built-in mappings: {', '.join(BUILTIN_MAPPINGS)})"
            )
        try:
            text = path.read_text()
            raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise DataImportError(f"{path}: unreadable mapping file ({exc})") from None
        where = str(path)
    try:
        return TabularMapping.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'mapping'}: {e['msg']}" for e in exc.errors()
        )
        raise DataImportError(f"{where}: {problems}") from None


def import_tabular(
    catalog: Catalog, files: Sequence[Path], mapping: str | Path | Mapping[str, Any] | TabularMapping,
    *, symbol: str | None = None, recompute_greeks: bool = False, on_file: FileCallback | None = None,
) -> ImportReport:  # fmt: skip
    """Import CSV/Parquet chain files through ``mapping`` into ``catalog``.

    ``symbol`` names the underlying when the file has no symbol column, and otherwise keeps
    only that symbol's rows (the others are counted as skipped).
    """
    m = load_mapping(mapping)
    return import_each(
        "tabular", catalog, files, lambda path, report, sink: _import_file(path, read_table(path), m, symbol, report, sink),
        recompute_greeks=recompute_greeks, on_file=on_file,
    )  # fmt: skip


def _import_file(
    path: Path,
    table: pa.Table,
    m: TabularMapping,
    symbol: str | None,
    report: ImportReport,
    sink: ChainSink,
) -> None:
    absent = {
        ours: theirs for ours, theirs in m.columns.items() if theirs not in table.column_names
    }
    missing = {ours: theirs for ours, theirs in absent.items() if ours not in m.optional}
    if missing:
        raise DataImportError(f"{path}: column(s) {sorted(missing.values())} (mapped to {sorted(missing)}) not found; "
                              f"the file has {table.column_names}")  # fmt: skip
    if absent:
        report.note(f"{path.name}: no {', '.join(sorted(absent.values()))} column(s): "
                    f"{', '.join(sorted(absent))} stored as NaN" + (
                    " (fills use LTP +/- a modelled half-spread)" if {"bid", "ask"} & set(absent) else ""))  # fmt: skip
    report.rows_read += table.num_rows
    col = {ours: table[theirs] for ours, theirs in m.columns.items() if ours not in absent}
    symbols = _symbols(path, col.get("symbol"), m.symbol or symbol, table.num_rows)
    only = None if symbol is None else canonical_symbol(symbol)
    wanted = np.ones(table.num_rows, bool) if only is None else symbols == only
    for other in np.unique(symbols[~wanted]):
        report.skipped[f"symbol {other} (importing {only})"] += int(np.sum(symbols == other))
    lines = np.flatnonzero(wanted) + (1 if path.suffix.lower() == ".parquet" else 2)  # CSV: header is line 1
    col = {name: c.filter(pa.array(wanted)) for name, c in col.items()}
    symbols = symbols[wanted]
    checks = RowChecks(report, path.name, lines)
    if "ts" in col:
        ts = timestamps(col["ts"], m.timestamp_format, m.timezone, checks, m.columns["ts"])
    else:
        joined = pc.binary_join_element_wise(
            col["date"].cast(pa.string()), col["time"].cast(pa.string()), " "
        )
        ts = timestamps(
            joined,
            f"{m.date_format} {m.time_format}",
            m.timezone,
            checks,
            f"{m.columns['date']} + {m.columns['time']}",
        )
    expiry = dates(col["expiry"], m.expiry_format, checks, m.columns["expiry"])
    is_call = rights(col["right"], m.right_values, checks, m.columns["right"])
    strike = numbers(col["strike"], checks, m.columns["strike"])
    floats = {
        name: numbers(col[name], checks, m.columns[name])
        for name in CHAIN_FLOAT_COLUMNS
        if name in col
    }
    for name in ("iv", "iv_source"):
        if m.iv_percent and name in floats:
            floats[name] = floats[name] / 100.0
    checks.common(ts, expiry, strike, floats)
    for name in m.lots_columns:
        if name in floats:
            floats[name] = floats[name] * _lot_sizes(symbols, expiry, ist_day_numbers(ts), checks)
    for sym in np.unique(symbols[checks.keep]):
        keep = checks.keep & (symbols == sym)
        sink.add(str(sym), chain_table(ts, expiry, strike, is_call, floats, keep))


def _symbols(path: Path, column: pa.ChunkedArray | None, fixed: str | None, n: int) -> np.ndarray:
    """Each row's trading symbol; aliases (NSE's ``NIFTY 50``, scrapes' ``NIFTY50``) resolved."""
    if column is not None:
        names = pc.unique(column.cast(pa.string())).to_pylist()
        canon = pa.array([canonical_symbol(x or "") for x in names])
        idx = pc.index_in(column.cast(pa.string()), value_set=pa.array(names))
        return np.asarray(canon.take(idx).to_pylist(), dtype=object).astype(str)
    if fixed is None:
        raise DataImportError(
            f"{path}: no symbol column is mapped; pass --symbol (or set symbol in the mapping)"
        )
    return np.full(n, canonical_symbol(fixed))


def _lot_sizes(symbols: np.ndarray, expiry_days: np.ndarray, trade_days: np.ndarray, checks: RowChecks) -> np.ndarray:
    """Units per lot for each row's contract on its trade date, from the index specifications."""
    lots = np.full(len(symbols), np.nan)
    for sym in np.unique(symbols):
        try:
            spec = get_index(str(sym))
        except KeyError:
            checks.fail(f"symbol {sym} has no lot size (quantities are in lots)", symbols == sym)
            continue
        rows = symbols == sym
        pairs = np.unique(np.stack([expiry_days[rows], trade_days[rows]]), axis=1)
        for e, t in pairs.T:
            when, on = (np.datetime64(int(x), "D").item() for x in (e, t))
            these = rows & (expiry_days == e) & (trade_days == t)
            try:
                lots[these] = spec.lot_size(when, on)
            except ValueError:
                checks.fail(f"{sym}: no lot size known for expiry {when}", these)
    return lots
