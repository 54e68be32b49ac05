"""Data quality at the door: option-chain rows no strategy should ever see, dropped and counted.

Every source that hands chains to the kernel — the catalog replay, the seed SQLite poller,
the WebSocket feed — and every importer runs its rows through :func:`row_reasons` so that a
zero, negative, crossed, absurd or infinite price, or a greek no model can produce, never
reaches a strategy, a fill or the catalog. A bad row is *dropped and counted by reason*
(never silently, never by raising); a snapshot left with too few valid rows, or with no
usable spot, is not delivered at all and counts as stale: trading on half a chain is worse
than waiting for the next one.

What counts as bad (NaN is "unknown" in a chain, not bad: a bhavcopy row without quotes, a
deep ITM option without an IV are legitimate):

* ``non_finite``   an infinite price, IV or greek, or a strike that is NaN/infinite;
* ``non_positive`` a strike, bid, ask or last price <= 0;
* ``crossed``      bid > ask;
* ``absurd``       a bid, ask or last price above 10x max(spot, strike) (no option is worth
  more than the larger of its underlying and its strike);
* ``impossible_greeks`` |delta| > 1, or a negative gamma, vega or IV;
* ``bad_spot``     the snapshot's spot is missing, infinite or <= 0 (all its rows go).

The catalog path is hot (a backtest reads ~50 M rows a year), so a day is first screened
(:func:`looks_clean`) by each column's (min, max) — taken from the day file's Parquet
statistics, which cost nothing — plus the passes statistics cannot replace (spot and strike,
where NaN is bad, and bid > ask): about half a millisecond a day, on the background reader
thread. Only a day that fails the screen pays for per-row reason codes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optrunner.data.daychain import DayChain

NON_FINITE = "non_finite"
NON_POSITIVE = "non_positive"
CROSSED = "crossed"
ABSURD = "absurd"
IMPOSSIBLE_GREEKS = "impossible_greeks"
BAD_SPOT = "bad_spot"
# Reason of code i + 1 (code 0 = a good row); a row gets the code of its first failing check.
REASONS = (NON_FINITE, NON_POSITIVE, CROSSED, ABSURD, IMPOSSIBLE_GREEKS, BAD_SPOT)
# How an import report words them (crossed as RowChecks already does, so the counts merge).
REASON_TEXT = {
    NON_FINITE: "infinite price or greek",
    NON_POSITIVE: "zero price (bid, ask or ltp is 0)",
    CROSSED: "crossed quote (bid > ask)",
    ABSURD: "absurd price (above 10x the larger of spot and strike)",
    IMPOSSIBLE_GREEKS: "impossible greek (|delta| > 1, or a negative gamma, vega or iv)",
    BAD_SPOT: "spot not a positive number",
}
ABSURD_MULTIPLE = 10.0
MIN_VALID_FRACTION = 0.5  # a snapshot with fewer valid rows than this share is stale

_PRICES = ("bid", "ask", "ltp")
_GREEKS = ("iv", "delta", "gamma", "vega")
_NON_NEGATIVE = ("iv", "gamma", "vega")


@dataclass(slots=True)
class DataQuality:
    """Rows dropped by reason and snapshots not delivered (stale) — what ``summary.json`` shows."""

    dropped: Counter[str] = field(default_factory=Counter)
    stale_snapshots: int = 0

    def add(self, other: DataQuality) -> None:
        self.dropped.update(other.dropped)
        self.stale_snapshots += other.stale_snapshots

    def count(self, codes: np.ndarray) -> None:
        """Count the non-zero reason codes of :func:`row_reasons`."""
        tally = np.bincount(codes, minlength=len(REASONS) + 1)
        for code in np.flatnonzero(tally[1:]):
            self.dropped[REASONS[code]] += int(tally[code + 1])

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "dropped": dict(sorted(self.dropped.items())),
            "stale_snapshots": self.stale_snapshots,
        }

    def describe(self) -> str:
        """One line for a console summary: "clean" or what was dropped."""
        if not self.dropped and not self.stale_snapshots:
            return "clean (no rows dropped)"
        reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(self.dropped.items()))
        return f"{self.rows_dropped:,} rows dropped ({reasons}); {self.stale_snapshots:,} stale snapshots"


def _column(columns: Mapping[str, np.ndarray], name: str, n: int) -> np.ndarray:
    value = columns.get(name)
    return np.full(n, np.nan) if value is None else np.asarray(value, dtype=np.float64)


Ranges = Mapping[str, "tuple[float, float] | None"]  # column -> (min, max) ignoring NaN


def parquet_ranges(metadata: Any) -> dict[str, tuple[float, float] | None]:
    """Each float column's (min, max) from a Parquet file's statistics, NaN ignored as Arrow
    writes them; None for a column a row group has no min/max for (all NaN, or not recorded).

    Free: the footer is read anyway. The catalog writes these files itself, so their
    statistics describe their rows; a file from elsewhere is only as honest as its writer.
    """
    out: dict[str, tuple[float, float] | None] = {}
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for j in range(group.num_columns):
            column = group.column(j)
            name, stats = column.path_in_schema, column.statistics
            if name in out and out[name] is None:
                continue
            if stats is None or not stats.has_min_max or not isinstance(stats.min, float):
                out[name] = None
                continue
            seen = out.get(name)
            lo, hi = float(stats.min), float(stats.max)
            out[name] = (lo, hi) if seen is None else (min(seen[0], lo), max(seen[1], hi))
    return out


def _range(values: np.ndarray) -> tuple[float, float] | None:
    lo, hi = np.fmin.reduce(values), np.fmax.reduce(values)  # skip NaN: unknown is fine
    return None if lo != lo else (float(lo), float(hi))


def looks_clean(
    spot: np.ndarray, columns: Mapping[str, np.ndarray], ranges: Ranges | None = None
) -> bool:
    """True when no row can fail a check; False means "maybe": compute :func:`row_reasons`.

    ``spot`` is each snapshot's spot (or each row's); ``columns`` holds strike, bid, ask,
    ltp, iv, delta, gamma, vega (absent ones count as all NaN). Each price and greek column
    is screened by its (min, max): from ``ranges`` when given (a Parquet file's statistics:
    no pass over the data at all), else two NumPy reductions. Spot and strike, where NaN is
    bad, and bid > ask, which needs both columns, are always checked on the data.
    """
    spot = np.asarray(spot, dtype=np.float64)
    if not len(spot):
        return True
    low_spot = float(spot.min())  # min/max propagate NaN, so a NaN spot fails both tests
    if not (low_spot > 0.0 and float(spot.max()) < np.inf):
        return False
    strike = columns["strike"]
    if len(strike) and not (float(strike.min()) > 0.0 and float(strike.max()) < np.inf):
        return False
    cap = ABSURD_MULTIPLE * low_spot  # every row's cap is at least this
    for name in (*_PRICES, *_GREEKS):
        values = columns.get(name)
        if values is None or not len(values):
            continue
        bounds = (
            ranges[name] if ranges is not None and ranges.get(name) is not None else _range(values)
        )
        if bounds is None:  # all NaN: nothing to check in this column
            continue
        lo, hi = bounds
        if name in _PRICES:
            ok = lo > 0.0 and hi <= cap
        elif name == "delta":
            ok = lo >= -1.0 and hi <= 1.0
        else:
            ok = lo >= 0.0 and hi < np.inf
        if not ok:
            return False
    bid, ask = columns.get("bid"), columns.get("ask")
    return bid is None or ask is None or not np.greater(bid, ask).any()


def row_reasons(
    spot: np.ndarray | float, columns: Mapping[str, np.ndarray], *, missing_spot_ok: bool = False
) -> np.ndarray:
    """uint8 per row: 0 for a good row, else 1 + the index in :data:`REASONS` of its first problem.

    ``spot`` is a float or one value per row; ``columns`` as for :func:`looks_clean`.
    ``missing_spot_ok``: a NaN spot is "unknown", not bad (the catalog stores legacy bhavcopy
    rows without one; a replay still refuses them). Vectorised; the checks run in reverse
    order so that the first failing one wins.
    """
    strike = np.asarray(columns["strike"], dtype=np.float64)
    n = len(strike)
    s = np.broadcast_to(np.asarray(spot, dtype=np.float64), (n,))
    bid, ask, ltp = (_column(columns, name, n) for name in _PRICES)
    iv, delta, gamma, vega = (_column(columns, name, n) for name in _GREEKS)
    codes = np.zeros(n, np.uint8)
    with np.errstate(invalid="ignore"):
        greeks = (np.abs(delta) > 1.0) | (gamma < 0.0) | (vega < 0.0) | (iv < 0.0)
        codes[greeks] = 5
        cap = ABSURD_MULTIPLE * np.where(s > strike, s, strike)
        codes[(bid > cap) | (ask > cap) | (ltp > cap)] = 4
        codes[bid > ask] = 3
        codes[~(strike > 0.0) | (bid <= 0.0) | (ask <= 0.0) | (ltp <= 0.0)] = 2
        infinite = ~np.isfinite(strike)
        for values in (bid, ask, ltp, iv, delta, gamma, vega):
            infinite |= np.isinf(values)
        codes[infinite] = 1
        bad_spot = ~((s > 0.0) & (s < np.inf))
        if missing_spot_ok:
            bad_spot &= ~np.isnan(s)
        codes[bad_spot] = 6
    return codes


def snapshot_is_stale(valid: int, total: int) -> bool:
    """Too few valid rows to trade on: none at all, or fewer than MIN_VALID_FRACTION of them."""
    return valid == 0 or valid < MIN_VALID_FRACTION * total


def check_snapshot(snapshot: Any, quality: DataQuality) -> Any | None:
    """``snapshot`` (a ChainSnapshot) without its bad rows, or None when it is stale.

    Used by the live sources, one snapshot at a time; drops are added to ``quality``.
    """
    columns = {name: getattr(snapshot, name) for name in ("strike", *_PRICES, *_GREEKS)}
    spot = np.array([snapshot.spot], dtype=np.float64)
    if looks_clean(spot, columns):
        return snapshot if len(snapshot) else _stale(quality)
    codes = row_reasons(snapshot.spot, columns)
    quality.count(codes)
    keep = codes == 0
    if snapshot_is_stale(int(keep.sum()), len(codes)):
        return _stale(quality)
    return snapshot.select(keep)


def _stale(quality: DataQuality) -> None:
    quality.stale_snapshots += 1
    return None


def describe_codes(codes: np.ndarray) -> dict[str, int]:
    """{reason: rows} of a code array (for logs and tests)."""
    q = DataQuality()
    q.count(codes)
    return dict(q.dropped)


def check_day(day: DayChain, ranges: Ranges | None = None) -> tuple[DayChain, DataQuality]:
    """A catalog day without its bad rows and stale snapshots, and what was dropped.

    A clean day (the usual case) comes back as the same object after the cheap screen;
    ``ranges`` (the day file's Parquet statistics) make that screen nearly free.
    """
    quality = DataQuality()
    cols = day.columns
    if not len(day) or looks_clean(cols["spot"], cols, ranges):
        day.quality = quality
        return day, quality
    codes = row_reasons(cols["spot"], cols)
    quality.count(codes)
    keep = codes == 0
    valid = np.add.reduceat(keep.astype(np.int64), day.starts[:-1])
    total = np.diff(day.starts)
    stale = (valid == 0) | (valid < MIN_VALID_FRACTION * total)
    quality.stale_snapshots += int(stale.sum())
    keep &= ~np.repeat(stale, total)
    day.quality = quality
    return day.keep_rows(keep), quality


def total_quality(days: Iterable[DayChain]) -> DataQuality:
    """What the quality check dropped over ``days`` (unchecked days add nothing)."""
    out = DataQuality()
    for day in days:
        if day.quality is not None:
            out.add(day.quality)
    return out
