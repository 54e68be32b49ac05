"""Whole-chain kernel, parity forward and ChainSnapshot greeks against the scalar functions."""

import math
import multiprocessing
from datetime import date, datetime

import numpy as np
import pytest

from optrunner.core.timeutil import IST
from optrunner.data.snapshot import ChainSnapshot
from optrunner.greeks import (
    black76_greeks,
    black76_price,
    bs_greeks,
    bs_implied_vol,
    bs_price,
    chain_greeks,
    chain_iv_greeks,
    implied_vol,
    parity_forward,
)
from optrunner.greeks.kernels import PARALLEL_MIN_ROWS
from optrunner.instruments import time_to_expiry

FWD, T, R = 24012.35, 5 / 365, 0.055
STRIKES = np.arange(23000.0, 25001.0, 50.0)


def _skew(K, fwd=FWD):
    return 0.13 + 0.4 * np.log(K / fwd) ** 2 - 0.1 * np.log(K / fwd)


def _synthetic_chain(fwd=FWD, t=T, r=R):
    calls = black76_price(fwd, STRIKES, t, r, _skew(STRIKES, fwd), True)
    puts = black76_price(fwd, STRIKES, t, r, _skew(STRIKES, fwd), False)
    return calls, puts


# --- parity_forward ---------------------------------------------------------------------


def test_parity_forward_recovers_the_generating_forward():
    calls, puts = _synthetic_chain()
    assert parity_forward(STRIKES, calls, puts, T, R) == pytest.approx(FWD, rel=1e-12)


def test_parity_forward_ignores_unusable_strikes_and_outvotes_a_stale_one():
    calls, puts = _synthetic_chain()
    atm = int(np.argmin(np.abs(STRIKES - FWD)))
    calls[atm] = np.nan  # the best strike has no call quote
    puts[atm + 1] = 0.0  # the next one a zero put
    calls[atm - 1] = -1.0
    calls[atm + 2] += 3.0  # a stale call: the nearest usable strike now, |C - P| = 84.6
    assert parity_forward(STRIKES, calls, puts, T, R, n=3) == pytest.approx(FWD, rel=1e-12)
    assert parity_forward(STRIKES, calls, puts, T, R, n=1) == pytest.approx(
        FWD + 3.0 * math.exp(R * T), rel=1e-12
    )


def test_parity_forward_nan_when_nothing_usable_and_errors_named():
    assert math.isnan(parity_forward([24000.0], [np.nan], [10.0], T, R))
    assert math.isnan(parity_forward([], [], [], T, R))
    with pytest.raises(ValueError, match="n must be >= 1"):
        parity_forward(STRIKES, *_synthetic_chain(), T, R, n=0)
    with pytest.raises(ValueError, match="align"):
        parity_forward(STRIKES, np.ones(3), np.ones(3), T, R)


# --- chain_iv_greeks --------------------------------------------------------------------


def _rows(n_per_side=None):
    n_per_side = len(STRIKES) if n_per_side is None else n_per_side
    calls, puts = _synthetic_chain()
    price = np.concatenate([calls, puts])[: 2 * n_per_side]
    strike = np.concatenate([STRIKES, STRIKES])[: 2 * n_per_side]
    is_call = np.repeat([True, False], len(STRIKES))[: 2 * n_per_side]
    return price, strike, is_call


def test_chain_kernel_reproduces_scalar_black76():
    price, strike, is_call = _rows()
    iv, delta, gamma, theta, vega = chain_iv_greeks(price, strike, is_call, T, FWD, R)
    np.testing.assert_allclose(iv, _skew(strike), rtol=1e-8)
    for i in range(0, len(price), 7):
        want_iv = implied_vol(float(price[i]), FWD, float(strike[i]), T, R, bool(is_call[i]))
        g = black76_greeks(FWD, float(strike[i]), T, R, want_iv, bool(is_call[i]))
        assert iv[i] == want_iv
        assert (delta[i], gamma[i], theta[i], vega[i]) == (g.delta, g.gamma, g.theta, g.vega)


