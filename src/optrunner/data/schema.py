"""The catalog's table layouts and the checks every table passes before it is stored.

One place defines the columns, their types and their order, so the writer, the readers, the
importers and the generator cannot drift apart. Times are int64 nanoseconds since the epoch
(UTC) on disk; the trading *date* of a row is its IST date, which is what partitions use.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optrunner.core.timeutil import IST
from optrunner.data.snapshot import contract_keys

TS_TYPE = pa.timestamp("ns", tz="UTC")
KEY_COLUMNS = ("ts", "expiry", "strike", "right")
GREEK_COLUMNS = ("iv", "delta", "gamma", "theta", "vega")
# iv_source: the IV the source file published (NSE's screen: spot Black-Scholes at r = 10 %),
# kept beside our Black-76 iv so users can compare the two conventions; NaN when none.
CHAIN_FLOAT_COLUMNS = (
    "spot", "future", "bid", "ask", "ltp", "bid_qty", "ask_qty", "volume", "oi", *GREEK_COLUMNS, "iv_source",
)  # fmt: skip
CHAIN_SCHEMA = pa.schema(
    [
        ("ts", TS_TYPE),
        ("expiry", pa.date32()),
        ("strike", pa.float64()),
        ("right", pa.string()),
        *[(name, pa.float64()) for name in CHAIN_FLOAT_COLUMNS],
    ]
)
BAR_COLUMNS = ("open", "high", "low", "close", "volume")
BAR_SCHEMA = pa.schema([("ts", TS_TYPE), *[(name, pa.float64()) for name in BAR_COLUMNS]])

NS_PER_MINUTE = 60 * 10**9
NS_PER_DAY = 86_400 * 10**9
IST_OFFSET_NS = 19_800 * 10**9  # +05:30; India keeps no daylight saving
# 15:30 IST is 10:00 UTC: the instant an expiry day's contracts settle
EXPIRY_CLOSE_UTC_NS = 10 * 3600 * 10**9


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SchemaError(ValueError):
    """A table that cannot be stored as it is: says which column and what to change."""


def ist_day_numbers(ts_ns: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of each instant's IST calendar date (the partition date)."""
    return (np.asarray(ts_ns, dtype=np.int64) + IST_OFFSET_NS) // NS_PER_DAY


