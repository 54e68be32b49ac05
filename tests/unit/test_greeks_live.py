"""LiveGreeks (warm-started, per-frame greeks of a live chain) against the cold engine
(``chain_greeks`` from scratch) on random quote streams, against closed-form Black-76
values, and inside LiveChain.snapshot."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from fakes.kite_server import full_packet, index_packet, instrument_csv, ltp_packet, tick_frame
from optrunner.core.timeutil import IST, SESSION_CLOSE
from optrunner.core.types import Right
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution.brokers.kite.symbols import KiteInstruments
from optrunner.execution.brokers.kite.ticks import parse_frame
from optrunner.execution.brokers.live.chain import LiveChain
from optrunner.greeks import black76_price, chain_greeks
from optrunner.greeks import live as live_module
from optrunner.greeks.live import OUT_COLUMNS, LiveGreeks
from optrunner.instruments.contracts import OptionContract

EXPIRY = date(2026, 12, 29)
T0 = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
STRIKES = np.arange(22000.0, 26001.0, 50.0)  # 81 strikes: 162 rows, puts then calls
STRIKE = np.tile(STRIKES, 2)
IS_CALL = np.repeat([False, True], len(STRIKES))
R = 0.055


def cold(bid: np.ndarray, ask: np.ndarray, ltp: np.ndarray, ts: datetime, strike=STRIKE, is_call=IS_CALL,
         expiry: date = EXPIRY) -> ChainSnapshot:  # fmt: skip
    n = len(strike)
    nan = np.full(n, np.nan)
    snap = ChainSnapshot("NIFTY", ts, 24000.0, np.full(n, np.datetime64(expiry, "D")), strike, is_call,
                         bid, ask, ltp, *(nan.copy() for _ in range(10)))  # fmt: skip
    return chain_greeks(snap)


def assert_agrees(out: np.ndarray, ref: ChainSnapshot) -> None:
    """Same NaN rows; IV and delta to 1e-6 absolute (in practice ~1e-12); the rest relative."""
    for i, name in enumerate(OUT_COLUMNS):
        want, got = getattr(ref, name), out[i]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
        tol = {"iv": 1e-6, "delta": 1e-6}.get(name)
        if tol is None:
            np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-10, err_msg=name)
        else:
            assert np.nanmax(np.abs(got - want), initial=0.0) <= tol, name


def quotes(
    fwd: float, t: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A skewed chain on a 0.05 tick with a random spread, from Black-76 prices at ``fwd``."""
    vol = 0.12 + 0.5 * np.log(STRIKE / fwd) ** 2 - 0.1 * np.log(STRIKE / fwd)
    mid = np.round(black76_price(fwd, STRIKE, t, R, vol, IS_CALL) / 0.05) * 0.05
    half = 0.05 * rng.integers(1, 6, len(mid))
    return mid - half, mid + half, mid


def test_random_quote_streams_match_the_cold_engine() -> None:
    rng = np.random.default_rng(15)
    g = LiveGreeks(EXPIRY, STRIKE, IS_CALL)
    ts, fwd = T0, 24000.0
    bid, ask, ltp = quotes(fwd, g.years(ts), rng)
    solved = []
    for step in range(300):
        ts += timedelta(
            milliseconds=int(rng.choice([0, 1, 250, 60_000]))
        )  # 0: the same instant again
        if rng.random() < 0.3:  # the market moves: fresh quotes on a random subset of rows
            fwd *= math.exp(rng.normal(0.0, 0.002 if rng.random() < 0.9 else 0.03))
            b2, a2, l2 = quotes(fwd, g.years(ts), rng)
            rows = rng.random(len(bid)) < rng.uniform(0.05, 1.0)
            bid[rows], ask[rows], ltp[rows] = b2[rows], a2[rows], l2[rows]
        for _ in range(rng.integers(0, 4)):  # and some rows get bad or odd quotes
            i = rng.integers(len(bid))
            kind = rng.integers(5)
            if kind == 0:
                bid[i] = ask[i] = np.nan  # no book: valued at ltp
            elif kind == 1:
                bid[i] = ask[i] = ltp[i] = np.nan  # nothing: NaN row
            elif kind == 2:  # below intrinsic: no IV
                intrinsic = max(fwd - STRIKE[i], 0.0) if IS_CALL[i] else max(STRIKE[i] - fwd, 0.0)
                bid[i], ask[i] = 0.0, 0.0
                ltp[i] = 0.5 * intrinsic
            elif kind == 3:
                bid[i] = 0.0  # one-sided book: ltp
            else:
                ltp[i] = ask[i] = bid[i] = 0.05  # a tick-sized wing
        if step == 150:  # no strike quoted on both sides: no forward, every row NaN
            saved = bid.copy(), ask.copy(), ltp.copy()
            bid[: len(STRIKES)] = ask[: len(STRIKES)] = ltp[: len(STRIKES)] = np.nan
        ref = cold(bid.copy(), ask.copy(), ltp.copy(), ts)
        assert_agrees(g.update(bid, ask, ltp, ts), ref)
        solved.append(g.solved)
        if step == 150:
            assert np.isnan(ref.iv).all()
            bid, ask, ltp = saved
    assert min(solved) == 0 and max(solved) == len(STRIKE)  # unchanged inputs are skipped