def test_chain_kernel_bs_model_with_yield():
    S, q = 24000.0, 0.012
    K = STRIKES[::5]
    price = bs_price(S, K, T, R, q, 0.2, True)
    iv, delta, gamma, theta, vega = chain_iv_greeks(price, K, True, T, S, R, q, model="bs")
    np.testing.assert_allclose(iv, 0.2, rtol=1e-8)
    g = bs_greeks(S, K, T, R, q, iv, True)
    for got, want in ((delta, g.delta), (gamma, g.gamma), (theta, g.theta), (vega, g.vega)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(iv, bs_implied_vol(price, S, K, T, R, q, True))


def test_chain_kernel_rows_without_iv_have_nan_greeks():
    price, strike, is_call = _rows()
    df = math.exp(-R * T)
    intrinsic = df * np.where(is_call, np.maximum(FWD - strike, 0), np.maximum(strike - FWD, 0))
    bad = np.zeros(len(price), bool)
    bad[[3, 10, 50, 60]] = True
    price = price.copy()
    price[3] = intrinsic[3]  # at intrinsic (deep ITM call)
    price[10] = 0.0
    price[50] = np.nan
    price[60] = df * strike[60] + 1.0  # above the put's upper bound
    out = chain_iv_greeks(price, strike, is_call, T, FWD, R)
    for column in out:
        assert np.isnan(column[bad]).all()
        assert np.isfinite(column[~bad]).all()


def test_parallel_path_matches_serial_path():
    price, strike, is_call = _rows()
    reps = PARALLEL_MIN_ROWS // len(price) + 2
    big = [np.tile(a, reps) for a in (price, strike, is_call)]
    t = np.linspace(1, 30, len(big[0])) / 365  # a column, not a scalar
    fwd = FWD * np.exp(R * t)
    price_big = black76_price(fwd, big[1], t, R, 0.15, big[2])
    parallel = chain_iv_greeks(price_big, big[1], big[2], t, fwd, R)
    pieces = [
        chain_iv_greeks(price_big[s], big[1][s], big[2][s], t[s], fwd[s], R)
        for s in np.array_split(np.arange(len(t)), 8)
    ]
    serial = [np.concatenate([piece[j] for piece in pieces]) for j in range(5)]
    assert len(t) >= PARALLEL_MIN_ROWS > len(t) // 8
    for a, b in zip(parallel, serial, strict=True):
        np.testing.assert_array_equal(a, b)


def test_chain_kernel_rejects_bad_model_and_yield_with_black76():
    price, strike, is_call = _rows(3)
    with pytest.raises(ValueError, match="model must be one of"):
        chain_iv_greeks(price, strike, is_call, T, FWD, R, model="black")
    with pytest.raises(ValueError, match="q is a spot model"):
        chain_iv_greeks(price, strike, is_call, T, FWD, R, q=0.01)


# --- chain_greeks on a ChainSnapshot ----------------------------------------------------

TS = datetime(2026, 3, 10, 11, 0, tzinfo=IST)  # Tuesday morning
WEEKLY, MONTHLY = date(2026, 3, 17), date(2026, 3, 30)
SPOT, MONTHLY_FUTURE = 24000.0, 24150.0


def _snapshot():
    """Weekly (no listed future) and monthly (future quoted) rows, 5 strikes a side."""
    strikes = np.arange(23900.0, 24101.0, 50.0)
    cols = {
        "strike": [],
        "expiry": [],
        "is_call": [],
        "bid": [],
        "ask": [],
        "ltp": [],
        "future": [],
    }
    for expiry, fwd, future in (
        (WEEKLY, 24030.0, np.nan),
        (MONTHLY, MONTHLY_FUTURE, MONTHLY_FUTURE),
    ):
        t = time_to_expiry(TS, expiry)
        for is_call in (True, False):
            mid = black76_price(fwd, strikes, t, R, 0.14, is_call)
            cols["strike"] += list(strikes)
            cols["expiry"] += [np.datetime64(expiry)] * len(strikes)
            cols["is_call"] += [is_call] * len(strikes)
            cols["bid"] += list(mid - 0.5)
            cols["ask"] += list(mid + 0.5)
            cols["ltp"] += list(mid + 0.25)
            cols["future"] += [future] * len(strikes)
    return ChainSnapshot.from_columns("NIFTY", TS, SPOT, cols)


def test_chain_greeks_black76_fills_weekly_forward_and_matches_scalars():
    snap = _snapshot()
    out = chain_greeks(snap)
    assert (
        out is not snap
        and np.isnan(snap.iv).all()
        and np.isnan(snap.future[: len(snap) // 2]).all()
    )
    weekly = out.expiry == np.datetime64(WEEKLY)
    np.testing.assert_allclose(out.future[weekly], 24030.0, rtol=1e-12)
    np.testing.assert_array_equal(out.future[~weekly], MONTHLY_FUTURE)
    mid = 0.5 * (snap.bid + snap.ask)
    for i in range(len(out)):
        t = time_to_expiry(TS, out.expiry[i].item())
        iv = implied_vol(mid[i], out.future[i], out.strike[i], t, R, out.is_call[i])
        g = black76_greeks(out.future[i], out.strike[i], t, R, iv, out.is_call[i])
        assert out.iv[i] == iv
        assert (out.delta[i], out.gamma[i], out.theta[i], out.vega[i]) == (
            g.delta,
            g.gamma,
            g.theta,
            g.vega,
        )
    np.testing.assert_allclose(out.iv, 0.14, rtol=1e-9)


def test_chain_greeks_mid_falls_back_to_ltp_and_ltp_mode():
    snap = _snapshot()
    snap.bid[0] = 0.0  # no bid: the row is valued at ltp
    out = chain_greeks(snap, r=R)
    by_ltp = chain_greeks(snap, r=R, price="ltp")
    assert out.iv[0] == by_ltp.iv[0]
    assert out.iv[1] != by_ltp.iv[1]
    with pytest.raises(ValueError, match="price must be one of"):
        chain_greeks(snap, price="last")


def test_chain_greeks_rows_at_or_below_intrinsic_are_nan_not_zero():
    snap = _snapshot()
    deep_call = int(np.flatnonzero(snap.is_call & (snap.strike == 23900.0))[0])
    intrinsic = 24030.0 - 23900.0
    snap.bid[deep_call], snap.ask[deep_call] = intrinsic - 20.0, intrinsic - 10.0
    out = chain_greeks(snap)
    for column in (out.iv, out.delta, out.gamma, out.theta, out.vega):
        assert math.isnan(column[deep_call])
        assert np.isfinite(np.delete(column, deep_call)).all()


def test_chain_greeks_nse_mode_is_spot_bs_r10_whole_days():
    snap = _snapshot()
    mid = 0.5 * (snap.bid + snap.ask)
    out = chain_greeks(snap, mode="nse")
    days = np.where(snap.expiry == np.datetime64(WEEKLY), 7, 20)
    want = bs_implied_vol(mid, SPOT, snap.strike, days / 365, 0.10, 0.0, snap.is_call)
    np.testing.assert_array_equal(out.iv, want)
    g = bs_greeks(SPOT, snap.strike, days / 365, 0.10, 0.0, want, snap.is_call)
    np.testing.assert_array_equal(out.delta, g.delta)
    np.testing.assert_array_equal(out.theta, g.theta)
    np.testing.assert_array_equal(out.future, snap.future)  # nse mode leaves forwards alone
    # whole days: later the same day changes nothing in nse mode, but does in black76 mode
    later = ChainSnapshot.from_columns(
        "NIFTY", TS.replace(hour=15), SPOT, {name: getattr(snap, name) for name in _COLUMNS}
    )
    np.testing.assert_array_equal(chain_greeks(later, mode="nse").iv, out.iv)
    assert not np.array_equal(chain_greeks(later).iv, chain_greeks(snap).iv)


_COLUMNS = ("strike", "expiry", "is_call", "bid", "ask", "ltp", "future")


def test_chain_greeks_nse_mode_has_no_iv_on_expiry_day():
    snap = _snapshot()
    on_expiry = ChainSnapshot.from_columns(
        "NIFTY",
        datetime(2026, 3, 17, 10, 0, tzinfo=IST),
        SPOT,
        {name: getattr(snap, name) for name in _COLUMNS},
    )
    out = chain_greeks(on_expiry, mode="nse")
    weekly = out.expiry == np.datetime64(WEEKLY)
    assert np.isnan(out.iv[weekly]).all()
    assert np.isfinite(out.iv[~weekly]).all()


def test_chain_greeks_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        chain_greeks(_snapshot(), mode="bs")


def test_chain_greeks_no_forward_without_a_two_sided_strike():
    snap = _snapshot()
    weekly_puts = (snap.expiry == np.datetime64(WEEKLY)) & ~snap.is_call
    for column in (snap.bid, snap.ask, snap.ltp):
        column[weekly_puts] = np.nan
    out = chain_greeks(snap)
    weekly = out.expiry == np.datetime64(WEEKLY)
    assert np.isnan(out.future[weekly]).all() and np.isnan(out.iv[weekly]).all()
    assert np.isfinite(out.iv[~weekly]).all()


def test_chain_greeks_on_an_empty_chain():
    empty = _snapshot().select(np.zeros(20, bool))
    for mode in ("black76", "nse"):
        out = chain_greeks(empty, mode=mode)
        assert len(out) == 0 and out.iv.shape == (0,)


def _solve_big_chain(_):
    price, strike, is_call = _rows()
    reps = PARALLEL_MIN_ROWS // len(price) + 1
    iv = chain_iv_greeks(
        np.tile(price, reps), np.tile(strike, reps), np.tile(is_call, reps), T, FWD, R
    )[0]
    return float(np.nanmax(np.abs(iv - _skew(np.tile(strike, reps)))))


def test_parallel_kernel_works_in_a_worker_forked_after_using_it():
    """GNU OpenMP aborts a forked child that starts threads: a sweep pool must still work."""
    assert _solve_big_chain(0) < 1e-8  # this process has started numba's threads
    pool = multiprocessing.get_context("fork").Pool(2)
    try:
        assert max(pool.map_async(_solve_big_chain, range(2)).get(timeout=120)) < 1e-8
    finally:
        pool.terminate()