def ns_to_ist(ns: int) -> datetime:
    """An IST datetime from epoch nanoseconds, exact to the microsecond (no float rounding)."""
    return (_EPOCH + timedelta(microseconds=int(ns) // 1000)).astimezone(IST)


def ts_ns(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An int64 ns view of a timestamp column (no copy when it is one chunk)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column.view(pa.int64()).to_numpy(zero_copy_only=False)


def expiry_days(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A date32 column as int64 days since the epoch."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column.view(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)


def is_call_array(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Bool per row from a "CE"/"PE" column (plain or dictionary-encoded)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_dictionary(column.type):
        calls = pc.equal(column.dictionary, "CE").to_numpy(zero_copy_only=False)
        return calls[column.indices.to_numpy(zero_copy_only=False)]
    return pc.equal(column, "CE").to_numpy(zero_copy_only=False)


def chain_keys(table: pa.Table) -> np.ndarray:
    """ChainSnapshot's int64 contract key (expiry, right, strike) per row of a chain table."""
    return contract_keys(
        expiry_days(table["expiry"]), table["strike"].to_numpy(), is_call_array(table["right"])
    )


def conform_chain(table: pa.Table) -> pa.Table:
    """The table in CHAIN_SCHEMA order and types; missing numeric columns become NaN.

    Nulls in numeric columns become NaN (the catalog's one spelling of "unknown"); nulls or
    bad values in the contract columns are errors, because a row without a contract or a
    time cannot be placed.
    """
    missing = [c for c in KEY_COLUMNS if c not in table.column_names]
    if missing:
        raise SchemaError(f"chain table lacks column(s) {missing}; it needs {list(KEY_COLUMNS)}")
    extra = sorted(set(table.column_names) - set(CHAIN_SCHEMA.names))
    if extra:
        raise SchemaError(
            f"chain table has column(s) {extra} the catalog does not store; known: {CHAIN_SCHEMA.names}"
        )
    n = table.num_rows
    ts = table["ts"]
    if not pa.types.is_timestamp(ts.type) or ts.type.tz is None:
        raise SchemaError(f"column 'ts' must be a timezone-aware timestamp, got {ts.type}")
    cols: dict[str, pa.ChunkedArray | pa.Array] = {"ts": ts.cast(TS_TYPE)}
    for name, typ in (("expiry", pa.date32()), ("strike", pa.float64()), ("right", pa.string())):
        try:
            cols[name] = table[name].cast(typ)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaError(f"column {name!r} cannot be read as {typ}: {exc}") from None
    for name in KEY_COLUMNS:
        nulls = cols[name].null_count
        if nulls:
            raise SchemaError(
                f"column {name!r} has {nulls} empty value(s); every row needs a time and a contract"
            )
    bad_right = pc.invert(pc.is_in(cols["right"], value_set=pa.array(["CE", "PE"])))
    if pc.any(bad_right).as_py():
        values = pc.unique(pc.filter(cols["right"], bad_right)).to_pylist()[:5]
        raise SchemaError(f"column 'right' must hold CE or PE, found {values}")
    for name in CHAIN_FLOAT_COLUMNS:
        if name in table.column_names:
            col = table[name].cast(pa.float64())
            cols[name] = pc.fill_null(col, float("nan")) if col.null_count else col
        else:
            cols[name] = pa.array(np.full(n, np.nan))
    return pa.Table.from_arrays([cols[name] for name in CHAIN_SCHEMA.names], schema=CHAIN_SCHEMA)


def conform_bars(table: pa.Table) -> pa.Table:
    """Index bars in BAR_SCHEMA order and types (volume NaN when absent)."""
    missing = [c for c in ("ts", "open", "high", "low", "close") if c not in table.column_names]
    if missing:
        raise SchemaError(
            f"bar table lacks column(s) {missing}; it needs ts, open, high, low, close"
        )
    ts = table["ts"]
    if not pa.types.is_timestamp(ts.type) or ts.type.tz is None:
        raise SchemaError(f"column 'ts' must be a timezone-aware timestamp, got {ts.type}")
    cols = [ts.cast(TS_TYPE)]
    for name in BAR_COLUMNS:
        if name in table.column_names:
            col = table[name].cast(pa.float64())
            cols.append(pc.fill_null(col, float("nan")) if col.null_count else col)
        else:
            cols.append(pa.array(np.full(table.num_rows, np.nan)))
    return pa.Table.from_arrays(cols, schema=BAR_SCHEMA)


def sort_chain(table: pa.Table) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Rows ordered by (ts, contract key), with their ts (int64 ns) and keys in that order.

    Raises SchemaError on a repeated (ts, contract): two quotes for one contract at one
    instant cannot both be true, and silently keeping one would hide a bad source.
    """
    t = ts_ns(table["ts"])
    key = chain_keys(table)
    if len(t) > 1 and not _is_sorted(t, key):
        order = np.lexsort((key, t))
        table, t, key = table.take(order), t[order], key[order]
    dup = np.flatnonzero((t[1:] == t[:-1]) & (key[1:] == key[:-1]))
    if len(dup):
        i = int(dup[0]) + 1
        row = {c: table[c][i].as_py() for c in KEY_COLUMNS}
        raise SchemaError(f"{len(dup)} duplicate (ts, expiry, strike, right) row(s), first: {row}")
    return table, t, key


def _is_sorted(t: np.ndarray, key: np.ndarray) -> bool:
    dt = np.diff(t)
    return bool(np.all((dt > 0) | ((dt == 0) & (np.diff(key) > 0))))
