"""Greeks for a live chain, updated per tick frame: what ``chain_greeks`` computes, warm.

A live chain (:class:`~optrunner.execution.brokers.live.chain.LiveChain`) is snapshotted
after every frame of ticks, and the issue-15 budget for a frame plus a snapshot of 80
strikes is 100 us. ``chain_greeks`` spends most of its time around the kernel (finding
expiries, pairing strikes for the parity forward, broadcasting columns) and solves every
IV from a cold start. :class:`LiveGreeks` knows the chain's layout once, so one compiled
call per snapshot does all of it: mid prices, the put-call-parity forward, and per row an
implied vol started from the row's last solution moved by its last greeks when that move
is small (see :func:`warm_start`; the same bracketed solver and stopping rule decide, so
the answer is the cold one to ~1e-10 relative, in practice ~1e-13), or nothing at all
when the row's price, the forward and T are unchanged. Most of the gain is the one call
(no per-snapshot NumPy and Python work); the warm start saves ~10 % more of the kernel.

The conventions are ``chain_greeks``'s black76 mode with mid prices: T = minutes to 15:30
IST on expiry / (365 x 1440), r the T-bill rate, forward = :func:`parity_forward`'s median
of the three strikes nearest the money (both sides quoted and > 0).

Caching: numba's on-disk cache checks only the caller's own source file, so a kernel here
cached on disk would keep an old copy of the kernels.py functions it calls after they are
edited (hence kernels.py's "everything compiled lives here"). The kernel below is built
in a closure over a digest of kernels.py, and numba keys its cache on closure values: an
edited kernels.py gives a new key and a fresh compile, never a stale one.
"""

from __future__ import annotations

import hashlib
import math
import threading
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from numba import njit

from optrunner.core.timeutil import IST, SESSION_CLOSE
from optrunner.greeks import kernels
from optrunner.greeks.chain import DEFAULT_RATE
from optrunner.greeks.kernels import (
    JIT,
    NAN,
    THETA_PER_DAY,
    VEGA_PER_POINT,
    _greeks,
    _implied_vol,
    solvable,
)
from optrunner.instruments.calendar import MINUTES_PER_YEAR

PARITY_STRIKES = 3  # parity_forward's default n: the forward chain_greeks uses
# rows of LiveGreeks' output block, in this order
OUT_COLUMNS = ("future", "iv", "delta", "gamma", "theta", "vega")
WARM_MOVE = 1e-3  # largest relative IV move the warm start predicts; beyond it, a cold start
# rows of the per-row state: the inputs of the last solve (its results are the output block)
_PRICE, _FORWARD, _YEARS = range(3)


def _kernels_digest() -> int:
    with open(kernels.__file__, "rb") as f:
        return int.from_bytes(hashlib.sha256(f.read()).digest()[:7], "big")


