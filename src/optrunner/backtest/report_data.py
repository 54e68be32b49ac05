"""Reads a backtest run folder (summary.json and the CSV files) for the report.

Columns come back as NumPy arrays so a year of minute rows (~94k) loads in well under a
second without pandas. Times are normalised to IST wall-clock ISO text ("2026-01-05T09:15:00"):
that text sorts in time order, so lookups are ``searchsorted`` on strings, and Plotly shows it
exactly as written whatever the viewer's time zone. Anything malformed raises
:class:`RunFolderError` naming the file, row and column.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from optrunner.core.timeutil import IST

# Headline fields of docs/metrics.md the report cannot do without.
SUMMARY_FIELDS = (
    "start", "end", "days", "capital", "gross_pnl", "charges", "net_pnl", "return_pct", "trades",
    "win_rate", "profit_factor", "max_drawdown", "max_drawdown_pct", "sharpe", "sortino", "calmar",
    "adjustments", "strategies",
)  # fmt: skip
TAGS = ("ENTRY", "ADJUST_EXIT", "ADJUST_ENTRY", "EXIT")
# fills.csv's charge columns (core.orders.ChargeBreakdown) and their total.
CHARGES = ("brokerage", "stt", "exchange", "sebi", "stamp", "ipft", "gst")
CHARGE_COLUMNS = {name: "float" for name in (*CHARGES, "charges")}


class RunFolderError(ValueError):
    """A run folder the report cannot read; the message says which file and where."""


Columns = dict[str, np.ndarray]


@dataclass(slots=True)
class RunData:
    """Everything the report shows. A CSV the run did not write is ``None`` (said so in the
    report); one written empty (no trades, say) has zero rows."""

    run_dir: Path
    summary: dict[str, Any]
    equity: Columns | None
    daily: Columns | None
    trades: Columns | None
    spot: Columns | None
    events: Columns | None
    order_count: int | None = None
    missing: list[str] = field(default_factory=list)
    fills: Columns | None = None  # charges per fill: the charges breakdown
    legs: Columns | None = None  # per trade and contract: entry/exit prices (runs since legs.csv)
    adjustments: Columns | None = None
    trade_mtm: Columns | None = None  # each trade's net mark-to-market path

    @property
    def capital(self) -> float:
        return float(self.summary["capital"])

    def symbols(self) -> list[str]:
        """Underlyings seen in the spot series, trade legs and event contracts."""
        names: set[str] = set()
        if self.spot is not None:
            names.update(self.spot["symbol"].tolist())
        if self.trades is not None:
            names.update(underlying(leg) for legs in self.trades["legs"] for leg in legs.split())
        if self.events is not None:
            names.update(underlying(c) for c in self.events["contract"])
        return sorted(n for n in names if n)


def underlying(contract_id: str) -> str:
    """The underlying of a canonical id: NIFTY:20260113:25000:CE -> NIFTY."""
    return contract_id.split(":", 1)[0]


def _ist(raw: str) -> str:
    t = datetime.fromisoformat(raw)  # ValueError when not ISO
    if t.tzinfo is None:
        return t.isoformat()
    if raw.endswith("+05:30"):
        return raw[:-6]
    return t.astimezone(IST).replace(tzinfo=None).isoformat()


def ist_text(raw: str, where: str) -> str:
    """ISO time -> IST wall-clock ISO text without offset. A time without offset is taken as
    IST already: every time in a run folder is IST by contract."""
    try:
        return _ist(raw)
    except ValueError:
        raise RunFolderError(f"{where}: {raw!r} is not an ISO date-time") from None


def _read_csv(path: Path, required: Iterable[str]) -> dict[str, list[str]] | None:
    """Columns of a CSV with a header row, or None when the file does not exist. A file of
    zero bytes is a valid empty table (the recorder writes no header when there are no rows)."""
    if not path.exists():
        return None
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    required = list(required)
    if not rows:
        return {name: [] for name in required}
    header = [h.strip() for h in rows[0]]
    absent = [name for name in required if name not in header]
    if absent:
        raise RunFolderError(f"{path.name}: missing column(s) {', '.join(absent)} (header: {','.join(header)})")
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise RunFolderError(f"{path.name} line {line}: {len(row)} fields, the header has {len(header)}")
    at = {name: header.index(name) for name in required}
    return {name: [row[i] for row in rows[1:]] for name, i in at.items()}


def _numbers(path: Path, name: str, values: list[str], *, optional: bool = False, whole: bool = False) -> np.ndarray:
    """A numeric column: every cell finite (and a whole number if ``whole``); with ``optional``
    an empty cell is allowed and becomes NaN (shown as —)."""
    out = np.empty(len(values))
    bad = []
    for i, text in enumerate(values):
        if optional and not text.strip():
            out[i] = math.nan
            continue
        try:
            x = float(text)
        except ValueError:
            x = math.nan
        if not math.isfinite(x) or (whole and not x.is_integer()):
            bad.append(i)
        out[i] = x
    if bad:
        i = bad[0]
        kind = "a whole number" if whole else "a finite number"
        more = f" ({len(bad)} bad rows in all)" if len(bad) > 1 else ""
        raise RunFolderError(f"{path.name} line {i + 2}, column {name}: {values[i]!r} is not {kind}{more}")
    return out


def _times(path: Path, name: str, values: list[str], optional: bool = False) -> np.ndarray:
    """ISO times as IST wall-clock text; ``optional`` allows empty cells (an open trade's exit)."""
    out = []
    for i, raw in enumerate(values):
        try:
            out.append(_ist(raw) if raw or not optional else "")
        except ValueError:
            raise RunFolderError(f"{path.name} line {i + 2}, column {name}: {raw!r} is not an ISO date-time") from None
    return np.array(out, dtype=str)


def _dates(path: Path, name: str, values: list[str]) -> np.ndarray:
    for i, v in enumerate(values):
        try:
            date.fromisoformat(v)
        except ValueError:
            raise RunFolderError(f"{path.name} line {i + 2}, column {name}: {v!r} is not a YYYY-MM-DD date") from None
    return np.array(values, dtype=str)


def _table(run_dir: Path, name: str, spec: dict[str, str]) -> Columns | None:
    """Read ``name`` with ``spec`` {column: kind}, kind one of time, time?, date, float, float?,
    int, str; "?" allows empty cells (an open trade's exit time, an unpriced order)."""
    path = run_dir / name
    raw = _read_csv(path, spec)
    if raw is None:
        return None
    out: Columns = {}
    for col, kind in spec.items():
        values = raw[col]
        if kind == "time":
            out[col] = _times(path, col, values)
        elif kind == "time?":
            out[col] = _times(path, col, values, optional=True)
        elif kind == "date":
            out[col] = _dates(path, col, values)
        elif kind in ("float", "float?"):
            out[col] = _numbers(path, col, values, optional=kind == "float?")
        elif kind == "int":
            out[col] = _numbers(path, col, values, whole=True).astype(np.int64)
        else:
            out[col] = np.array(values, dtype=object)
    return out


def _check_ascending(values: np.ndarray, lines: np.ndarray, name: str, col: str) -> None:
    """``values`` (with their file line numbers) must never go back in time."""
    back = np.flatnonzero(values[1:] < values[:-1])
    if len(back):
        i = int(back[0]) + 1
        raise RunFolderError(f"{name} line {lines[i]}: {col} {values[i]} is earlier than the one before ({values[i - 1]})")


def _by_symbol(spot: Columns) -> Columns:
    """spot.csv interleaves underlyings minute by minute: group rows by symbol (sorted), keeping
    each symbol's rows in file order, which must be time order."""
    symbols, codes = np.unique(spot["symbol"].astype(str), return_inverse=True)
    order = np.argsort(codes, kind="stable")
    grouped = {k: v[order] for k, v in spot.items()}
    for k, symbol in enumerate(symbols):
        mine = codes[order] == k
        _check_ascending(grouped["time"][mine], order[mine] + 2, f"spot.csv ({symbol})", "time")
    return grouped


def _summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir}: no such folder")
    if not path.exists():
        raise RunFolderError(f"{run_dir}: no summary.json — not a backtest run folder")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunFolderError(f"summary.json line {exc.lineno}: {exc.msg}") from None
    if not isinstance(summary, dict):
        raise RunFolderError("summary.json: expected an object of metrics")
    absent = [k for k in SUMMARY_FIELDS if k not in summary]
    if absent:
        raise RunFolderError(f"summary.json: missing field(s) {', '.join(absent)} (see docs/metrics.md)")
    for key in ("start", "end"):
        try:
            date.fromisoformat(str(summary[key]))
        except ValueError:
            raise RunFolderError(f"summary.json: {key} {summary[key]!r} is not a YYYY-MM-DD date") from None
    capital = summary["capital"]
    if isinstance(capital, bool) or not isinstance(capital, (int, float)) or not capital > 0:
        raise RunFolderError(f"summary.json: capital must be a positive number, got {capital!r}")
    strategies = summary["strategies"]
    if not isinstance(strategies, dict) or not all(isinstance(v, dict) for v in strategies.values()):
        raise RunFolderError("summary.json: strategies must map each strategy name to an object of its figures")
    claims = summary.get("claims") or {}
    if not isinstance(claims, dict) or not all(isinstance(v, dict) for v in claims.values()):
        raise RunFolderError("summary.json: claims must map each strategy name to an object of its claims")
    return summary


