"""One trading day of one underlying's chain, held as NumPy columns, sliced into snapshots.

The catalog stores a day sorted by (ts, contract key), so each snapshot is a contiguous run
of rows: building a :class:`ChainSnapshot` is a handful of array *views* plus a precomputed
key, with no sorting and no copying. That is what lets a backtest walk a year of minute
chains in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from optrunner.core.timeutil import to_epoch_ns
from optrunner.data.schema import CHAIN_FLOAT_COLUMNS, expiry_days, is_call_array, ns_to_ist, ts_ns
from optrunner.data.snapshot import FLOAT_COLUMNS, ChainSnapshot, contract_keys

if TYPE_CHECKING:
    from optrunner.data.quality import DataQuality


@dataclass(slots=True, eq=False)
class DayChain:
    """A day's chain rows. ``columns`` maps column name -> array (read-only).

    Holds ``expiry`` (datetime64[D]), ``strike``, ``is_call``, ``key`` and every numeric
    catalog column; a column not read (``Catalog.day(columns=...)``) is all NaN, sharing
    one array.
    """

    symbol: str
    day: date
    ts: np.ndarray  # int64 ns UTC per row, ascending
    columns: dict[str, np.ndarray]
    starts: np.ndarray  # first row of each snapshot, plus len(rows) at the end
    quality: DataQuality | None = None  # what the replay's quality check dropped (None: unchecked)
    ranges: dict[str, tuple[float, float] | None] | None = None  # file statistics: (min, max)

    @classmethod
    def from_table(cls, symbol: str, day: date, table: pa.Table) -> DayChain:
        """From a catalog day table (already sorted by ts then contract key)."""
        ts = ts_ns(table["ts"])
        days = expiry_days(table["expiry"])
        strike = _numpy(table["strike"])
        is_call = is_call_array(table["right"])
        cols: dict[str, np.ndarray] = {
            "expiry": days.astype("datetime64[D]"),
            "strike": strike,
            "is_call": is_call,
            "key": contract_keys(days, strike, is_call),
        }
        nan = np.full(len(ts), np.nan)
        for name in CHAIN_FLOAT_COLUMNS:
            cols[name] = _numpy(table[name]) if name in table.column_names else nan
        for arr in cols.values():
            arr.flags.writeable = False
        return cls(symbol, day, ts, cols, _starts(ts))

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def n_snapshots(self) -> int:
        return len(self.starts) - 1

    @property
    def times(self) -> np.ndarray:
        """Each snapshot's instant (int64 ns UTC), ascending."""
        return self.ts[self.starts[:-1]]

    def index_at(self, ts: datetime) -> int | None:
        """The latest snapshot at or before ``ts`` (None when ``ts`` precedes the first)."""
        i = int(np.searchsorted(self.times, to_epoch_ns(ts), side="right")) - 1
        return i if i >= 0 else None

    def snapshot(self, i: int) -> ChainSnapshot:
        """Snapshot ``i`` of the day, built from views of the day's arrays."""
        a, b = int(self.starts[i]), int(self.starts[i + 1])
        cols = self.columns
        floats = {name: cols[name][a:b] for name in FLOAT_COLUMNS}
        return ChainSnapshot(
            self.symbol,
            ns_to_ist(self.ts[a]),
            float(cols["spot"][a]),
            cols["expiry"][a:b],
            cols["strike"][a:b],
            cols["is_call"][a:b],
            key=cols["key"][a:b],
            **floats,
        )

    def keep_rows(self, keep: np.ndarray) -> DayChain:
        """The day with only the rows where ``keep`` (a snapshot left with none disappears)."""
        cols = {name: arr[keep] for name, arr in self.columns.items()}
        for arr in cols.values():
            arr.flags.writeable = False
        ts = self.ts[keep]
        return DayChain(self.symbol, self.day, ts, cols, _starts(ts), self.quality)  # no ranges

    def snapshots(self) -> Iterator[ChainSnapshot]:
        for i in range(self.n_snapshots):
            yield self.snapshot(i)


def _starts(ts: np.ndarray) -> np.ndarray:
    """First row of each snapshot of time-sorted ``ts``, plus len(ts) (just [0] when empty)."""
    if not len(ts):
        return np.zeros(1, np.int64)
    bounds = np.flatnonzero(ts[1:] != ts[:-1]) + 1
    return np.concatenate(([0], bounds, [len(ts)])).astype(np.int64)


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    if column.num_chunks == 1:
        return column.chunk(0).to_numpy(zero_copy_only=False)
    return column.to_numpy()
