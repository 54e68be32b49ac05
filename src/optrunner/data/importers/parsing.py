"""Column parsers for text inputs: numbers, dates and times, with every bad cell reported.

Files are read with every column as text, so one malformed cell fails one row (counted
under a reason naming the column) instead of the whole file, and Indian formatting
("1,23,456", "-" for no value) is understood.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from optrunner.data.importers.common import DataImportError, RowChecks

EPOCH_FORMATS = {"epoch_s": 10**9, "epoch_ms": 10**6, "epoch_us": 10**3, "epoch_ns": 1}
_MISSING = ["", "-", "--", "NA", "N/A", "NAN", "NaN", "nan", "null", "NULL", "None"]
_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"


def read_table(path: Path) -> pa.Table:
    """A CSV (all columns as text, names stripped) or Parquet file; errors name the file."""
    try:
        if path.suffix.lower() == ".parquet":
            table = pq.read_table(path)
        else:
            with path.open(newline="", encoding="utf-8-sig") as f:
                header = next(csv.reader(f), [])
            table = pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()),
                                                     strings_can_be_null=False),
            )  # fmt: skip
    except (OSError, UnicodeDecodeError, csv.Error, pa.ArrowException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataImportError(
            f"{path}: not a readable {'Parquet' if path.suffix.lower() == '.parquet' else 'CSV'} file ({first})"
        ) from None
    return table.rename_columns([name.strip() for name in table.column_names])


def _text(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return pc.utf8_trim_whitespace(arr.cast(pa.string()))


def numbers(col: pa.ChunkedArray, checks: RowChecks, name: str) -> np.ndarray:
    """float64 per row; blanks and "-" are NaN (unknown), other non-numbers fail the row."""
    if (
        pa.types.is_integer(col.type)
        or pa.types.is_floating(col.type)
        or pa.types.is_decimal(col.type)
    ):
        return pc.fill_null(col.cast(pa.float64()), float("nan")).to_numpy()
    text = pc.replace_substring(_text(col), ",", "")
    missing = pc.fill_null(pc.is_in(text, value_set=pa.array(_MISSING)), True)
    numeric = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
    bad = pc.and_(pc.invert(missing), pc.invert(numeric)).to_numpy(zero_copy_only=False)
    checks.fail(f"not a number in column {name!r}", bad, text.to_pylist() if bad.any() else None)
    usable = pc.if_else(numeric, text, pa.scalar(None, pa.string()))
    return pc.fill_null(usable.cast(pa.float64()), float("nan")).to_numpy()


def utc_offset_ns(timezone: str) -> int:
    """The fixed UTC offset of ``timezone`` (IST has no DST, so one offset is exact)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DataImportError(
            f"timezone {timezone!r} is unknown; use e.g. Asia/Kolkata or UTC"
        ) from None
    offsets = {zone.utcoffset(datetime(2024, m, 1)) for m in (1, 7)}
    if len(offsets) != 1:
        raise DataImportError(
            f"timezone {timezone!r} has daylight saving; give UTC or offset-free IST times"
        )
    return int(offsets.pop().total_seconds()) * 10**9


def timestamps(
    col: pa.ChunkedArray, fmt: str, timezone: str, checks: RowChecks, name: str
) -> np.ndarray:
    """int64 ns UTC per row. ``fmt``: strptime pattern (naive times are in ``timezone``;
    a %z in the pattern reads the offset) or epoch_s/ms/us/ns for numbers."""
    if pa.types.is_timestamp(col.type):
        arr = col.combine_chunks()
        values = arr.cast(pa.timestamp("ns", tz=arr.type.tz)).view(pa.int64())
        shift = 0 if arr.type.tz else utc_offset_ns(timezone)
        bad = arr.is_null().to_numpy(zero_copy_only=False)
        checks.fail(f"empty time in column {name!r}", bad)
        return pc.fill_null(values, 0).to_numpy() - shift
    if fmt in EPOCH_FORMATS:
        raw = numbers(col, checks, name)
        checks.fail(f"empty time in column {name!r}", np.isnan(raw))
        return np.where(np.isfinite(raw), raw, 0).astype(np.int64) * EPOCH_FORMATS[fmt]
    text = _text(col)
    parsed = pc.strptime(text, format=fmt, unit="ns", error_is_null=True)
    bad = parsed.is_null().to_numpy(zero_copy_only=False)
    checks.fail(
        f"time in column {name!r} is not like {fmt}", bad, text.to_pylist() if bad.any() else None
    )
    values = pc.fill_null(parsed.view(pa.int64()), 0).to_numpy()
    return values if parsed.type.tz else values - utc_offset_ns(timezone)


def dates(col: pa.ChunkedArray, fmt: str, checks: RowChecks, name: str) -> np.ndarray:
    """int64 days since 1970-01-01 per row (``fmt`` a strptime pattern such as %d-%b-%Y)."""
    if pa.types.is_date(col.type) or pa.types.is_timestamp(col.type):
        arr = col.combine_chunks()
        if pa.types.is_timestamp(arr.type) and arr.type.tz:
            arr = pc.local_timestamp(arr)  # the date on the wall clock of its own zone
        arr = arr.cast(pa.date32())
        checks.fail(f"empty date in column {name!r}", arr.is_null().to_numpy(zero_copy_only=False))
        return pc.fill_null(arr.view(pa.int32()), 0).to_numpy().astype(np.int64)
    text = _text(col)
    parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
    bad = parsed.is_null().to_numpy(zero_copy_only=False)
    checks.fail(
        f"date in column {name!r} is not like {fmt}", bad, text.to_pylist() if bad.any() else None
    )
    return pc.fill_null(parsed.view(pa.int64()), 0).to_numpy() // 86_400


def rights(
    col: pa.ChunkedArray, values: dict[str, str], checks: RowChecks, name: str
) -> np.ndarray:
    """is_call per row via ``values`` (their text, any case -> "CE"/"PE"); others fail the row."""
    text = pc.utf8_upper(_text(col))
    lookup = {k.upper(): v for k, v in values.items()}
    idx = pc.fill_null(pc.index_in(text, value_set=pa.array(list(lookup))), -1).to_numpy()
    unknown = idx < 0
    checks.fail(f"option type in column {name!r} is not one of {sorted(lookup)}", unknown,
                text.to_pylist() if unknown.any() else None)  # fmt: skip
    is_call = np.array([v == "CE" for v in lookup.values()])
    return np.where(unknown, False, is_call[np.maximum(idx, 0)])
