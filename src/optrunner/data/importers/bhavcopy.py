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
"""

from __future__ import annotations

from collections.abc import Sequence
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
from optrunner.instruments import get_index

SUFFIXES = (".csv",)
_CLOSE_NS = (15 * 60 + 30) * 60 * 10**9  # 15:30 IST after IST midnight


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
) -> ImportReport:  # fmt: skip
    """Import bhavcopies; every index (or only ``symbol``) becomes an end-of-day snapshot."""

    def one(path: Path, report: ImportReport, sink: ChainSink) -> None:
        table = read_table(path)
        _import_file(path, table, detect_layout(path, table.column_names), symbol, report, sink)

    return import_each("bhavcopy", catalog, files, one, recompute_greeks=recompute_greeks, on_file=on_file)


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
) -> None:
    report.rows_read += table.num_rows
    kind, sym = _text(table, lay.instrument), _text(table, lay.symbol)
    is_option, is_future = kind == lay.option, kind == lay.future
    for other in np.unique(kind[~is_option]):
        why = "index future: its close is the forward, not stored" if other == lay.future else "not an index option"
        report.skipped[f"{why} ({lay.instrument} {other})"] += int(np.sum(kind == other))
    wanted = is_option if symbol is None else is_option & (sym == symbol.upper())
    if symbol is not None:
        for other in np.unique(sym[is_option & ~wanted]):
            report.skipped[f"symbol {other} (importing {symbol.upper()})"] += int(
                np.sum(is_option & (sym == other))
            )
    futures = _future_closes(table.filter(pa.array(is_future)), lay, sym[is_future])
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
        "future": futures(sym, trade, expiry),
    }
    if lay.underlying and lay.underlying in opt.column_names:
        floats["spot"] = numbers(opt[lay.underlying], checks, lay.underlying)
    checks.common(ts, expiry, strike, floats)
    untraded = int(np.sum(~traded & checks.keep))
    if untraded:
        report.note(f"{untraded} option row(s) had no trades that day: their ltp and IV are NaN")
    if lay.underlying is None:
        report.note("legacy bhavcopies carry no index level: spot is NaN (ATM uses the forward)")
    for s in np.unique(sym[checks.keep]):
        sink.add(str(s), chain_table(ts, expiry, strike, is_call, floats, checks.keep & (sym == s)))


def _future_closes(fut: pa.Table, lay: Layout, sym: np.ndarray):
    """A lookup (symbol, trade day, expiry day) -> the index future's close (NaN if none)."""
    scratch = RowChecks(
        ImportReport("futures"), "", np.arange(fut.num_rows)
    )  # futures rows only feed lookups
    trade = dates(fut[lay.trade_date], lay.trade_date_format, scratch, lay.trade_date)
    expiry = dates(fut[lay.expiry], lay.expiry_format, scratch, lay.expiry)
    close = numbers(fut[lay.close], scratch, lay.close)
    ok = scratch.keep & (close > 0)
    known = {
        (s, int(t), int(e)): float(c)
        for s, t, e, c in zip(sym[ok], trade[ok], expiry[ok], close[ok], strict=True)
    }

    def lookup(symbols: np.ndarray, trade_days: np.ndarray, expiry_days: np.ndarray) -> np.ndarray:
        if not known:
            return np.full(len(symbols), np.nan)
        keys = zip(symbols, trade_days.tolist(), expiry_days.tolist(), strict=True)
        return np.array([known.get(k, np.nan) for k in keys], dtype=np.float64)

    return lookup


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
