"""Constructed days for the ``legs`` examples: a catalog of closed-form minute chains whose every
price a test can work out by hand, backtested through the real kernel and simulated exchange.

Chain model (as ``_dnss_support``, zero rates): CE = w * ln(1 + exp((S - K) / w)), PE = CE - (S - K),
CE delta = 1 / (1 + exp((K - S) / w)), PE delta = CE delta - 1; ``w`` per expiry (a later expiry is
"wider", so dearer). Prices are rounded to the 0.05 tick; bid/ask are 0.05 either side.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from optrunner.backtest.engine import BacktestSpec, run_backtest
from optrunner.config import load_config_file, validate_config
from optrunner.core.timeutil import IST
from optrunner.data.catalog import Catalog
from optrunner.data.schema import TS_TYPE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "configs" / "legs"
STRIKES = np.arange(23500.0, 26501.0, 50.0)
MON, TUE, WED = date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18)
WEEKLY, NEXT_WEEKLY = date(2026, 11, 17), date(2026, 11, 24)  # NIFTY Tuesdays, lot 65
W = {WEEKLY: 150.0, NEXT_WEEKLY: 250.0}

Path_ = Callable[[time], float]  # minute -> spot


def ce(spot: float, strike: float, w: float) -> float:
    return _tick(w * math.log1p(math.exp((spot - strike) / w)))


def pe(spot: float, strike: float, w: float) -> float:
    return _tick(w * math.log1p(math.exp((spot - strike) / w)) - (spot - strike))


def _tick(p: float) -> float:
    return round(max(p, 0.05) / 0.05) * 0.05


def minutes(d: date) -> list[datetime]:
    start = datetime(d.year, d.month, d.day, 9, 15, tzinfo=IST)
    return [start + timedelta(minutes=i) for i in range(376)]  # 09:15 .. 15:30


Width = float | Callable[[time], float]  # an expiry's w, fixed or by minute (a falling w is time decay)


def day_table(d: date, spot_at: Path_, widths: dict[date, Width]) -> pa.Table:
    cols: dict[str, list[Any]] = {k: [] for k in ("ts", "expiry", "strike", "right", "spot", "ltp", "delta")}
    for ts in minutes(d):
        s = spot_at(ts.time())
        for expiry, width in widths.items():
            if expiry < d:
                continue
            w = width(ts.time()) if callable(width) else width
            x = (s - STRIKES) / w
            c = w * np.logaddexp(0.0, x)
            p = c - (s - STRIKES)
            dc = 1.0 / (1.0 + np.exp(-x))
            for right, price, delta in (("CE", c, dc), ("PE", p, dc - 1.0)):
                n = len(STRIKES)
                cols["ts"] += [int(ts.timestamp()) * 1_000_000_000] * n
                cols["expiry"] += [(expiry - date(1970, 1, 1)).days] * n
                cols["strike"] += list(STRIKES)
                cols["right"] += [right] * n
                cols["spot"] += [s] * n
                cols["ltp"] += list(np.round(np.maximum(price, 0.05) / 0.05) * 0.05)
                cols["delta"] += list(delta)
    ltp = np.array(cols["ltp"])
    n = len(ltp)
    return pa.table({
        "ts": pa.array(np.array(cols["ts"], np.int64)).cast(TS_TYPE),
        "expiry": pa.array(np.array(cols["expiry"], np.int32)).cast(pa.date32()),
        "strike": np.array(cols["strike"]), "right": np.array(cols["right"]), "spot": np.array(cols["spot"]),
        "future": np.array(cols["spot"]), "bid": np.maximum(ltp - 0.05, 0.05), "ask": ltp + 0.05, "ltp": ltp,
        "oi": np.full(n, 1e6), "volume": np.full(n, 1e6), "iv": np.full(n, 0.12), "delta": np.array(cols["delta"]),
        "gamma": np.full(n, 1e-4), "theta": np.full(n, -1.0), "vega": np.full(n, 5.0),
    })  # fmt: skip


def build_catalog(root: Path, days: dict[date, Path_], widths: dict[date, Width] | None = None) -> Path:
    catalog = Catalog.create(root)
    for d, spot_at in days.items():
        catalog.write_chain("NIFTY", day_table(d, spot_at, widths or {WEEKLY: W[WEEKLY]}), compute_greeks=False)
    return root


def steps(*points: tuple[str, float]) -> Path_:
    """A spot path that holds each level from its HH:MM on: steps(("09:15", 25000), ("10:02", 25050))."""
    marks = sorted((time.fromisoformat(t), s) for t, s in points)

    def at(t: time) -> float:
        level = marks[0][1]
        for start, s in marks:
            if t >= start:
                level = s
        return level

    return at


def example(name: str, **changes: Any) -> Any:
    """An example file, validated, with top-level sections replaced by ``changes``."""
    doc = json.loads((EXAMPLES / f"{name}.json").read_text())
    doc.update(changes)
    cfg, issues = validate_config(doc, EXAMPLES)
    assert not issues, issues
    return cfg


def load_example(name: str) -> Any:
    return load_config_file(EXAMPLES / f"{name}.json")


def backtest(configs: list[Any], data: Path) -> Any:
    return run_backtest(BacktestSpec(configs, data))


def orders(result: Any, strategy: str | None = None) -> list[tuple[str, str, str, str, int, str]]:
    """(HH:MM or date HH:MM, tag, contract, side, quantity, reason) of every filled order, in order."""
    out = []
    for o in sorted(result.recorder.orders.values(), key=lambda o: (o.created_ts, o.client_id)):
        if strategy is not None and o.strategy != strategy:
            continue
        ts = o.created_ts.astimezone(IST)
        out.append((ts.strftime("%m-%d %H:%M"), o.tag.value, o.contract.id, o.side.value, o.filled_qty, o.reason))
    return out
