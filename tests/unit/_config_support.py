"""Helpers for the config tests: seed-format chain DB files and a known-good strategy document."""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path
from typing import Any

from optrunner.config import ConfigIssue, validate_config

# The seed platform's chain file (REFERENCE_SYSTEMS.md §1.4), written independently of optrunner.data.
_SEED_SCHEMA = """
CREATE TABLE option_chain (
    strike REAL NOT NULL, option_type TEXT NOT NULL, token TEXT, trading_symbol TEXT,
    exchange TEXT, lot_size INTEGER, ltp REAL, change_pct REAL, volume INTEGER, oi INTEGER,
    open REAL, high REAL, low REAL, close REAL, bid REAL, ask REAL, bid_qty INTEGER,
    ask_qty INTEGER, last_update REAL, iv REAL, delta REAL, gamma REAL, theta REAL, vega REAL,
    PRIMARY KEY (strike, option_type)
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
"""


def make_chain_db(path: Path, symbol: str = "NIFTY", exchange: str = "NFO") -> Path:
    """A one-row seed chain DB for ``symbol`` at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(_SEED_SCHEMA)
    con.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [
            ("exchange", exchange),
            ("symbol", symbol),
            ("expiry", "17-Feb-2026"),
            ("spot_ltp", "25510.5"),
        ],
    )
    con.execute(
        "INSERT INTO option_chain (strike, option_type, trading_symbol, ltp, delta) VALUES (?, ?, ?, ?, ?)",
        (25500.0, "CE", f"{symbol}17FEB26C25500", 120.5, 0.52),
    )
    con.commit()
    con.close()
    return path


def good_config(db_path: Path) -> dict[str, Any]:
    """A complete, valid NIFTY DNSS document (every section present)."""
    return {
        "name": "TEST_DNSS",
        "enabled": True,
        "market_config": {
            "market_type": "database_market",
            "exchange": "NFO",
            "symbol": "NIFTY",
            "db_path": str(db_path),
        },
        "entry": {
            "entry_time": "09:30",
            "target_ce_delta": 0.25,
            "target_pe_delta": 0.25,
            "quantity": 1,
        },
        "adjustment": {
            "enabled": True,
            "delta_drift_trigger": 0.30,
            "max_leg_delta": 0.65,
            "profit_step": 1500,
        },
        "exit": {"exit_time": "15:15", "profit_target": 5000, "max_loss": 5000},
        "execution": {"order_type": "MARKET", "product": "NRML"},
        "risk_management": {"max_concurrent_legs": 2, "max_position_size": 2},
        "monitoring": {"poll_interval_seconds": 2},
        "backtesting": {"is_backtested": False},
    }


_DELETE = object()


def edited(doc: dict[str, Any], path: str, value: Any = _DELETE) -> dict[str, Any]:
    """A deep copy of ``doc`` with the dotted ``path`` set to ``value`` (or removed)."""
    out = copy.deepcopy(doc)
    *parents, leaf = path.split(".")
    node = out
    for part in parents:
        node = node.setdefault(part, {})
    if value is _DELETE:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return out


def issues_of(doc: Any, base_dir: Path) -> list[ConfigIssue]:
    config, issues = validate_config(doc, base_dir)
    assert (config is None) == bool(issues), (
        "a config must come back exactly when there are no issues"
    )
    return issues