@njit(**JIT)
def parity(price: np.ndarray, strike: np.ndarray, pairs: np.ndarray, growth: float) -> float:
    """:func:`~optrunner.greeks.chain.parity_forward` over ``pairs`` (put row, call row)
    in ascending strike: the ``PARITY_STRIKES`` smallest ``|C - P|`` (ties: lower
    strike first, as a stable argsort), median of ``K + e^{rT} (C - P)``."""
    best_abs = np.full(PARITY_STRIKES, np.inf)
    best_fwd = np.empty(PARITY_STRIKES)
    m = 0
    for j in range(pairs.shape[0]):
        k, p, c = strike[pairs[j, 0]], price[pairs[j, 0]], price[pairs[j, 1]]
        if not (0.0 < k < np.inf and 0.0 < c < np.inf and 0.0 < p < np.inf):
            continue
        d = c - p
        a = abs(d)
        if m == PARITY_STRIKES and not a < best_abs[m - 1]:
            continue
        pos = min(m, PARITY_STRIKES - 1)
        while pos > 0 and a < best_abs[pos - 1]:  # insertion: equal |C - P| stay behind
            best_abs[pos], best_fwd[pos] = best_abs[pos - 1], best_fwd[pos - 1]
            pos -= 1
        best_abs[pos], best_fwd[pos] = a, k + growth * d
        m = min(m + 1, PARITY_STRIKES)
    if m == 0:
        return NAN
    if m % 2:
        return np.sort(best_fwd[:m])[m // 2]
    lo = np.sort(best_fwd[:m])
    return (lo[m // 2 - 1] + lo[m // 2]) / 2.0


@njit(**JIT)
def warm_start(
    p: float,
    f: float,
    t: float,
    sqrt_t: float,
    last: np.ndarray,
    out: np.ndarray,
    per_day: float,
    per_point: float,
) -> float:
    """Total vol to start the row's solve from: the last IV moved to first order by the
    changes in price, forward and T since (``dp = vega dsigma + delta dF + gamma dF^2 / 2 +
    dV/dT dT``, from the last greeks), so one Halley step finishes even after the market moved.
    NaN (a cold start) without a last solve, or when it predicts a move of more than
    ``WARM_MOVE``: its error grows as the move squared, while the cold start is computed from
    the new price itself (good to ~1e-7 for index options), so past ~0.1 % the cold start is
    the better guess (measured: quotes flickering a tick in the wings, a forward moving points).
    ``per_day`` and ``per_point`` are the greeks' units (kernels.py's, passed by the caller
    whose cache is keyed on that file)."""
    iv, delta, gamma, theta, vega = out[1], out[2], out[3], out[4], out[5]
    if not (iv > 0.0 and vega > 0.0):
        return NAN
    df = f - last[_FORWARD]
    dv_dt = -theta / per_day  # theta is -dV/dT per calendar day
    moved = (p - last[_PRICE]) - (delta + 0.5 * gamma * df) * df - dv_dt * (t - last[_YEARS])
    guess = iv + moved * per_point / vega
    return guess * sqrt_t if abs(guess - iv) < WARM_MOVE * iv else NAN


def _build(kernels_digest: int) -> Any:  # a numba dispatcher
    """The update kernel, in a closure over ``kernels_digest`` only (numba keys its cache on
    the pickled closure values: anything else captured here would defeat the cache)."""

    @njit(**JIT)
    def update(quotes: np.ndarray, strike: np.ndarray, call: np.ndarray, pairs: np.ndarray,
               t: float, r: float, state: np.ndarray, out: np.ndarray) -> int:  # fmt: skip
        """Refresh ``out`` (OUT_COLUMNS x rows) from ``quotes`` (bid, ask, ltp rows) at T = ``t``;
        returns how many rows were solved (the rest had unchanged inputs)."""
        assert kernels_digest != 0  # the closure value numba keys its cache on
        n = strike.size
        price = np.empty(n)
        for i in range(n):
            b, a = quotes[0, i], quotes[1, i]
            price[i] = 0.5 * (b + a) if b > 0.0 and a > 0.0 else quotes[2, i]
        f = parity(price, strike, pairs, math.exp(r * t))
        df, sqrt_t = math.exp(-r * t), math.sqrt(t)
        solved = 0
        for i in range(n):
            p, k, c = price[i], strike[i], call[i]
            out[0, i] = f
            if p == state[_PRICE, i] and f == state[_FORWARD, i] and t == state[_YEARS, i]:
                continue  # NaN never compares equal: a row without inputs is always redone
            solved += 1
            iv = delta = gamma = theta = vega = NAN
            if solvable(p, f, k, t, r, 0.0, c):
                w = 1.0 if c != 0.0 else -1.0
                log_fk = math.log(f / k)
                iv = _implied_vol(
                    p,
                    f,
                    k,
                    df,
                    w,
                    log_fk,
                    sqrt_t,
                    warm_start(
                        p, f, t, sqrt_t, state[:, i], out[:, i], THETA_PER_DAY, VEGA_PER_POINT
                    ),
                )
                if iv == iv:
                    delta, gamma, vega, theta, _ = _greeks(
                        f, k, t, r, 0.0, iv, w, df, sqrt_t, log_fk, False
                    )
            state[_PRICE, i], state[_FORWARD, i], state[_YEARS, i] = p, f, t
            out[1, i], out[2, i], out[3, i], out[4, i], out[5, i] = iv, delta, gamma, theta, vega
        return solved

    return update


_update = _build(_kernels_digest())


class LiveGreeks:
    """Warm-started greeks for one expiry's fixed set of rows (a live chain's window).

    Holds each row's last inputs and solution; :meth:`update` takes the rows' bid, ask and
    ltp and returns a fresh ``OUT_COLUMNS`` block equal to what ``chain_greeks`` (black76,
    mid prices) writes for the same snapshot. Several threads may call it: the state is
    updated under a lock. A window that moves gets a new LiveGreeks, which
    :meth:`take_over` s the rows both windows share: only new rows start cold.
    """

    def __init__(
        self, expiry: date, strike: np.ndarray, is_call: np.ndarray, *, r: float = DEFAULT_RATE
    ) -> None:
        self.expiry, self.r = expiry, float(r)
        self.strike = np.ascontiguousarray(strike, dtype=np.float64)
        calls = np.asarray(is_call, dtype=bool)
        if calls.shape != self.strike.shape:
            raise ValueError(
                f"LiveGreeks: strike{self.strike.shape} and is_call{calls.shape} must align"
            )
        self._call = calls.astype(np.float64)
        put_rows, call_rows = np.flatnonzero(~calls), np.flatnonzero(calls)
        _, ip, ic = np.intersect1d(
            self.strike[put_rows], self.strike[call_rows], return_indices=True
        )
        self._pairs = np.ascontiguousarray(
            np.stack([put_rows[ip], call_rows[ic]], axis=1), dtype=np.int64
        )
        self._close = datetime.combine(expiry, SESSION_CLOSE, IST).timestamp()
        n = len(self.strike)
        self._state = np.full((3, n), np.nan)
        self._out = np.full((len(OUT_COLUMNS), n), np.nan)
        self._quotes = np.empty((3, n))
        self._lock = threading.Lock()
        self.solved = 0  # rows solved by the last update (the rest were unchanged)

    def years(self, ts: datetime) -> float:
        """``time_to_expiry(ts, expiry)`` without building datetimes: a naive ts is UTC."""
        epoch = (ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)).timestamp()
        return max((self._close - epoch) / 60.0, 0.0) / MINUTES_PER_YEAR

    def take_over(self, other: LiveGreeks, rows: np.ndarray, other_rows: np.ndarray) -> None:
        """Start ``rows`` from ``other``'s ``other_rows`` (the same contracts in a window that
        moved), so a re-centred chain's first update is warm for the rows it kept."""
        if (
            (other.expiry, other.r) != (self.expiry, self.r)
            or not np.array_equal(self.strike[rows], other.strike[other_rows])
            or not np.array_equal(self._call[rows], other._call[other_rows])
        ):
            raise ValueError("LiveGreeks.take_over: rows of another expiry, rate or contract")
        with other._lock:
            state, out = other._state[:, other_rows], other._out[:, other_rows]
        with self._lock:
            self._state[:, rows], self._out[:, rows] = state, out

    def update(self, bid: np.ndarray, ask: np.ndarray, ltp: np.ndarray, ts: datetime) -> np.ndarray:
        """A new ``(len(OUT_COLUMNS), rows)`` array: future, iv, delta, gamma, theta, vega."""
        t = self.years(ts)
        with self._lock:
            q = self._quotes
            q[0], q[1], q[2] = bid, ask, ltp
            self.solved = _update(
                q, self.strike, self._call, self._pairs, t, self.r, self._state, self._out
            )
            return self._out.copy()


__all__ = ["OUT_COLUMNS", "LiveGreeks"]
