"""IV, greeks and forwards filled once at write time (Black-76 on the future or parity forward)."""

from datetime import date, datetime, time

import numpy as np
import pyarrow as pa
import pytest
from _data_support import RATE, make_chain

from optrunner.core.timeutil import IST
from optrunner.data.catalog import Catalog
from optrunner.data.enrich import add_greeks, grouped_parity_forward, option_price
from optrunner.data.schema import conform_chain, sort_chain
from optrunner.greeks import parity_forward
from optrunner.instruments import time_to_expiry

D = date(2026, 1, 6)
E1, E2 = date(2026, 1, 13), date(2026, 1, 27)
STRIKES = [25_800.0 + 50 * i for i in range(9)]  # around the 26,040 forward
TIMES = [datetime.combine(D, time(10, 0), IST), datetime.combine(D, time(10, 1), IST)]


def written(tmp_path, table, day=D):
    cat = Catalog.create(tmp_path, rate=RATE)
    cat.write_chain("NIFTY", table)
    return next(cat.day("NIFTY", day).snapshots()), cat


def test_iv_recovers_the_pricing_vol_and_greeks_satisfy_black76_identities(tmp_path):
    snap, _ = written(tmp_path, make_chain(TIMES, [E1, E2], STRIKES, sigma=0.15))
    np.testing.assert_allclose(snap.iv, 0.15, atol=1e-7)
    for expiry in (E1, E2):
        calls = snap.for_expiry(expiry).select(snap.for_expiry(expiry).is_call)
        puts = snap.for_expiry(expiry).select(~snap.for_expiry(expiry).is_call)
        np.testing.assert_array_equal(calls.strike, puts.strike)
        discount = np.exp(-RATE * time_to_expiry(TIMES[0], expiry))
        # Black-76: delta_call - delta_put = e^{-rT}; gamma and vega equal for the pair
        np.testing.assert_allclose(calls.delta - puts.delta, discount, rtol=1e-9)
        np.testing.assert_allclose(calls.gamma, puts.gamma, rtol=1e-9)
        np.testing.assert_allclose(calls.vega, puts.vega, rtol=1e-9)
        assert np.all(calls.delta > 0) and np.all(puts.delta < 0) and np.all(calls.theta < 0)


def test_without_a_future_the_parity_forward_is_used_and_stored(tmp_path):
    snap, _ = written(tmp_path, make_chain(TIMES, [E1, E2], STRIKES, spot=26_000.0, forward_premium=40.0, with_future=False))
    np.testing.assert_allclose(snap.future, 26_040.0, rtol=1e-12)
    np.testing.assert_allclose(snap.iv, 0.15, atol=1e-7)
    assert snap.forward(E1) == pytest.approx(26_040.0)


def test_an_expiry_without_call_put_pairs_keeps_nan_rather_than_guessing(tmp_path):
    table = make_chain(TIMES[:1], [E1], STRIKES, with_future=False)
    calls_only = table.filter(pa.compute.equal(table["right"], "CE"))
    snap, _ = written(tmp_path, calls_only)
    assert np.isnan(snap.future).all() and np.isnan(snap.iv).all() and np.isnan(snap.delta).all()


def test_grouped_parity_forward_matches_the_greeks_parity_forward_group_by_group():
    rng = np.random.default_rng(5)
    groups, strikes, calls, prices, years = [], [], [], [], []
    for g in range(40):
        ks = 24_000.0 + 50.0 * np.arange(rng.integers(2, 12))
        fwd, t = rng.uniform(24_000, 24_500), rng.uniform(0.001, 0.1)
        for is_call in (False, True):
            intrinsic = np.maximum(fwd - ks, 0) if is_call else np.maximum(ks - fwd, 0)
            p = intrinsic + rng.uniform(1, 60, len(ks))
            p[rng.random(len(ks)) < 0.15] = np.nan  # missing quotes
            groups += [g] * len(ks)
            strikes += list(ks)
            calls += [is_call] * len(ks)
            prices += list(p)
            years += [t] * len(ks)
    groups, strikes, calls, prices, years = map(np.array, (groups, strikes, calls, prices, years))
    got = grouped_parity_forward(groups, strikes, calls, prices, years, RATE)
    for g in range(40):
        rows = groups == g
        put_p = prices[rows & ~calls]
        call_p = prices[rows & calls]
        want = parity_forward(strikes[rows & calls], call_p, put_p, years[rows][0], RATE)
        np.testing.assert_allclose(got[rows], want, rtol=1e-12, equal_nan=True)
    assert np.isfinite(got).mean() > 0.9


def test_complete_source_greeks_are_kept_and_incomplete_ones_replaced():
    table, _, _ = sort_chain(conform_chain(make_chain(TIMES[:1], [E1], STRIKES)))
    n = table.num_rows
    source = {"iv": np.full(n, 0.2), "delta": np.full(n, 0.5), "gamma": np.full(n, 0.001),
              "theta": np.full(n, -5.0), "vega": np.full(n, 10.0)}  # fmt: skip
    source["delta"][0] = np.nan  # row 0 incomplete
    for name, values in source.items():
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values))
    out = add_greeks(table, rate=RATE)
    assert out["iv"][0].as_py() == pytest.approx(0.15, abs=1e-7)  # recomputed from the mid
    assert out["iv"].to_numpy()[1:].tolist() == [0.2] * (n - 1)
    assert out["delta"].to_numpy()[1:].tolist() == [0.5] * (n - 1)
    recomputed = add_greeks(table, rate=RATE, recompute=True)
    np.testing.assert_allclose(recomputed["iv"].to_numpy(), 0.15, atol=1e-7)


def test_no_iv_at_expiry(tmp_path):
    expiry_close = datetime.combine(E1, time(15, 30), IST)
    snap, _ = written(tmp_path, make_chain([expiry_close], [E1], STRIKES), day=E1)
    assert np.isnan(snap.iv).all() and np.isnan(snap.delta).all()  # T = 0


def test_no_iv_below_intrinsic(tmp_path):
    table = make_chain(TIMES[:1], [E1], STRIKES).to_pydict()
    deep = next(i for i, (k, r) in enumerate(zip(table["strike"], table["right"], strict=True)) if k == 25_800 and r == "CE")
    for name in ("bid", "ask", "ltp"):
        table[name][deep] = 200.0  # intrinsic is 240
    snap, _ = written(tmp_path, pa.table(table))
    row = snap.index_of(snap.contract(int(np.flatnonzero(snap.is_call & (snap.strike == 25_800))[0])))
    assert np.isnan(snap.iv[row]) and np.isnan(snap.delta[row])
    assert np.isfinite(np.delete(snap.iv, row)).all()


def test_option_price_prefers_a_valid_mid_then_the_last_trade():
    bid = np.array([10.0, np.nan, 0.0, 12.0, 5.0])
    ask = np.array([11.0, 11.0, 1.0, 11.0, np.nan])
    ltp = np.array([9.0, 10.5, 0.6, 11.5, 0.0])
    np.testing.assert_array_equal(option_price(bid, ask, ltp), [10.5, 10.5, 0.6, 11.5, np.nan])
