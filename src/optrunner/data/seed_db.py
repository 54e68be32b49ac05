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


def parse_seed_expiry(text: str) -> date:
    for fmt in _EXPIRY_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise SeedDbError(f"meta.expiry {text!r} is not a date like 13-Feb-2026 or 2026-02-13")


def _parse_ts(raw: str | None) -> datetime | None:
    if raw in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(float(raw), IST)  # epoch seconds, as the supervisor wrote
    except ValueError:
        ts = datetime.fromisoformat(raw)
        return ts if ts.tzinfo else ts.replace(tzinfo=IST)


def read_seed_db(path: str | Path) -> tuple[ChainSnapshot, dict[str, str]]:
    """The snapshot in a seed chain file, and its raw ``meta`` table.

    IV is stored by some writers in percent: values whose median exceeds 3 (300 %) are
    taken as percent and divided by 100, since no index option trades at 300 % vol.
    """
    p = Path(path)
    if not p.is_file():
        raise SeedDbError(f"{p}: no such option-chain file")
    try:
        con = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=3.0)
        try:
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM option_chain ORDER BY strike").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise SeedDbError(f"{p}: not a readable seed chain database ({exc})") from exc
    for key in ("symbol", "expiry"):
        if not meta.get(key):
            raise SeedDbError(f"{p}: meta table has no {key!r}")
    expiry = parse_seed_expiry(meta["expiry"])
    ts = _parse_ts(meta.get("snapshot_ts")) or datetime.fromtimestamp(p.stat().st_mtime, IST)
    cols = {name: [r[i] for r in rows] for i, name in enumerate(_COLUMNS)}
    right = [str(v).upper() for v in cols.pop("option_type")]
    bad = sorted({r for r in right if r not in ("CE", "PE")})
    if bad:
        raise SeedDbError(f"{p}: option_type values {bad} are not CE/PE")
    cols = {k: np.array([math.nan if v is None else v for v in vs], dtype=np.float64) for k, vs in cols.items()}
    iv = cols["iv"]
    finite = iv[np.isfinite(iv)]
    if len(finite) and np.median(finite) > 3.0:
        cols["iv"] = iv / 100.0
    fut = float(meta["fut_ltp"]) if meta.get("fut_ltp") not in (None, "") else math.nan
    cols.update(right=right, expiry=np.full(len(rows), np.datetime64(expiry, "D")), future=np.full(len(rows), fut))
    spot = float(meta["spot_ltp"]) if meta.get("spot_ltp") not in (None, "") else math.nan
    return ChainSnapshot.from_columns(meta["symbol"].upper(), ts, spot, cols), meta


def write_seed_db(path: str | Path, snapshot: ChainSnapshot, *, exchange: str = "NFO", expiry: date | None = None) -> None:
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
