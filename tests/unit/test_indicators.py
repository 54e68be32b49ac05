"""Indicators against an independent, loop-by-loop transcription of Wilder's definitions.

The reference below is written the way Wilder tabulated them by hand — running *sums*
(``S_t = S_{t-1} - S_{t-1}/n + x_t``) for +DM/-DM/TR, explicit if/else per bar — not the
closed-form averages of ``strategies/indicators.py``; the two agreeing to 1e-9 on random
walks checks both. A few values are also worked out by hand.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from optrunner.strategies.indicators import adx, atr, rsi, supertrend, wilder


def _walk(seed: int, size: int = 400):
    rnd = random.Random(seed)
    close, high, low = [], [], []
    price = 100.0
    for _ in range(size):
        o = price
        price = max(1.0, price + rnd.gauss(0, 1.5))
        high.append(max(o, price) + abs(rnd.gauss(0, 0.7)))
        low.append(min(o, price) - abs(rnd.gauss(0, 0.7)))
        close.append(price)
    return high, low, close


def ref_tr(h, lo, c):
    return [h[0] - lo[0]] + [max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(c))]


def ref_rsi(c, n):
    out = [math.nan] * len(c)
    gains = losses = 0.0
    for i in range(1, n + 1):
        d = c[i] - c[i - 1]
        gains += d if d > 0 else 0.0
        losses += -d if d < 0 else 0.0
    ag, al = gains / n, losses / n
    out[n] = 100.0 if al == 0 else 100.0 - 100.0 / (1 + ag / al)
    for i in range(n + 1, len(c)):
        d = c[i] - c[i - 1]
        ag = (ag * (n - 1) + (d if d > 0 else 0.0)) / n
        al = (al * (n - 1) + (-d if d < 0 else 0.0)) / n
        out[i] = 100.0 if al == 0 else 100.0 - 100.0 / (1 + ag / al)
    return out


def ref_adx(h, lo, c, n):
    size = len(c)
    tr = ref_tr(h, lo, c)
    pdm, mdm = [0.0] * size, [0.0] * size
    for i in range(1, size):
        up, dn = h[i] - h[i - 1], lo[i - 1] - lo[i]
        if up > dn and up > 0:
            pdm[i] = up
        if dn > up and dn > 0:
            mdm[i] = dn
    pdi, mdi, dx, out = ([math.nan] * size for _ in range(4))
    s_tr, s_p, s_m = sum(tr[1 : n + 1]), sum(pdm[1 : n + 1]), sum(mdm[1 : n + 1])  # Wilder's running sums
    for i in range(n, size):
        if i > n:
            s_tr, s_p, s_m = s_tr - s_tr / n + tr[i], s_p - s_p / n + pdm[i], s_m - s_m / n + mdm[i]
        pdi[i], mdi[i] = 100 * s_p / s_tr, 100 * s_m / s_tr
        dx[i] = 100 * abs(pdi[i] - mdi[i]) / (pdi[i] + mdi[i])
    first = 2 * n - 1
    a = sum(dx[n : first + 1]) / n
    out[first] = a
    for i in range(first + 1, size):
        a = (a * (n - 1) + dx[i]) / n
        out[i] = a
    return pdi, mdi, out


def ref_supertrend(h, lo, c, n, m):
    tr = ref_tr(h, lo, c)
    a = sum(tr[:n]) / n
    direction = [0] * len(c)
    fu = fl = None
    trend = 0
    for i in range(n - 1, len(c)):
        if i > n - 1:
            a = (a * (n - 1) + tr[i]) / n
        mid = (h[i] + lo[i]) / 2
        bu, bl = mid + m * a, mid - m * a
        if fu is None:
            fu, fl = bu, bl
            trend = 1 if c[i] >= mid else -1
        else:
            if not (bu < fu or c[i - 1] > fu):
                bu = fu
            if not (bl > fl or c[i - 1] < fl):
                bl = fl
            fu, fl = bu, bl
            if trend == 1 and c[i] < fl:
                trend = -1
            elif trend == -1 and c[i] > fu:
                trend = 1
        direction[i] = trend
    return direction


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rsi_adx_supertrend_match_the_loop_transcription(seed):
    h, lo, c = _walk(seed)
    H, L, C = (np.array(v) for v in (h, lo, c))
    np.testing.assert_allclose(rsi(C, 14), ref_rsi(c, 14), rtol=0, atol=1e-9, equal_nan=True)
    pdi, mdi, a = ref_adx(h, lo, c, 14)
    got = adx(H, L, C, 14)
    np.testing.assert_allclose(got.plus_di, pdi, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(got.minus_di, mdi, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(got.adx, a, atol=1e-9, equal_nan=True)
    assert np.isnan(got.adx[26]) and np.isfinite(got.adx[27])  # first ADX at 2n - 1
    assert list(supertrend(H, L, C, 10, 3.0).direction) == ref_supertrend(h, lo, c, 10, 3.0)


def test_wilder_average_by_hand_and_over_many_blocks():
    # n = 3: seed mean(3, 6, 9) = 6; then 6 + (12 - 6)/3 = 8; 8 + (2 - 8)/3 = 6
    got = wilder(np.array([3.0, 6.0, 9.0, 12.0, 2.0]), 3)
    assert np.isnan(got[:2]).all() and got[2:].tolist() == pytest.approx([6.0, 8.0, 6.0])
    x = np.random.default_rng(0).normal(50, 10, 5000)  # 20 closed-form blocks
    y, ref = x[:14].mean(), []
    for v in x[14:]:
        y += (v - y) / 14
        ref.append(y)
    np.testing.assert_allclose(wilder(x, 14)[14:], ref, rtol=1e-11)


def test_rsi_by_hand():
    # n = 2 on 10, 11, 10.5, 12: gains (1, 0) losses (0, .5) -> 0.5/0.25, RSI = 100 - 100/3
    # next: gain 1.5 -> ag = (0.5 + 1.5)/2 = 1, al = 0.25/2 = 0.125, RS = 8 -> 100 - 100/9
    got = rsi(np.array([10.0, 11.0, 10.5, 12.0]), 2)
    assert got[2] == pytest.approx(100 - 100 / 3) and got[3] == pytest.approx(100 - 100 / 9)
    assert rsi(np.array([5.0, 6.0, 7.0]), 2)[2] == 100.0  # no loss at all
    assert rsi(np.array([5.0, 5.0, 5.0]), 2)[2] == 50.0  # flat


def test_atr_and_supertrend_flip_on_a_reversal():
    up = np.arange(100.0, 130.0)
    down = np.arange(130.0, 90.0, -1.5)
    c = np.concatenate([up, down])
    h, lo = c + 0.5, c - 0.5
    st = supertrend(h, lo, c, 5, 2.0)
    assert (st.direction[4:30] == 1).all()  # steady rise: up, the line below price
    assert (st.line[4:30] < c[4:30]).all()
    flip = int(np.argmax(st.direction[30:] == -1)) + 30
    assert 30 < flip < 40 and (st.direction[flip:] == -1).all()
    assert atr(h, lo, c, 5)[4] == pytest.approx(1.4)  # TR 1 on the first bar, then 1.5 (high - previous close)


@pytest.mark.parametrize("seed", [4, 5])
def test_the_streaming_trend_gives_the_batch_numbers_bar_for_bar(seed):
    from optrunner.strategies.indicators import TrendStream

    h, lo, c = _walk(seed, 300)
    H, L, C = (np.array(v) for v in (h, lo, c))
    st, a = supertrend(H, L, C, 10, 3.0).direction, adx(H, L, C, 14).adx
    stream = TrendStream(10, 3.0, 14)
    for i in range(len(c)):
        direction, value = stream.update(h[i], lo[i], c[i])
        assert direction == st[i]
        assert (math.isnan(value) and math.isnan(a[i])) or value == pytest.approx(a[i], abs=1e-9)
