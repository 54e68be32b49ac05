"""Black-76 / Black-Scholes-Merton pricing, greeks and implied vol as numba kernels.

Vectorised over NumPy arrays (scalars in, Python floats out), NaN in a row gives NaN in
that row and never an exception. Greek units follow the chain snapshot: delta signed
(puts negative), vega per vol point, theta per calendar day, rho per 1 % of rate.
"""

from optrunner.greeks.chain import chain_greeks, chain_iv_greeks, option_prices, parity_forward
from optrunner.greeks.pricing import (
    Greeks,
    black76_greeks,
    black76_price,
    bs_greeks,
    bs_implied_vol,
    bs_price,
    implied_vol,
)

__all__ = [
    "Greeks",
    "black76_greeks",
    "black76_price",
    "bs_greeks",
    "bs_implied_vol",
    "bs_price",
    "chain_greeks",
    "chain_iv_greeks",
    "implied_vol",
    "option_prices",
    "parity_forward",
]