def test_rows_with_unchanged_inputs_are_skipped_the_rest_solved() -> None:
    rng = np.random.default_rng(3)
    g = LiveGreeks(EXPIRY, STRIKE, IS_CALL)
    bid, ask, ltp = quotes(24000.0, g.years(T0), rng)
    first = g.update(bid, ask, ltp, T0)
    assert g.solved == len(STRIKE)
    again = g.update(bid, ask, ltp, T0)
    assert g.solved == 0
    np.testing.assert_array_equal(again, first)
    assert not np.shares_memory(again, first)  # a fresh block each time
    wing = int(np.argmin(STRIKE))  # the 22000 put: far from the parity strikes
    bid[wing] += 0.05
    g.update(bid, ask, ltp, T0)
    assert g.solved == 1
    g.update(bid, ask, ltp, T0 + timedelta(seconds=1))  # time moved: every row, warm
    assert g.solved == len(STRIKE)


def test_closed_form_black76_values() -> None:
    """MARKET_FACTS.md: Black-76, F = K = 19, T = 0.75, r = 0.10, sigma = 0.28 -> 1.7010507252
    for the call and the put; F = K = 100, T = 0.1, r = 0.10, sigma = 0.15 -> call 1.8734."""
    expiry = date(2027, 9, 30)
    close = datetime.combine(expiry, SESSION_CLOSE, IST)
    for k, t, sigma, price, tol in (
        (19.0, 0.75, 0.28, 1.7010507252, 1e-9),
        (100.0, 0.1, 0.15, 1.8734, 1e-4),
    ):
        ts = close - timedelta(minutes=t * 365 * 1440)
        g = LiveGreeks(expiry, np.array([k, k]), np.array([False, True]), r=0.10)
        assert g.years(ts) == pytest.approx(t, rel=1e-12)
        px = np.array([price, price])
        out = dict(zip(OUT_COLUMNS, g.update(px, px, px, ts), strict=True))
        assert out["future"][0] == pytest.approx(k, rel=1e-12)  # C = P: the forward is the strike
        np.testing.assert_allclose(out["iv"], sigma, atol=tol)
        d1 = 0.5 * sigma * math.sqrt(t)
        n1 = 0.5 * math.erfc(-d1 / math.sqrt(2.0))
        df = math.exp(-0.10 * t)
        np.testing.assert_allclose(out["delta"], [-df * (1.0 - n1), df * n1], atol=tol)
        vega = df * k * math.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi) * math.sqrt(t) / 100.0
        np.testing.assert_allclose(out["vega"], vega, rtol=10 * tol)


def test_rows_without_an_iv_are_nan_and_recover() -> None:
    g = LiveGreeks(EXPIRY, STRIKE, IS_CALL)
    bid, ask, ltp = quotes(24000.0, g.years(T0), np.random.default_rng(1))
    call_23000 = int(np.flatnonzero(IS_CALL & (STRIKE == 23000.0))[0])
    good = ltp[call_23000]
    ltp[call_23000] = bid[call_23000] = ask[call_23000] = 900.0  # below its ~1000 intrinsic
    out = g.update(bid, ask, ltp, T0)
    assert np.isnan(out[1:, call_23000]).all() and not np.isnan(out[1:, call_23000 + 1]).any()
    ltp[call_23000] = bid[call_23000] = ask[call_23000] = good
    out = g.update(bid, ask, ltp, T0 + timedelta(seconds=1))
    assert_agrees(out, cold(bid, ask, ltp, T0 + timedelta(seconds=1)))
    late = datetime.combine(EXPIRY, SESSION_CLOSE, IST) + timedelta(
        minutes=1
    )  # T = 0: nothing to solve
    assert np.isnan(g.update(bid, ask, ltp, late)[1:]).all()


def test_naive_timestamps_are_utc_as_in_the_cold_engine() -> None:
    g = LiveGreeks(EXPIRY, STRIKE, IS_CALL)
    assert g.years(T0.replace(tzinfo=None)) == g.years(T0)


def test_bad_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="must align"):
        LiveGreeks(EXPIRY, STRIKE, IS_CALL[:-1])


def test_kernel_cache_is_keyed_on_the_kernels_source() -> None:
    """The update kernel's only closure value is kernels.py's digest (see live.py's docstring)."""
    cells = [c.cell_contents for c in live_module._update.py_func.__closure__]
    assert cells == [live_module._kernels_digest()]