def _order_count(run_dir: Path) -> int | None:
    path = run_dir / "orders.csv"
    if not path.exists():
        return None
    with path.open(newline="", encoding="utf-8") as fh:
        return max(sum(1 for _ in csv.reader(fh)) - 1, 0)


def load_run(run_dir: Path) -> RunData:
    """Read a run folder; raise :class:`RunFolderError` on anything the report cannot show."""
    run_dir = Path(run_dir)
    summary = _summary(run_dir)
    equity = _table(run_dir, "equity.csv", {"time": "time", "equity": "float", "drawdown": "float"})
    daily = _table(run_dir, "daily.csv", {"date": "date", "pnl": "float", "equity": "float"})
    for table, name, col in ((equity, "equity.csv", "time"), (daily, "daily.csv", "date")):
        if table is not None:
            _check_ascending(table[col], np.arange(len(table[col])) + 2, name, col)
    trades = _table(run_dir, "trades.csv", {
        "strategy": "str", "entry_time": "time", "exit_time": "time?", "legs": "str", "adjustments": "int",
        "gross_pnl": "float", "charges": "float", "net_pnl": "float", "exit_reason": "str"})  # fmt: skip
    spot = _table(run_dir, "spot.csv", {"symbol": "str", "time": "time", "spot": "float"})
    if spot is not None:  # one row per minute per underlying, interleaved: group by underlying
        spot = _by_symbol(spot)
    events = _table(run_dir, "events.csv", {
        "time": "time", "strategy": "str", "tag": "str", "contract": "str", "side": "str",
        "price": "float?", "quantity": "int"})  # fmt: skip
    if events is not None:
        events = {k: v[np.argsort(events["time"], kind="stable")] for k, v in events.items()}
        unknown = sorted(set(events["tag"].tolist()) - set(TAGS))
        if unknown:
            raise RunFolderError(f"events.csv: unknown tag(s) {', '.join(unknown)}; expected {', '.join(TAGS)}")
    fills = _table(run_dir, "fills.csv", {"time": "time", "strategy": "str", "contract": "str", **CHARGE_COLUMNS})
    legs = _table(run_dir, "legs.csv", {
        "trade": "int", "strategy": "str", "contract": "str", "side": "str", "quantity": "int", "entry_time": "time",
        "entry_price": "float?", "exit_time": "time?", "exit_price": "float?", "exit": "str", "gross_pnl": "float",
        "charges": "float", "net_pnl": "float", "at_entry": "int"})  # fmt: skip
    adjustments = _table(run_dir, "adjustments.csv", {
        "time": "time", "strategy": "str", "trade": "str", "trigger": "str", "delta_before": "float?",
        "delta_after": "float?", "closed": "str", "opened": "str"})  # fmt: skip
    mtm = _table(run_dir, "trade_mtm.csv", {"trade": "int", "time": "time", "mtm": "float"})
    tables = {"equity.csv": equity, "daily.csv": daily, "trades.csv": trades, "spot.csv": spot, "events.csv": events,
              "fills.csv": fills, "legs.csv": legs, "adjustments.csv": adjustments, "trade_mtm.csv": mtm}  # fmt: skip
    return RunData(
        run_dir, summary, equity, daily, trades, spot, events,
        order_count=_order_count(run_dir), missing=[name for name, t in tables.items() if t is None],
        fills=fills, legs=legs, adjustments=adjustments, trade_mtm=mtm,
    )  # fmt: skip


__all__ = ["CHARGES", "TAGS", "RunData", "RunFolderError", "ist_text", "load_run", "underlying"]
