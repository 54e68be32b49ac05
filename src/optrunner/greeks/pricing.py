"""Public Black-76 / Black-Scholes-Merton prices, greeks and implied vols.

Each function takes scalars or NumPy arrays that broadcast against each other. Scalars in
give a Python float out; arrays give an array of the broadcast shape. A bad row (NaN,
non-positive price/strike/underlying, negative T, no vol consistent with the price) gives
NaN in that row and never an exception, so a whole chain can be passed in one call.

Inputs: ``F`` forward, ``S`` spot, ``K`` strike, ``T`` years, ``r`` continuously compounded
rate, ``q`` continuous dividend yield, ``sigma`` annual vol as a fraction (0.14 = 14 %),
``is_call`` bool (or 1.0/0.0; NaN marks a bad row).

Greek units (the :class:`~optrunner.data.snapshot.ChainSnapshot` conventions):
delta and gamma are with respect to the model's underlying (F for Black-76, S for BSM),
puts have negative delta; vega is per vol point (the price change for sigma + 0.01);
theta per calendar day (per-year theta / 365, usually negative); rho per 1 % of rate.
"""

from __future__ import annotations

from math import prod
from typing import Any, NamedTuple

import numpy as np

from optrunner.greeks.columns import as_columns
from optrunner.greeks.kernels import greeks_loop, implied_vol_loop, price_loop

Value = Any  # float for scalar inputs, np.ndarray otherwise
_NO_YIELD = np.zeros(1)


class Greeks(NamedTuple):
    """Sensitivities in trader units: see the module docstring."""

    delta: Value
    gamma: Value
    vega: Value
    theta: Value
    rho: Value


def _result(shape: tuple[int, ...], values: np.ndarray) -> Value:
    return float(values[0]) if shape == () else values.reshape(shape)


def black76_price(F: Value, K: Value, T: Value, r: Value, sigma: Value, is_call: Value) -> Value:
    """Black-76 price, ``DF (F N(d1) - K N(d2))`` for a call.

    At T = 0 or sigma = 0 the limit: the discounted intrinsic value (the payoff at expiry).
    """
    shape, (f, k, t, rr, s, c) = as_columns(F=F, K=K, T=T, r=r, sigma=sigma, is_call=is_call)
    return _result(shape, price_loop(prod(shape), f, k, t, rr, _NO_YIELD, s, c, False))


def bs_price(
    S: Value, K: Value, T: Value, r: Value, q: Value, sigma: Value, is_call: Value
) -> Value:
    """Black-Scholes-Merton price with continuous yield q (Black-76 on ``F = S e^{(r-q)T}``)."""
    shape, (u, k, t, rr, qq, s, c) = as_columns(
        S=S, K=K, T=T, r=r, q=q, sigma=sigma, is_call=is_call
    )
    return _result(shape, price_loop(prod(shape), u, k, t, rr, qq, s, c, True))


def black76_greeks(F: Value, K: Value, T: Value, r: Value, sigma: Value, is_call: Value) -> Greeks:
    """Black-76 greeks: delta/gamma w.r.t. F; rho holds F fixed (= -T x price, per 1 %).

    NaN unless T > 0 and sigma > 0 (at expiry delta is a step, not a number).
    """
    shape, (f, k, t, rr, s, c) = as_columns(F=F, K=K, T=T, r=r, sigma=sigma, is_call=is_call)
    out = greeks_loop(prod(shape), f, k, t, rr, _NO_YIELD, s, c, False)
    return Greeks(*(_result(shape, row) for row in out))


def bs_greeks(
    S: Value, K: Value, T: Value, r: Value, q: Value, sigma: Value, is_call: Value
) -> Greeks:
    """Black-Scholes-Merton greeks: delta/gamma w.r.t. S; rho holds S and q fixed (per 1 %).

    NaN unless T > 0 and sigma > 0.
    """
    shape, (u, k, t, rr, qq, s, c) = as_columns(
        S=S, K=K, T=T, r=r, q=q, sigma=sigma, is_call=is_call
    )
    out = greeks_loop(prod(shape), u, k, t, rr, qq, s, c, True)
    return Greeks(*(_result(shape, row) for row in out))


def implied_vol(price: Value, F: Value, K: Value, T: Value, r: Value, is_call: Value) -> Value:
    """Black-76 implied vol, repricing the input to 1e-10 and better (relative ~1e-12;
    tiny deep-OTM prices only to the ~1e-11 the formula itself is good for). The solver
    is described in :func:`optrunner.greeks.kernels.normalised_vol`.

    NaN when ``price <= DF max(F-K, 0)`` (call) / ``DF max(K-F, 0)`` (put), when
    ``price >= DF F`` (call) / ``DF K`` (put), when ``T <= 0``, or for NaN/non-positive inputs.
    """
    shape, (p, f, k, t, rr, c) = as_columns(price=price, F=F, K=K, T=T, r=r, is_call=is_call)
    return _result(shape, implied_vol_loop(prod(shape), p, f, k, t, rr, _NO_YIELD, c, False))


def bs_implied_vol(
    price: Value, S: Value, K: Value, T: Value, r: Value, q: Value, is_call: Value
) -> Value:
    """Black-Scholes-Merton implied vol: the Black-76 one on ``F = S e^{(r-q)T}``.

    Its no-information bounds are therefore forward-based: NaN at or below
    ``DF max(F-K, 0)`` and at or above ``DF F = S e^{-qT}`` (call) / ``DF K`` (put).
    """
    shape, (p, u, k, t, rr, qq, c) = as_columns(
        price=price, S=S, K=K, T=T, r=r, q=q, is_call=is_call
    )
    return _result(shape, implied_vol_loop(prod(shape), p, u, k, t, rr, qq, c, True))
