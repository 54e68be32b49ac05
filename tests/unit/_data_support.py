"""Small hand-made chain tables for the data-layer tests: prices from a known Black-76 market."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pyarrow as pa

from optrunner.data.enrich import years_to_expiry
from optrunner.data.schema import TS_TYPE
from optrunner.greeks import black76_price

RATE = 0.055


def ns(ts: datetime) -> int:
    return int(ts.timestamp()) * 1_000_000_000 + ts.microsecond * 1000


def make_chain(
    times: list[datetime],
    expiries: list[date],
    strikes: list[float],
    *,
    spot: float = 26_000.0,
    sigma: float = 0.15,
    forward_premium: float = 40.0,
    rate: float = RATE,
    half_spread: float = 0.5,
    with_future: bool = True,
) -> pa.Table:
    """One row per (time, expiry, strike, right), in a scrambled order.

    Every expiry's forward is ``spot + forward_premium``; mid = the Black-76 price at
    ``sigma``, so an importer recovers ``sigma`` and the forward exactly.
    """
    rows = [(t, e, k, c) for t in times for e in expiries for k in strikes for c in (True, False)]
    t_ns = np.array([ns(r[0]) for r in rows], np.int64)
    e_days = np.array([(r[1] - date(1970, 1, 1)).days for r in rows], np.int64)
    strike = np.array([r[2] for r in rows], np.float64)
    is_call = np.array([r[3] for r in rows])
    forward = np.full(len(rows), spot + forward_premium)
    price = black76_price(forward, strike, years_to_expiry(t_ns, e_days), rate, sigma, is_call)
    order = np.random.default_rng(0).permutation(len(rows))
    cols = {
        "ts": pa.array(t_ns[order]).cast(TS_TYPE),
        "expiry": pa.array(e_days[order].astype(np.int32)).cast(pa.date32()),
        "strike": strike[order],
        "right": np.where(is_call, "CE", "PE")[order],
        "spot": np.full(len(rows), spot),
        "future": forward[order] if with_future else np.full(len(rows), np.nan),
        "bid": (price - half_spread)[order],
        "ask": (price + half_spread)[order],
        "ltp": price[order],
        "oi": np.arange(len(rows), dtype=np.float64)[order],
    }
    return pa.table(cols)
