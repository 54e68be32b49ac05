"""NSE F&O bhavcopies (end-of-day files) as one 15:30 IST snapshot per trade date.

Two layouts, told apart by their header:

- legacy ``fo{DD}{MON}{YYYY}bhav.csv``: INSTRUMENT (OPTIDX / FUTIDX ...), SYMBOL, EXPIRY_DT
  (30-Jan-2020), STRIKE_PR, OPTION_TYP, CLOSE, CONTRACTS (in contracts), OPEN_INT (units),
  TIMESTAMP; the header ends with a trailing comma. It has no index level, so ``spot`` is NaN
  (ATM selection falls back on the forward).
- UDiFF ``BhavCopy_NSE_FO_0_0_0_{YYYYMMDD}_F_0000.csv`` (from July 2024): FinInstrmTp (IDO
  index option, IDF index future), TckrSymb, XpryDt, StrkPric, OptnTp, ClsPric, UndrlygPric,
  OpnIntrst, TtlTradgVol (both read as units), TradDt.

``ltp`` is the close of contracts that traded that day and NaN for the others (a close
without a trade is a stale or theoretical price); bid/ask are NaN. An index future of the
same expiry, when the file lists one, becomes the row's ``future``; other expiries get the
put-call-parity forward when the catalog computes greeks.

``spot``, in order of preference: a supplied index close (``index_closes``, from NSE's index
history file via :func:`read_index_closes`), UDiFF's ``UndrlygPric``, else the near-month
index future's close discounted to the trade date at the catalog's rate (F e^{-rT}; it
ignores the index's dividend yield, so it sits a few points high — good enough for ATM
selection and display, and the greeks use the forward, not spot).

IV on expiry day: the snapshot is stamped 15:30, the expiry instant, so T would be 0 and
every IV NaN. NSE's closing price is the volume-weighted average of the last 30 minutes,
centred on 15:15, so time to expiry is floored at :data:`CLOSE_PRICE_MINUTES` (15).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
from optrunner.data.importers.parsing import dates, numbers, read_table, rights
from optrunner.data.schema import IST_OFFSET_NS, NS_PER_DAY
from optrunner.instruments import canonical_symbol, get_index
from optrunner.instruments.calendar import MINUTES_PER_YEAR

SUFFIXES = (".csv",)
_CLOSE_NS = (15 * 60 + 30) * 60 * 10**9  # 15:30 IST after IST midnight
CLOSE_PRICE_MINUTES = 15.0  # the close is the VWAP of 15:00-15:30: priced ~15 minutes before 15:30
IndexCloses = Mapping[tuple[str, int], float]  # (symbol, trade day number) -> index close


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    instrument: str
    option: str
    future: str
    symbol: str
    expiry: str
    expiry_format: str
    strike: str
    right: str
    close: str
    volume: str
    volume_in_lots: bool
    oi: str
    trade_date: str
    trade_date_format: str
    underlying: str | None


LEGACY = Layout("legacy", "INSTRUMENT", "OPTIDX", "FUTIDX", "SYMBOL", "EXPIRY_DT", "%d-%b-%Y", "STRIKE_PR",
                "OPTION_TYP", "CLOSE", "CONTRACTS", True, "OPEN_INT", "TIMESTAMP", "%d-%b-%Y", None)  # fmt: skip
UDIFF = Layout("UDiFF", "FinInstrmTp", "IDO", "IDF", "TckrSymb", "XpryDt", "%Y-%m-%d", "StrkPric", "OptnTp",
               "ClsPric", "TtlTradgVol", False, "OpnIntrst", "TradDt", "%Y-%m-%d", "UndrlygPric")  # fmt: skip


def detect_layout(path: Path, columns: list[str]) -> Layout:
    for layout in (LEGACY, UDIFF):
        needed = [layout.instrument, layout.symbol, layout.expiry, layout.strike, layout.right, layout.close,
                  layout.volume, layout.oi, layout.trade_date]  # fmt: skip
        if layout.instrument in columns:
            missing = [c for c in needed if c not in columns]
            if missing:
                raise DataImportError(f"{path}: {layout.name} bhavcopy without column(s) {missing}")
            return layout
    raise DataImportError(f"{path}: not an NSE F&O bhavcopy (no INSTRUMENT or FinInstrmTp column)")


def import_bhavcopy(
    catalog: Catalog, files: Sequence[Path], *, symbol: str | None = None,
    recompute_greeks: bool = False, on_file: FileCallback | None = None,
    index_closes: IndexCloses | None = None,
) -> ImportReport:  # fmt: skip
    """Import bhavcopies; every index (or only ``symbol``) becomes an end-of-day snapshot.

    ``index_closes`` (see :func:`read_index_closes`) gives spot where the file has none.
    """
    only = None if symbol is None else canonical_symbol(symbol)

    def one(path: Path, report: ImportReport, sink: ChainSink) -> None:
        table = read_table(path)
        lay = detect_layout(path, table.column_names)
        _import_file(path, table, lay, only, report, sink, index_closes or {})

    return import_each("bhavcopy", catalog, files, one, recompute_greeks=recompute_greeks, on_file=on_file,
                       min_t_years=CLOSE_PRICE_MINUTES / MINUTES_PER_YEAR)  # fmt: skip


def _text(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(
        pc.utf8_upper(pc.utf8_trim_whitespace(table[name].cast(pa.string()))).to_pylist(), dtype=str
    )


def _import_file(
    path: Path,
    table: pa.Table,
    lay: Layout,
    symbol: str | None,
    report: ImportReport,
    sink: ChainSink,
    index_closes: IndexCloses,
) -> None:
    report.rows_read += table.num_rows
    kind, sym = _text(table, lay.instrument), _text(table, lay.symbol)
    is_option, is_future = kind == lay.option, kind == lay.future
    for other in np.unique(kind[~is_option]):
        why = "index future: its close is the forward, not stored" if other == lay.future else "not an index option"
        report.skipped[f"{why} ({lay.instrument} {other})"] += int(np.sum(kind == other))
    wanted = is_option if symbol is None else is_option & (sym == symbol)
    if symbol is not None:
        for other in np.unique(sym[is_option & ~wanted]):
            report.skipped[f"symbol {other} (importing {symbol})"] += int(np.sum(is_option & (sym == other)))
    futures = _Futures(table.filter(pa.array(is_future)), lay, sym[is_future])
    opt = table.filter(pa.array(wanted))
    sym = sym[wanted]
    checks = RowChecks(report, path.name, np.flatnonzero(wanted) + 2)
    trade = dates(opt[lay.trade_date], lay.trade_date_format, checks, lay.trade_date)
    expiry = dates(opt[lay.expiry], lay.expiry_format, checks, lay.expiry)
    strike = numbers(opt[lay.strike], checks, lay.strike)
    is_call = rights(opt[lay.right], {"CE": "CE", "PE": "PE"}, checks, lay.right)
    close = numbers(opt[lay.close], checks, lay.close)
    volume = numbers(opt[lay.volume], checks, lay.volume)
    oi = numbers(opt[lay.oi], checks, lay.oi)
    traded = volume > 0
    if lay.volume_in_lots:
        volume = volume * _lots(sym, expiry, trade, report)
    ts = trade * NS_PER_DAY - IST_OFFSET_NS + _CLOSE_NS
    floats = {
        "ltp": np.where(traded, close, np.nan),
        "volume": volume,
        "oi": oi,
        "future": futures.forward(sym, trade, expiry),
    }
    given = numbers(opt[lay.underlying], checks, lay.underlying) if lay.underlying else np.full(len(sym), np.nan)
    floats["spot"] = _spot(sym, trade, given, index_closes, futures, sink.catalog.rate, report)
    checks.common(ts, expiry, strike, floats)
    untraded = int(np.sum(~traded & checks.keep))
    if untraded:
        report.note(f"{untraded} option row(s) had no trades that day: their ltp and IV are NaN")
    for s in np.unique(sym[checks.keep]):
        sink.add(str(s), chain_table(ts, expiry, strike, is_call, floats, checks.keep & (sym == s)))


class _Futures:
    """The file's index-future closes: the forward of an expiry and the near month per day."""

    def __init__(self, fut: pa.Table, lay: Layout, sym: np.ndarray) -> None:
        scratch = RowChecks(ImportReport("futures"), "", np.arange(fut.num_rows))  # feeds lookups only
        trade = dates(fut[lay.trade_date], lay.trade_date_format, scratch, lay.trade_date)
        expiry = dates(fut[lay.expiry], lay.expiry_format, scratch, lay.expiry)
        close = numbers(fut[lay.close], scratch, lay.close)
        ok = scratch.keep & (close > 0) & (expiry >= trade)
        self.closes: dict[tuple[str, int, int], float] = {
            (s, int(t), int(e)): float(c)
            for s, t, e, c in zip(sym[ok], trade[ok], expiry[ok], close[ok], strict=True)
        }
        self.near: dict[tuple[str, int], tuple[int, float]] = {}
        for (s, t, e), c in sorted(self.closes.items(), reverse=True):
            self.near[(s, t)] = (e, c)  # the last one written is the nearest expiry

    def forward(self, symbols: np.ndarray, trade_days: np.ndarray, expiry_days: np.ndarray) -> np.ndarray:
        """Per row, the future close of that (symbol, trade day, expiry); NaN if none."""
        if not self.closes:
            return np.full(len(symbols), np.nan)
        keys = zip(symbols, trade_days.tolist(), expiry_days.tolist(), strict=True)
        return np.array([self.closes.get(k, np.nan) for k in keys], dtype=np.float64)

    def near_spot(self, symbol: str, trade_day: int, rate: float) -> float:
        """The near-month future's close discounted to the trade date: F e^{-rT}, T in days / 365."""
        found = self.near.get((symbol, trade_day))
        if found is None:
            return math.nan
        expiry, close = found
        return close * math.exp(-rate * (expiry - trade_day) / 365.0)


