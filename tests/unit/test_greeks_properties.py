"""Model invariants: put-call parity, monotonicity in sigma, greeks = finite differences.

Finite differences are central, so their truncation error is O(h^2); each check is
relative to the size of the greek, with a small absolute floor for greeks near zero.
Unit conventions under test: vega per vol point, theta per calendar day (= -dV/dT / 365),
rho per 1 % of rate; BSM derivatives hold S and q fixed, Black-76 ones hold F fixed.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optrunner.greeks import black76_greeks, black76_price, bs_greeks, bs_price

CASES = [
    # (underlying, K, T, r, q, sigma)  -- q is ignored for Black-76
    (24000.0, 24000.0, 7 / 365, 0.055, 0.0, 0.12),  # NIFTY ATM weekly
    (24000.0, 25000.0, 20 / 365, 0.055, 0.01, 0.15),  # OTM call / ITM put
    (24000.0, 22500.0, 2 / 365, 0.055, 0.0, 0.20),  # deep ITM call, 2 days
    (100.0, 80.0, 1.5, 0.03, 0.02, 0.45),
    (100.0, 130.0, 0.25, -0.01, 0.04, 0.30),  # negative rate
    (50.0, 50.0, 0.01, 0.10, 0.0, 1.2),
]


def _bs(S, K, T, r, q, sigma, is_call):
    return bs_price(S, K, T, r, q, sigma, is_call)


def _b76(F, K, T, r, q, sigma, is_call):
    return black76_price(F, K, T, r, sigma, is_call)


def _finite_differences(price, u, K, T, r, q, sigma, is_call):
    """(delta, gamma, vega, theta, rho) by central differences in our units, and for each
    the size of the rounding noise in it: ~10 ulps of the price formula's terms (which are
    as large as the underlying) over the step."""

    def p(**bump):
        args = {"u": u, "T": T, "r": r, "sigma": sigma} | bump
        return price(args["u"], K, args["T"], args["r"], q, args["sigma"], is_call)

    # steps scaled to the price's own curvature scale: u sigma sqrt(T) for the underlying
    hu, hs, ht, hr = u * sigma * math.sqrt(T) * 1e-3, sigma * 1e-4, T * 1e-4, 1e-6
    v0 = p()
    ulps = 10 * np.spacing(u)
    fd = (
        (p(u=u + hu) - p(u=u - hu)) / (2 * hu),
        (p(u=u + hu) - 2 * v0 + p(u=u - hu)) / hu**2,
        (p(sigma=sigma + hs) - p(sigma=sigma - hs)) / (2 * hs) * 0.01,
        -(p(T=T + ht) - p(T=T - ht)) / (2 * ht) / 365,
        (p(r=r + hr) - p(r=r - hr)) / (2 * hr) * 0.01,
    )
    noise = (ulps / hu, 4 * ulps / hu**2, ulps / hs * 0.01, ulps / ht / 365, ulps / hr * 0.01)
    return fd, noise


def _assert_greeks_match(greeks, fd_and_noise):
    fd, noise = fd_and_noise
    names = ("delta", "gamma", "vega", "theta", "rho")
    for name, got, want, err in zip(names, greeks, fd, noise, strict=True):
        assert abs(got - want) <= 2e-5 * abs(want) + err + 1e-15, (name, got, want)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("is_call", [True, False])
def test_bs_greeks_are_finite_differences_of_the_price(case, is_call):
    S, K, T, r, q, sigma = case
    fd = _finite_differences(_bs, S, K, T, r, q, sigma, is_call)
    _assert_greeks_match(bs_greeks(S, K, T, r, q, sigma, is_call), fd)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("is_call", [True, False])
def test_black76_greeks_are_finite_differences_of_the_price(case, is_call):
    F, K, T, r, _, sigma = case
    fd = _finite_differences(_b76, F, K, T, r, 0.0, sigma, is_call)
    _assert_greeks_match(black76_greeks(F, K, T, r, sigma, is_call), fd)


@settings(max_examples=200, deadline=None)
@given(
    moneyness=st.floats(0.7, 1.4),
    T=st.floats(2 / 365, 2.0),
    r=st.floats(-0.02, 0.12),
    q=st.floats(0.0, 0.06),
    sigma=st.floats(0.05, 1.0),
    is_call=st.booleans(),
)
def test_bs_greeks_match_finite_differences_everywhere(moneyness, T, r, q, sigma, is_call):
    S = 100.0
    fd = _finite_differences(_bs, S, S * moneyness, T, r, q, sigma, is_call)
    _assert_greeks_match(bs_greeks(S, S * moneyness, T, r, q, sigma, is_call), fd)


@pytest.mark.parametrize("case", CASES)
def test_put_call_parity_both_models(case):
    u, K, T, r, q, sigma = case
    df = math.exp(-r * T)
    b76 = black76_price(u, K, T, r, sigma, True) - black76_price(u, K, T, r, sigma, False)
    assert b76 == pytest.approx(df * (u - K), rel=1e-12, abs=1e-12 * u)
    bs = bs_price(u, K, T, r, q, sigma, True) - bs_price(u, K, T, r, q, sigma, False)
    assert bs == pytest.approx(u * math.exp(-q * T) - K * df, rel=1e-12, abs=1e-12 * u)


def test_put_call_parity_vectorised_over_a_grid():
    F = 100.0
    K = np.linspace(50, 200, 61)[:, None]
    T = np.array([1 / 365, 0.1, 1.0, 2.0])[None, :]
    calls = black76_price(F, K, T, 0.06, 0.35, True)
    puts = black76_price(F, K, T, 0.06, 0.35, False)
    assert calls.shape == (61, 4)
    np.testing.assert_allclose(calls - puts, np.exp(-0.06 * T) * (F - K), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("is_call", [True, False])
@pytest.mark.parametrize("K", [60.0, 100.0, 170.0])
def test_price_increases_with_sigma(K, is_call):
    S, T, r, q = 100.0, 0.5, 0.05, 0.01
    sigma = np.linspace(0.01, 3.0, 600)
    p = bs_price(S, K, T, r, q, sigma, is_call)
    w = 1 if is_call else -1
    time_value = p - max(w * (S * math.exp(-q * T) - K * math.exp(-r * T)), 0.0)
    steps = np.diff(p)
    assert np.all(steps >= 0)
    # strictly wherever the time value is above rounding noise (at sigma ~ 0 deep in or out
    # of the money the price is the bound to every printed digit)
    assert np.all(steps[time_value[:-1] > 1e-9] > 0)
    assert np.count_nonzero(time_value > 1e-9) > 500
    vega = bs_greeks(100.0, K, 0.5, 0.05, 0.01, sigma, is_call).vega
    assert np.all(vega >= 0)


def test_price_tends_to_intrinsic_as_t_goes_to_zero():
    F, K = 100.0, 95.0
    for T in (1e-4, 1e-6, 1e-8):
        assert black76_price(F, K, T, 0.05, 0.2, True) == pytest.approx(
            math.exp(-0.05 * T) * 5.0, abs=0.5 * F * 0.2 * math.sqrt(T)
        )
    assert black76_price(F, K, 0.0, 0.05, 0.2, True) == 5.0
    assert black76_price(F, K, 0.0, 0.05, 0.2, False) == 0.0
    assert bs_price(F, K, 0.3, 0.05, 0.0, 0.0, True) == pytest.approx(
        F - K * math.exp(-0.05 * 0.3), rel=1e-14
    )


def test_greeks_are_nan_for_bad_rows_only():
    """No greeks at expiry, at zero vol or for NaN / non-positive inputs; the rest unaffected."""
    T = np.array([0.1, 0.0, -0.1, 0.1, 0.1, 0.1, np.nan, 0.1])
    sigma = np.array([0.2, 0.2, 0.2, 0.0, 0.2, 0.2, 0.2, 0.2])
    F = np.array([100.0, 100.0, 100.0, 100.0, -1.0, 100.0, 100.0, 100.0])
    is_call = np.array([1.0, 1.0, 1.0, 1.0, 1.0, np.nan, 1.0, 0.0])
    bad = np.array([False, True, True, True, True, True, True, False])
    for g in (
        black76_greeks(F, 100.0, T, 0.05, sigma, is_call),
        bs_greeks(F, 100.0, T, 0.05, 0.0, sigma, is_call),
    ):
        for column in g:
            assert np.isnan(column[bad]).all() and np.isfinite(column[~bad]).all()
    assert g.delta[-1] < 0 < g.delta[0]
