"""Whole-chain implied vols and greeks, and the put-call-parity forward.

``chain_iv_greeks`` is the array kernel the data layer runs over millions of rows at once
(many timestamps and expiries in one call); ``chain_greeks`` applies it to one
:class:`~optrunner.data.snapshot.ChainSnapshot` with the platform's conventions
(MARKET_FACTS.md "Pricing conventions"):

- ``mode="black76"`` (default): Black-76 on the forward of each expiry. The forward is the
  row's ``future`` when it has one; weekly expiries have no listed future, so there it is
  the put-call-parity forward of that expiry's near-the-money strikes. T is minutes to
  15:30 IST on expiry day / (365 x 1440); r the T-bill rate (default 5.5 %).
- ``mode="nse"``: what NSE's option-chain screen shows: spot Black-Scholes, r = 10 %,
  q = 0, T = whole calendar days to expiry / 365 (so every row is NaN on expiry day).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from math import prod
from typing import TYPE_CHECKING, Literal

import numba
import numpy as np

from optrunner.core.timeutil import to_ist
from optrunner.greeks.columns import as_columns
from optrunner.greeks.kernels import (
    CHUNKS_PER_THREAD,
    PARALLEL_MIN_ROWS,
    chain_parallel,
    chain_serial,
)
from optrunner.instruments import time_to_expiry

if TYPE_CHECKING:  # typing only: optrunner.data's importers may import this module
    from optrunner.data.snapshot import ChainSnapshot

ArrayLike = float | Sequence[float] | np.ndarray
DEFAULT_RATE = 0.055  # 91-day T-bill yield, early 2026
NSE_RATE = 0.10
_MODELS = ("black76", "bs")
_MODES = ("black76", "nse")
_PRICES = ("mid", "ltp")
_THREADS_STARTED_IN: int | None = None  # pid of the process that ran the parallel kernel


def parity_forward(
    strikes: ArrayLike,
    call_prices: ArrayLike,
    put_prices: ArrayLike,
    T: float,
    r: float,
    n: int = 3,
) -> float:
    """The forward implied by put-call parity, ``F = K + e^{rT} (C - P)``.

    Uses the ``n`` strikes where ``|C - P|`` is smallest (nearest the money, where both
    quotes are liquid and the tick matters least) and returns the median of their forwards,
    so one stale quote cannot drag it. Strikes where either price is missing, NaN or <= 0
    are ignored; NaN if none is left. The arrays are aligned: one strike per position.
    """
    if n < 1:
        raise ValueError(f"parity_forward: n must be >= 1, got {n}")
    k = np.asarray(strikes, dtype=np.float64)
    c = np.asarray(call_prices, dtype=np.float64)
    p = np.asarray(put_prices, dtype=np.float64)
    if not k.shape == c.shape == p.shape:
        raise ValueError(
            f"parity_forward: strikes{k.shape}, call_prices{c.shape} and put_prices{p.shape} must align"
        )
    usable = (k > 0) & np.isfinite(k) & (c > 0) & np.isfinite(c) & (p > 0) & np.isfinite(p)
    if not usable.any():
        return float("nan")
    diff = (c - p)[usable]
    nearest = np.argsort(np.abs(diff), kind="stable")[:n]
    return float(np.median(k[usable][nearest] + np.exp(r * T) * diff[nearest]))


def chain_iv_greeks(
    price: ArrayLike,
    strike: ArrayLike,
    is_call: ArrayLike,
    T: ArrayLike,
    underlying: ArrayLike,
    r: ArrayLike,
    q: ArrayLike = 0.0,
    model: Literal["black76", "bs"] = "black76",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """IV and greeks for every row: ``(iv, delta, gamma, theta, vega)`` float64 arrays.

    ``model="black76"``: ``underlying`` is each row's forward and ``q`` must be 0;
    ``model="bs"``: it is the spot and ``q`` the dividend yield. Every argument is a column
    or a single value (broadcast). Units as in :mod:`optrunner.greeks.pricing` (vega per vol
    point, theta per calendar day). A row with no IV (price at or below intrinsic, at or
    above the upper bound, T <= 0, NaN anywhere) has NaN IV and NaN greeks.

    Large inputs run on all numba threads; below ``PARALLEL_MIN_ROWS`` rows on the caller's
    thread, so refreshing one chain does not pay the thread pool's wake-up. Safe to call
    from a forked worker (see :func:`_parallel_allowed`); several Python threads may call
    it at once with numba's omp or tbb layer, not with its workqueue fallback.
    """
    if model not in _MODELS:
        raise ValueError(f"chain_iv_greeks: model must be one of {_MODELS}, got {model!r}")
    shape, (p, k, c, t, u, rr, qq) = as_columns(
        price=price, strike=strike, is_call=is_call, T=T, underlying=underlying, r=r, q=q
    )
    if model == "black76" and (qq[0] != 0.0 if qq.size == 1 else (qq != 0.0).any()):
        raise ValueError(
            "chain_iv_greeks: q is a spot model's yield; use model='bs' or q=0 with black76"
        )
    n = prod(shape)
    if n >= PARALLEL_MIN_ROWS and _parallel_allowed():
        chunks = numba.get_num_threads() * CHUNKS_PER_THREAD
        with numba.parallel_chunksize(1):  # hand out chunks dynamically: rows and cores vary
            out = chain_parallel(n, p, k, c, t, u, rr, qq, model == "bs", chunks)
    else:
        out = chain_serial(n, p, k, c, t, u, rr, qq, model == "bs")
    if len(shape) != 1:
        out = out.reshape((5, *shape))
    return out[0], out[1], out[2], out[3], out[4]


def _parallel_allowed() -> bool:
    """False in a process forked after this one started numba's worker threads.

    GNU OpenMP (numba's usual threading layer on Linux) aborts a forked child that starts
    threads again, and a parameter sweep forks a pool after loading data. Such a child
    runs the kernel on its own thread instead: the pool is the parallelism there.
    """
    global _THREADS_STARTED_IN
    if _THREADS_STARTED_IN is None:
        _THREADS_STARTED_IN = os.getpid()
    return os.getpid() == _THREADS_STARTED_IN


def option_prices(snapshot: ChainSnapshot, price: Literal["mid", "ltp"] = "mid") -> np.ndarray:
    """The price each row is valued at: ``mid`` = (bid + ask) / 2 when both are > 0, else ltp."""
    if price not in _PRICES:
        raise ValueError(f"price must be one of {_PRICES}, got {price!r}")
    if price == "ltp":
        return snapshot.ltp
    quoted = (snapshot.bid > 0) & (snapshot.ask > 0)  # NaN compares False
    return np.where(quoted, 0.5 * (snapshot.bid + snapshot.ask), snapshot.ltp)


def chain_greeks(
    snapshot: ChainSnapshot,
    *,
    r: float | None = None,
    mode: Literal["black76", "nse"] = "black76",
    price: Literal["mid", "ltp"] = "mid",
) -> ChainSnapshot:
    """A new snapshot with iv/delta/gamma/theta/vega filled (the input is not modified).

    ``r`` defaults to the mode's rate: 5.5 % for ``black76``, 10 % for ``nse``. In black76
    mode a row whose ``future`` is NaN gets its expiry's :func:`parity_forward` (from the same
    prices the IVs use) written into ``future``; if the expiry has no strike quoted on both
    sides that stays NaN and so do its greeks, rather than guessing a forward from spot.
    """
    if mode not in _MODES:
        raise ValueError(f"chain_greeks: mode must be one of {_MODES}, got {mode!r}")
    values = option_prices(snapshot, price)
    expiries, row_expiry = np.unique(snapshot.expiry, return_inverse=True)
    if mode == "nse":
        rate = NSE_RATE if r is None else r
        today = np.datetime64(to_ist(snapshot.ts).date(), "D")
        years = (expiries - today).astype(np.float64) / 365.0
        future, underlying, model = snapshot.future, snapshot.spot, "bs"
    else:
        rate = DEFAULT_RATE if r is None else r
        years = np.array([time_to_expiry(snapshot.ts, e.item()) for e in expiries])
        future = _fill_parity_forwards(snapshot, values, row_expiry, years, rate)
        underlying, model = future, "black76"
    iv, delta, gamma, theta, vega = chain_iv_greeks(
        values, snapshot.strike, snapshot.is_call, years[row_expiry], underlying, rate, 0.0, model
    )
    return dataclasses.replace(
        snapshot, future=future, iv=iv, delta=delta, gamma=gamma, theta=theta, vega=vega
    )


def _fill_parity_forwards(
    snapshot: ChainSnapshot, values: np.ndarray, row_expiry: np.ndarray, years: np.ndarray, r: float
) -> np.ndarray:
    """``snapshot.future`` with NaN rows replaced by their expiry's parity forward."""
    future = snapshot.future.copy()
    missing = np.isnan(future)
    for j in np.unique(row_expiry[missing]):
        rows = row_expiry == j
        calls = rows & snapshot.is_call
        puts = rows & ~snapshot.is_call
        strikes, ic, ip = np.intersect1d(
            snapshot.strike[calls], snapshot.strike[puts], return_indices=True
        )
        fwd = parity_forward(strikes, values[calls][ic], values[puts][ip], years[j], r)
        future[rows & missing] = fwd
    return future
