"""The seed platform's live option-chain SQLite file: read it, and write it atomically.

One file per underlying and expiry (``NFO_NIFTY_13-Feb-2026.sqlite``), holding exactly one
snapshot: table ``option_chain`` (one row per strike and type) and key/value table ``meta``
(exchange, symbol, expiry, atm, spot_ltp, fut_ltp, snapshot_ts). The writer replaces the
whole snapshot inside one ``BEGIN IMMEDIATE`` transaction so a reader never sees half of one.

The old readers trusted the file blindly (no staleness check, and "the newest *.sqlite in
the folder" when no path was given). Here a path is always required and the snapshot's
timestamp comes back with it, so callers can refuse stale data.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from optrunner.core.timeutil import IST, to_epoch_ns
from optrunner.data.snapshot import ChainSnapshot

SCHEMA = """
CREATE TABLE IF NOT EXISTS option_chain (
    strike REAL NOT NULL, option_type TEXT NOT NULL, token TEXT, trading_symbol TEXT,
    exchange TEXT, lot_size INTEGER, ltp REAL, change_pct REAL, volume INTEGER, oi INTEGER,
    open REAL, high REAL, low REAL, close REAL, bid REAL, ask REAL, bid_qty INTEGER,
    ask_qty INTEGER, last_update REAL, iv REAL, delta REAL, gamma REAL, theta REAL, vega REAL,
    PRIMARY KEY (strike, option_type)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""

_EXPIRY_FORMATS = ("%d-%b-%Y", "%Y-%m-%d", "%d%b%Y", "%d-%m-%Y")
_COLUMNS = ("strike", "option_type", "ltp", "bid", "ask", "bid_qty", "ask_qty", "volume", "oi",
            "iv", "delta", "gamma", "theta", "vega")  # fmt: skip


class SeedDbError(ValueError):
    """A seed chain file that is missing, unreadable or lacks what a snapshot needs."""


class SeedMetaError(SeedDbError):
    """A readable seed file whose ``meta`` value is garbage (``meta.spot_ltp = 'abc'``).

    ``problem`` names the field without its value (for counting), ``rows`` is how many rows
    the file holds (they cannot be used).
    """

    def __init__(self, path: Path, problem: str, raw: object, hint: str = "") -> None:
        super().__init__(f"{path}: {problem} ({_show(raw)}){hint}")
        self.problem, self.raw, self.rows = problem, raw, 0


def parse_seed_expiry(text: str) -> date:
    if not isinstance(text, str):
        raise SeedDbError(f"meta.expiry {_show(text)} is not a date like 13-Feb-2026 or 2026-02-13")
    for fmt in _EXPIRY_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise SeedDbError(f"meta.expiry {text!r} is not a date like 13-Feb-2026 or 2026-02-13")


def _parse_ts(path: Path, raw: object) -> datetime | None:
    if raw is None or raw == "":
        return None
    text = str(raw).strip()
    try:
        value = float(text)  # epoch seconds, as the supervisor wrote
    except ValueError:
        pass
    else:
        if not (math.isfinite(value) and 0 < value < 10**11):  # until the year 5138
            raise SeedMetaError(path, "meta.snapshot_ts is not a time in epoch seconds", raw)
        return datetime.fromtimestamp(value, IST)
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise SeedMetaError(
            path, "meta.snapshot_ts is neither epoch seconds nor an ISO time", raw,
            "; write e.g. 1770960900 or 2026-02-13T10:15:00+05:30",
        ) from None  # fmt: skip
    return ts if ts.tzinfo else ts.replace(tzinfo=IST)


def _meta_number(path: Path, meta: dict[str, str], key: str) -> float:
    """A numeric meta value; NaN when absent, SeedDbError naming it when it is not a number."""
    raw = meta.get(key)
    if raw is None or raw == "":
        return math.nan
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise SeedMetaError(path, f"meta.{key} is not a number", raw) from None
    if not math.isfinite(value) or value <= 0:
        raise SeedMetaError(path, f"meta.{key} is not a positive price", raw)
    return value


def _show(raw: object) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def _float_cells(values: list[object]) -> tuple[np.ndarray, np.ndarray]:
    """float64 per cell and where a cell held something that is not a number (text, a blob).

    SQLite stores whatever it is given, so one row's "abc" must fail that row, not the file.
    """
    out = np.full(len(values), math.nan)
    bad = np.zeros(len(values), bool)
    for i, v in enumerate(values):
        if v is None:
            continue
        if isinstance(v, int | float) and not isinstance(v, bool):
            out[i] = float(v)
            continue
        try:
            out[i] = float(v.strip() if isinstance(v, str) else v)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            bad[i] = True
    return out, bad


@dataclass(slots=True)
class SeedRows:
    """A seed file's rows as parsed: every row, the snapshot's fields, and each bad cell's row."""

    symbol: str
    ts: datetime
    spot: float
    expiry: date
    columns: dict[str, np.ndarray]  # strike and the float columns, float64, one entry per row
    is_call: np.ndarray
    unreadable: dict[str, np.ndarray]  # reason -> rows whose cell could not be read
    meta: dict[str, str]
    timed: bool  # meta.snapshot_ts was present (else the file's modification time was used)

    @property
    def readable(self) -> np.ndarray:
        ok = np.ones(len(self.is_call), bool)
        for mask in self.unreadable.values():
            ok &= ~mask
        return ok

    def snapshot(self, keep: np.ndarray | None = None) -> ChainSnapshot:
        """The rows where ``keep`` (default: every readable row) as a ChainSnapshot."""
        m = self.readable if keep is None else keep
        cols: dict[str, object] = {k: v[m] for k, v in self.columns.items()}
        n = int(m.sum())
        cols.update(is_call=self.is_call[m], expiry=np.full(n, np.datetime64(self.expiry, "D")))
        return ChainSnapshot.from_columns(self.symbol, self.ts, self.spot, cols)


def read_seed_rows(path: str | Path) -> SeedRows:
    """Parse a seed chain file, keeping a bad cell's row (and why) instead of failing the file.

    IV is stored by some writers in percent: values whose median exceeds 3 (300 %) are
    taken as percent and divided by 100, since no index option trades at 300 % vol.
    """
    p = Path(path)
    if not p.is_file():
        raise SeedDbError(f"{p}: no such option-chain file")
    try:
        con = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=3.0)
        try:
            meta = {str(k): v for k, v in con.execute("SELECT key, value FROM meta").fetchall()}
            rows = con.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM option_chain ORDER BY strike"
            ).fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise SeedDbError(f"{p}: not a readable seed chain database ({exc})") from exc
    for key in ("symbol", "expiry"):
        if not meta.get(key) or not isinstance(meta[key], str):
            raise SeedDbError(f"{p}: meta table has no {key!r} text")
    try:
        try:
            expiry = parse_seed_expiry(meta["expiry"])
        except SeedDbError:
            raise SeedMetaError(
                p, "meta.expiry is not a date like 13-Feb-2026", meta["expiry"]
            ) from None
        stamp = _parse_ts(p, meta.get("snapshot_ts"))
        future, spot = _meta_number(p, meta, "fut_ltp"), _meta_number(p, meta, "spot_ltp")
    except SeedMetaError as exc:
        exc.rows = len(rows)
        raise
    ts = stamp or datetime.fromtimestamp(p.stat().st_mtime, IST)
    unreadable: dict[str, np.ndarray] = {}
    right = [str(r[1]).strip().upper() for r in rows]
    is_call = np.array([r == "CE" for r in right], bool)
    unreadable["option type is not CE or PE"] = np.array(
        [r not in ("CE", "PE") for r in right], bool
    )
    columns: dict[str, np.ndarray] = {}
    for i, name in enumerate(_COLUMNS):
        if name == "option_type":
            continue
        columns[name], bad = _float_cells([r[i] for r in rows])
        unreadable[f"not a number in column {name!r}"] = bad
    iv = columns["iv"]
    finite = iv[np.isfinite(iv)]
    if len(finite) and np.median(finite) > 3.0:
        columns["iv"] = iv / 100.0
    columns["future"] = np.full(len(rows), future)
    unreadable = {k: v for k, v in unreadable.items() if v.any()}
    return SeedRows(meta["symbol"].upper(), ts, spot, expiry, columns, is_call, unreadable, meta,
                    stamp is not None)  # fmt: skip