def _spot(sym: np.ndarray, trade: np.ndarray, given: np.ndarray, index_closes: IndexCloses,
          futures: _Futures, rate: float, report: ImportReport) -> np.ndarray:  # fmt: skip
    """Spot per row: a supplied index close, else the file's underlying price, else the near future."""
    spot = np.where(given > 0, given, np.nan)
    for s, t in {(str(a), int(b)) for a, b in zip(sym, trade.tolist(), strict=True)}:
        rows = (sym == s) & (trade == t)
        day = np.datetime64(t, "D")
        if (s, t) in index_closes:
            spot[rows] = index_closes[(s, t)]
            report.note(f"{s}: spot from the supplied index closes")
        elif np.isnan(spot[rows]).all():
            near = futures.near_spot(s, t, rate)
            spot[rows] = near
            if np.isnan(near):
                report.note(f"{s} {day}: no index close, no underlying price and no index future: spot is NaN")
            else:
                report.note(f"{s}: spot = the near-month future's close discounted at r = {rate:.2%} "
                            "(pass --index-close for the real index close)")  # fmt: skip
    return spot


def read_index_closes(path: Path, symbol: str | None) -> dict[tuple[str, int], float]:
    """Index closes from a CSV like NSE's index history download (``Date``, ``Close``, and
    optionally ``Index Name``): {(symbol, day number): close}. Without an index-name column
    the file is one index: ``symbol`` names it."""
    table = read_table(path)
    names = {c.strip().lower(): c for c in table.column_names}
    date_col, close_col = names.get("date"), names.get("close")
    if date_col is None or close_col is None:
        raise DataImportError(f"{path}: an index-close file needs Date and Close columns; it has {table.column_names}")
    index_col = names.get("index name") or names.get("symbol") or names.get("index")
    if index_col is None and symbol is None:
        raise DataImportError(f"{path}: the file has no Index Name column; pass --symbol to say which index it is")
    report = ImportReport("index closes")
    checks = RowChecks(report, path.name, np.arange(table.num_rows) + 2)
    days = _flexible_dates(table[date_col], path, date_col)
    close = numbers(table[close_col], checks, close_col)
    syms = ([canonical_symbol(str(x)) for x in table[index_col].to_pylist()] if index_col
            else [canonical_symbol(symbol or "")] * table.num_rows)  # fmt: skip
    if not checks.keep.all():
        raise DataImportError(f"{path}: unreadable close(s): {'; '.join(report.examples.popitem()[1])}")
    return {(s, int(d)): float(c) for s, d, c in zip(syms, days, close, strict=True) if c > 0}


