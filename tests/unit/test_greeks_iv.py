"""Implied vol: round trips over a wide grid, the no-information bounds, bad rows.

Round-trip rule (F = 100): a grid point carries information when its time value
(price - discounted intrinsic) and its room below the upper bound both exceed 1e-12.
There the IV must reprice to 1e-10 absolute and 1e-9 relative. Elsewhere the price is the
bound to ~12 digits: the IV may be NaN or a positive vol, but if it is a number it must
reprice to 1e-12 absolute (no made-up vol); at or beyond a bound it must be NaN.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optrunner.greeks import black76_price as b76
from optrunner.greeks import bs_implied_vol, bs_price, implied_vol
from optrunner.greeks.kernels import initial_vol

F, R = 100.0, 0.05
MONEYNESS = np.geomspace(0.5, 2.0, 41)[:, None, None, None]
TIMES = np.array([1, 2, 7, 30, 91, 182, 365, 730])[None, :, None, None] / 365
SIGMAS = np.geomspace(0.05, 1.5, 25)[None, None, :, None]
CALL = np.array([True, False])[None, None, None, :]


def _bounds(K, T, is_call, forward=F, r=R):
    df = np.exp(-r * T)
    intrinsic = df * np.where(is_call, np.maximum(forward - K, 0), np.maximum(K - forward, 0))
    return intrinsic, df * np.where(is_call, forward, K)


def _check_round_trip(price, iv, reprice, lower, upper):
    informative = (price - lower > 1e-12) & (upper - price > 1e-12)
    assert informative.sum() > 0.6 * price.size
    err = np.abs(reprice - price)
    assert not np.isnan(iv[informative]).any()
    assert err[informative].max() <= 1e-10
    assert (err / price)[informative].max() <= 1e-9
    rest = ~informative & np.isfinite(iv)
    assert np.all(iv[rest] > 0)
    assert np.all(err[rest] <= 1e-12)
    assert np.isnan(iv[(price <= lower) | (price >= upper)]).all()


def test_black76_round_trip_over_wide_grid():
    K = F * MONEYNESS
    price = b76(F, K, TIMES, R, SIGMAS, CALL)
    iv = implied_vol(price, F, K, TIMES, R, CALL)
    assert iv.shape == price.shape == (41, 8, 25, 2)
    _check_round_trip(price, iv, b76(F, K, TIMES, R, iv, CALL), *_bounds(K, TIMES, CALL))


def test_bs_round_trip_over_wide_grid_uses_forward_bounds():
    S, q = 100.0, 0.03
    K = S * MONEYNESS
    price = bs_price(S, K, TIMES, R, q, SIGMAS, CALL)
    iv = bs_implied_vol(price, S, K, TIMES, R, q, CALL)
    reprice = bs_price(S, K, TIMES, R, q, iv, CALL)
    _check_round_trip(price, iv, reprice, *_bounds(K, TIMES, CALL, S * np.exp((R - q) * TIMES)))


def test_vol_recovered_where_vega_is_material():
    """Where a vol point moves the price by > 1e-4 the vol itself comes back to ~1e-9."""
    K = F * MONEYNESS
    price = b76(F, K, TIMES, R, SIGMAS, CALL)
    iv = implied_vol(price, F, K, TIMES, R, CALL)
    sensitive = (b76(F, K, TIMES, R, SIGMAS + 0.01, CALL) - price) > 1e-4
    sigma = np.broadcast_to(SIGMAS, price.shape)
    assert sensitive.sum() > 0.4 * price.size
    assert np.max(np.abs(iv - sigma)[sensitive] / sigma[sensitive]) < 1e-9


@settings(max_examples=300, deadline=None)
@given(
    steps=st.integers(-30, 30),
    days=st.floats(0.01, 30.0),
    sigma=st.floats(0.08, 0.6),
    is_call=st.booleans(),
)
def test_nifty_like_rows_converge_to_1e10_in_price(steps, days, sigma, is_call):
    fwd, K, T = 24012.35, 24000.0 + 50 * steps, days / 365
    price = b76(fwd, K, T, 0.055, sigma, is_call)
    lower, _ = _bounds(K, T, is_call, fwd, 0.055)
    if price - lower <= 1e-9 * fwd:  # no information left at this tick scale
        return
    iv = implied_vol(price, fwd, K, T, 0.055, is_call)
    assert abs(b76(fwd, K, T, 0.055, iv, is_call) - price) <= 1e-10


@pytest.mark.parametrize("is_call", [True, False])
def test_price_at_intrinsic_or_upper_bound_has_no_vol(is_call):
    T, K = 0.25, 90.0
    df = math.exp(-R * T)
    intrinsic = df * max((F - K) if is_call else (K - F), 0.0)
    upper = df * (F if is_call else K)
    if intrinsic > 0:
        assert math.isnan(implied_vol(intrinsic, F, K, T, R, is_call))
        assert math.isnan(implied_vol(intrinsic * 0.99, F, K, T, R, is_call))
    assert math.isnan(implied_vol(upper, F, K, T, R, is_call))
    assert math.isnan(implied_vol(upper * 1.01, F, K, T, R, is_call))
    # just inside the bounds there is a vol, and it reprices
    for price in (intrinsic + 1e-6, upper - 1e-6):
        iv = implied_vol(price, F, K, T, R, is_call)
        assert iv > 0
        assert b76(F, K, T, R, iv, is_call) == pytest.approx(price, abs=1e-10)


@pytest.mark.parametrize("is_call", [True, False])
def test_prices_approaching_the_upper_bound_still_converge(is_call):
    """Near DF F (call) / DF K (put) the price is flat in vol: huge vols, still exact prices."""
    K, T = np.array([60.0, 90.0, 100.0, 140.0]), 0.25
    _, upper = _bounds(K[:, None], T, is_call)
    price = upper * (1 - np.geomspace(1e-2, 1e-10, 9))[None, :]
    iv = implied_vol(price, F, K[:, None], T, R, is_call)
    assert np.isfinite(iv).all() and (iv > 1.0).all()
    np.testing.assert_allclose(b76(F, K[:, None], T, R, iv, is_call), price, rtol=0, atol=1e-10)


def test_bs_intrinsic_is_forward_based_not_spot_based():
    """With q > r a deep ITM call is worth less than S - K and still has a vol."""
    S, K, T, r, q = 100.0, 60.0, 1.0, 0.02, 0.08
    fwd_intrinsic = math.exp(-r * T) * (S * math.exp((r - q) * T) - K)
    assert fwd_intrinsic < S - K
    price = fwd_intrinsic + 0.05
    iv = bs_implied_vol(price, S, K, T, r, q, True)
    assert bs_price(S, K, T, r, q, iv, True) == pytest.approx(price, abs=1e-10)
    assert math.isnan(bs_implied_vol(fwd_intrinsic, S, K, T, r, q, True))
    assert math.isnan(bs_implied_vol(S * math.exp(-q * T), S, K, T, r, q, True))


@pytest.mark.parametrize("minutes", [1, 5, 30, 375])
def test_tiny_time_to_expiry(minutes):
    T = minutes / (365 * 1440)
    fwd, K = 24010.0, np.array([23900.0, 24000.0, 24050.0, 24100.0])
    price = b76(fwd, K, T, 0.055, 0.15, True)
    iv = implied_vol(price, fwd, K, T, 0.055, True)
    sensitive = b76(fwd, K, T, 0.055, 0.16, True) - price > 1e-6
    assert sensitive[1]  # at the money there is always something to solve
    np.testing.assert_allclose(iv[sensitive], 0.15, rtol=1e-8)
    solved = np.isfinite(iv)
    assert np.all(np.abs(b76(fwd, K[solved], T, 0.055, iv[solved], True) - price[solved]) < 1e-10)


@pytest.mark.parametrize("T", [0.0, -0.01, math.nan, math.inf])
def test_no_vol_without_positive_time(T):
    assert math.isnan(implied_vol(5.0, 100.0, 100.0, T, R, True))
    assert math.isnan(bs_implied_vol(5.0, 100.0, 100.0, T, R, 0.0, True))


@pytest.mark.parametrize("price", [0.0, -1.0, math.nan, math.inf])
def test_no_vol_for_missing_or_nonpositive_price(price):
    assert math.isnan(implied_vol(price, 100.0, 100.0, 0.1, R, True))


def test_nan_in_any_input_gives_nan_only_in_that_row():
    good = {"price": 4.0, "F": 100.0, "K": 100.0, "T": 0.25, "r": R, "is_call": 1.0}
    expected = implied_vol(**good)
    assert 0.1 < expected < 0.3
    for name in good:
        args = {k: np.full(3, v) for k, v in good.items()}
        args[name][1] = math.nan
        iv = implied_vol(**args)
        assert math.isnan(iv[1]), name
        assert iv[0] == iv[2] == expected, name


def test_mixed_good_and_bad_rows():
    price = np.array([4.0, 0.0, 4.0, -2.0, 4.0, 4.0, 4.0, 120.0, 4.0])
    fwd = np.array([100.0, 100.0, -100.0, 100.0, 100.0, 100.0, 0.0, 100.0, 100.0])
    K = np.array([100.0, 100.0, 100.0, 100.0, 0.0, 100.0, 100.0, 100.0, 100.0])
    T = np.array([0.25, 0.25, 0.25, 0.25, 0.25, -1.0, 0.25, 0.25, 0.25])
    iv = implied_vol(price, fwd, K, T, R, True)
    bad = np.array([False, True, True, True, True, True, True, True, False])
    assert np.isnan(iv[bad]).all()
    assert np.isfinite(iv[~bad]).all()
    greeks_rows = bs_price(100.0, K, T, R, 0.0, np.where(bad, math.nan, 0.2), True)
    assert np.isnan(greeks_rows[bad]).all() and np.isfinite(greeks_rows[~bad]).all()


@pytest.mark.parametrize("moneyness", [0.5, 0.7, 1.4, 2.0])
@pytest.mark.parametrize("is_call", [True, False])
def test_deep_itm_and_otm_short_dated(moneyness, is_call):
    """Deep rows come back where the price still depends on the vol, else reprice or NaN."""
    K, T = F * moneyness, np.array([1, 3, 10, 30]) / 365
    price = b76(F, K, T, R, 0.6, is_call)
    iv = implied_vol(price, F, K, T, R, is_call)
    sensitive = b76(F, K, T, R, 0.61, is_call) - price > 1e-8
    assert sensitive.any()
    np.testing.assert_allclose(iv[sensitive], 0.6, rtol=1e-6)
    solved = np.isfinite(iv)
    assert np.all(iv[solved] > 0)
    assert np.all(np.abs(b76(F, K, T[solved], R, iv[solved], is_call) - price[solved]) <= 1e-12)
    lower, _ = _bounds(K, T, is_call)
    assert np.isnan(iv[price <= lower]).all()


def test_scalars_give_floats_and_arrays_broadcast():
    iv = implied_vol(4.0, 100.0, 100.0, 0.25, R, True)
    assert type(iv) is float
    grid = implied_vol(
        np.array([[3.0], [4.0]]), 100.0, np.array([100.0, 101.0, 102.0]), 0.25, R, True
    )
    assert grid.shape == (2, 3)
    assert grid[1, 0] == iv


def test_bad_argument_types_and_shapes_are_named():
    with pytest.raises(TypeError, match="is_call"):
        implied_vol(4.0, 100.0, 100.0, 0.25, R, "CE")
    with pytest.raises(ValueError, match=r"price\(2,\).*K\(3,\)"):
        implied_vol(np.ones(2), 100.0, np.ones(3), 0.25, R, True)


def test_starting_point_is_close_for_index_options():
    """On NIFTY-like rows the solver starts within 1e-7 almost everywhere (normal-model
    table + Hagan), so one Halley step finishes; deep OTM (the asymptote) within 0.2 %."""
    fwd = 24012.35
    K = fwd + 50.0 * np.arange(-30, 31)[:, None, None]
    T = np.linspace(1, 30, 30)[None, :, None] / 365
    sigma = np.linspace(0.1, 0.4, 7)[None, None, :]
    otm_price = b76(fwd, K, T, 0.0, sigma, fwd < K)  # r = 0: undiscounted
    beta, x, v = np.broadcast_arrays(
        otm_price / np.sqrt(fwd * K), -np.abs(np.log(fwd / K)), sigma * np.sqrt(T)
    )
    start = [
        initial_vol(b, math.log(b), xx, math.exp(0.5 * xx))
        for b, xx in zip(beta.flat, x.flat, strict=True)
    ]
    error = np.abs(np.array(start) / v.ravel() - 1)
    assert np.quantile(error, 0.99) < 1e-7
    assert error.max() < 2e-3