def read_seed_db(path: str | Path) -> tuple[ChainSnapshot, dict[str, str]]:
    """The snapshot in a seed chain file (rows with unreadable cells left out), and its ``meta``.

    Raises SeedDbError (naming the file and the field) when the file or its meta is unusable.
    """
    seed = read_seed_rows(path)
    return seed.snapshot(), seed.meta


def write_seed_db(
    path: str | Path, snapshot: ChainSnapshot, *, exchange: str = "NFO", expiry: date | None = None
) -> None:
    """Replace the file's snapshot with one expiry of ``snapshot``, atomically (one transaction)."""
    exp = expiry or snapshot.expiries()[0]
    chain = snapshot.for_expiry(exp)
    atm = chain.atm_strike(exp) if len(chain) else math.nan
    fut = chain.forward(exp) if len(chain) else math.nan
    rows = []
    for i in range(len(chain)):
        q = chain.quote(i)
        rows.append((
            q.contract.strike, q.contract.right.value, None, None, exchange, None, _sql(q.ltp), None,
            _sql(q.volume), _sql(q.oi), None, None, None, None, _sql(q.bid), _sql(q.ask), _sql(q.bid_qty),
            _sql(q.ask_qty), to_epoch_ns(snapshot.ts) / 1e9, _sql(q.iv), _sql(q.delta), _sql(q.gamma),
            _sql(q.theta), _sql(q.vega),
        ))  # fmt: skip
    meta = {
        "exchange": exchange, "symbol": snapshot.symbol, "expiry": exp.strftime("%d-%b-%Y"), "atm": str(atm),
        "spot_ltp": str(snapshot.spot), "fut_ltp": str(fut),
        "snapshot_ts": str(snapshot.ts.astimezone(UTC).timestamp()),
    }  # fmt: skip
    con = sqlite3.connect(str(path), timeout=3.0, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.executescript(SCHEMA)
        con.execute("BEGIN IMMEDIATE")
        con.execute("DELETE FROM option_chain")
        con.executemany(f"INSERT INTO option_chain VALUES ({', '.join('?' * 24)})", rows)
        con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())
        con.execute("COMMIT")
    finally:
        con.close()


def seed_db_name(exchange: str, symbol: str, expiry: date) -> str:
    """The supervisor's file name: ``NFO_NIFTY_13-Feb-2026.sqlite``."""
    return f"{exchange}_{symbol}_{expiry.strftime('%d-%b-%Y')}.sqlite"


def _sql(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v