def _flexible_dates(col: pa.ChunkedArray, path: Path, name: str) -> np.ndarray:
    """Day numbers of a date column in the first format that reads every row (NSE writes
    ``08-FEB-2024``, ``08 Feb 2024`` or ISO dates depending on the page)."""
    for fmt in ("%Y-%m-%d", "%d-%b-%Y", "%d %b %Y", "%d-%m-%Y", "%d/%m/%Y", "%d-%B-%Y", "%d %B %Y"):
        checks = RowChecks(ImportReport("dates"), path.name, np.arange(len(col)) + 2)
        days = dates(pc.utf8_title(pc.utf8_trim_whitespace(col.cast(pa.string()))), fmt, checks, name)
        if checks.keep.all():
            return days
    raise DataImportError(f"{path}: column {name!r} holds dates in no known format (e.g. 2024-02-08 or 08-Feb-2024)")


def _lots(sym: np.ndarray, expiry: np.ndarray, trade: np.ndarray, report: ImportReport) -> np.ndarray:
    """Units per contract on the trade date, from the index specifications (legacy CONTRACTS
    count contracts; a contract's lot can change during its life, see instruments/lots.py).

    NaN (so volume is NaN, unknown) where the specifications know no lot size.
    """
    lots = np.full(len(sym), np.nan)
    for s in np.unique(sym):
        try:
            spec = get_index(str(s))
        except KeyError:
            report.note(
                f"{s}: not in instruments/data/indices.json, so its volume (in contracts) is NaN"
            )
            continue
        rows = sym == s
        for e, t in np.unique(np.stack([expiry[rows], trade[rows]]), axis=1).T:
            when, on = (np.datetime64(int(x), "D").item() for x in (e, t))
            try:
                lots[rows & (expiry == e) & (trade == t)] = spec.lot_size(when, on)
            except ValueError as exc:
                report.note(f"{exc}: volume NaN for those contracts")
        report.note(f"{s}: volume = CONTRACTS x lot size from instruments/data/indices.json")
    return lots