def test_live_chain_snapshot_greeks_equal_chain_greeks() -> None:
    contracts = [
        OptionContract("NIFTY", EXPIRY, float(k), r) for k in STRIKES for r in (Right.CE, Right.PE)
    ]
    chain = LiveChain(
        "NIFTY", EXPIRY, KiteInstruments.from_csv(instrument_csv(contracts), None), width=10
    )
    rng = np.random.default_rng(9)
    ts = T0
    for spot in (24010.0, 24020.0, 24180.0, 23790.0):  # two re-centrings on the way
        chain.apply(parse_frame(tick_frame([index_packet(256265, spot)])))
        chain.recentre()
        for _ in range(3):
            ts += timedelta(milliseconds=300)
            fwd = spot + rng.normal(0.0, 5.0)
            pk = []
            for k, c, tok in zip(chain.strike, chain.is_call, chain.tokens, strict=True):
                px = round(float(black76_price(fwd, k, 0.06, R, 0.13, bool(c))), 1) + 0.05
                if rng.random() < 0.7:
                    pk.append(full_packet(int(tok), px, px - 0.05 * rng.integers(1, 4), px + 0.05))
            chain.apply(parse_frame(tick_frame(pk)))
            chain.greeks = False
            plain = chain.snapshot(ts)
            chain.greeks = True
            snap = chain.snapshot(ts)
            assert plain is not None and snap is not None
            assert np.isnan(plain.iv).all() and np.isnan(plain.future).all()
            ref = chain_greeks(plain)
            assert_agrees(np.stack([getattr(snap, c) for c in OUT_COLUMNS]), ref)
            for name in ("bid", "ask", "ltp", "oi", "strike", "key"):
                np.testing.assert_array_equal(getattr(snap, name), getattr(plain, name))
            assert snap.ts == ts and snap.spot == spot and len(snap) == 42


def test_live_chain_apply_keeps_fields_a_packet_lacks_and_takes_packets_in_order() -> None:
    contracts = [
        OptionContract("NIFTY", EXPIRY, float(k), r) for k in STRIKES for r in (Right.CE, Right.PE)
    ]
    chain = LiveChain(
        "NIFTY", EXPIRY, KiteInstruments.from_csv(instrument_csv(contracts), None), width=2
    )
    chain.apply(parse_frame(tick_frame([index_packet(256265, 24000.0)])))
    chain.recentre()
    tok, other = int(chain.tokens[0]), int(chain.tokens[1])
    chain.apply(
        parse_frame(
            tick_frame([full_packet(tok, 100.0, 99.5, 100.5, oi=7), ltp_packet(999_999_999, 5.0)])
        )
    )
    chain.apply(parse_frame(tick_frame([ltp_packet(tok, 101.0), full_packet(other, 50.0, 49.0, 51.0),
                                        full_packet(other, 52.0, 51.0, 53.0)])))  # fmt: skip
    snap = chain.snapshot(T0)
    assert snap is not None
    assert (snap.ltp[0], snap.bid[0], snap.ask[0], snap.oi[0]) == (101.0, 99.5, 100.5, 7.0)
    assert (snap.ltp[1], snap.bid[1], snap.ask[1]) == (52.0, 51.0, 53.0)  # the later packet wins
    assert np.isnan(snap.ltp[2:]).all()


def test_a_moved_window_takes_over_the_rows_it_keeps() -> None:
    rng = np.random.default_rng(4)
    g = LiveGreeks(EXPIRY, STRIKE, IS_CALL)
    bid, ask, ltp = quotes(24000.0, g.years(T0), rng)
    g.update(bid, ask, ltp, T0)
    keep = np.flatnonzero(STRIKE >= 22500.0)  # the window moved up: the lowest 10 strikes dropped
    moved = LiveGreeks(EXPIRY, STRIKE[keep], IS_CALL[keep])
    moved.take_over(g, np.arange(len(keep)), keep)
    first = moved.update(bid[keep], ask[keep], ltp[keep], T0)
    assert moved.solved == 0  # nothing changed for the rows it kept: served from the old window
    assert_agrees(first, cold(bid[keep], ask[keep], ltp[keep], T0, STRIKE[keep], IS_CALL[keep]))
    ts = T0 + timedelta(seconds=1)
    out = moved.update(bid[keep], ask[keep], ltp[keep], ts)
    assert_agrees(out, cold(bid[keep], ask[keep], ltp[keep], ts, STRIKE[keep], IS_CALL[keep]))
    with pytest.raises(ValueError, match="another expiry, rate or contract"):
        moved.take_over(g, np.arange(3), np.arange(3))  # rows 0..2 are other strikes there
