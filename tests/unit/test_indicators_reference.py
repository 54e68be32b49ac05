"""The NumPy indicators against an independent implementation: the ``ta`` library (pandas),
which nobody here wrote. ATR and ADX use Wilder's averages seeded as ours are, so they agree
to rounding; ta's RSI seeds its average differently (an exponential mean from the first
change), so the two converge rather than coincide — compared after 300 bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ta.momentum import RSIIndicator
from ta.trend import ADXIndicator
from ta.volatility import AverageTrueRange

from optrunner.strategies.indicators import adx, atr, rsi


@pytest.fixture(scope="module")
def bars() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    close = 25_000 + np.cumsum(rng.normal(0, 30, 600))
    return close + rng.uniform(5, 40, 600), close - rng.uniform(5, 40, 600), close


def test_atr_equals_ta(bars):
    high, low, close = bars
    ref = AverageTrueRange(pd.Series(high), pd.Series(low), pd.Series(close), 14).average_true_range().to_numpy()
    ours = atr(high, low, close, 14)
    assert ours[13:] == pytest.approx(ref[13:], abs=1e-9)


def test_adx_and_directional_indices_equal_ta(bars):
    high, low, close = bars
    ref = ADXIndicator(pd.Series(high), pd.Series(low), pd.Series(close), 14)
    ours = adx(high, low, close, 14)
    for mine, theirs in ((ours.adx, ref.adx()), (ours.plus_di, ref.adx_pos()), (ours.minus_di, ref.adx_neg())):
        assert mine[100:] == pytest.approx(theirs.to_numpy()[100:], abs=1e-9)


def test_rsi_converges_to_ta(bars):
    _, _, close = bars
    ref = RSIIndicator(pd.Series(close), 14).rsi().to_numpy()
    assert rsi(close, 14)[300:] == pytest.approx(ref[300:], abs=1e-6)
