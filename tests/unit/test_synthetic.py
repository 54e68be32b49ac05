"""The synthetic chain generator: determinism, calendar, no-arbitrage, smile, OI/volume shape."""

from datetime import date, time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from optrunner.data.catalog import Catalog
from optrunner.data.schema import ts_ns
from optrunner.data.synthetic import SNAPSHOTS_PER_DAY, SyntheticMarket, generate
from optrunner.instruments import calendar_for, get_index, time_to_expiry

NSE = calendar_for("NSE")
START, END = date(2026, 1, 12), date(2026, 1, 20)  # 15 Jan is a holiday; 13 and 20 Jan are expiries
EACH_SIDE = 12
TICK = 0.05


def ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    generate("NIFTY", START, END, seed=11, out=root, strikes_each_side=EACH_SIDE, progress=False)
    return Catalog(root)


@pytest.fixture(scope="module")
def snapshots(catalog):
    return list(catalog.snapshots("NIFTY"))


def test_same_seed_gives_identical_tables_and_files(tmp_path):
    a = SyntheticMarket("NIFTY", 3, strikes_each_side=4)
    b = SyntheticMarket("NIFTY", 3, strikes_each_side=4)
    for d in (date(2026, 1, 5), date(2026, 1, 6)):
        (ca, ba), (cb, bb) = a.day(d), b.day(d)
        assert ipc_bytes(ca) == ipc_bytes(cb) and ipc_bytes(ba) == ipc_bytes(bb)
    other = SyntheticMarket("NIFTY", 4, strikes_each_side=4).day(date(2026, 1, 5))[0]
    assert ipc_bytes(other) != ipc_bytes(SyntheticMarket("NIFTY", 3, strikes_each_side=4).day(date(2026, 1, 5))[0])
    for name in ("x", "y"):
        generate("NIFTY", date(2026, 1, 5), date(2026, 1, 6), seed=3, out=tmp_path / name, strikes_each_side=4, progress=False)
    for rel in ("chains/symbol=NIFTY/date=2026-01-06/part-0.parquet", "bars/symbol=NIFTY/date=2026-01-06/part-0.parquet"):
        assert (tmp_path / "x" / rel).read_bytes() == (tmp_path / "y" / rel).read_bytes()


def test_trading_days_only_and_a_snapshot_every_minute(catalog):
    assert catalog.dates("NIFTY") == NSE.trading_days(START, END)
    assert date(2026, 1, 15) not in catalog.dates("NIFTY")  # holiday
    for d in catalog.dates("NIFTY"):
        day = catalog.day("NIFTY", d)
        assert day.n_snapshots == SNAPSHOTS_PER_DAY
        first, last = day.snapshot(0).ts, day.snapshot(day.n_snapshots - 1).ts
        assert (first.time(), last.time()) == (time(9, 15), time(15, 30))
        assert np.all(np.diff(day.times) == 60 * 10**9)


def test_listed_expiries_and_expiry_day_rows_stop_after_expiry(catalog):
    for d in catalog.dates("NIFTY"):
        snap = catalog.day("NIFTY", d).snapshot(0)
        want = set(NSE.expiries("NIFTY", d, date.fromordinal(d.toordinal() + 30)))
        assert set(snap.expiries()) == want
    assert date(2026, 1, 13) in catalog.day("NIFTY", date(2026, 1, 13)).snapshot(0).expiries()
    assert date(2026, 1, 13) not in catalog.day("NIFTY", date(2026, 1, 14)).snapshot(0).expiries()


def test_banknifty_lists_monthlies_and_always_the_current_one():
    market = SyntheticMarket("BANKNIFTY", 1)
    for d in (date(2026, 1, 28), date(2026, 2, 25), date(2026, 6, 1)):
        listed = market.listed_expiries(d)
        monthlies = NSE.monthly_expiries("BANKNIFTY", d, date(2026, 12, 31))
        assert listed and listed[0] == monthlies[0]
        assert set(listed) <= set(monthlies)


def test_every_contract_has_a_row_every_minute_on_a_fixed_strike_ladder(catalog):
    day = catalog.day("NIFTY", date(2026, 1, 14))
    first = day.snapshot(0)
    step = get_index("NIFTY").strike_step
    for expiry in first.expiries():
        strikes = np.unique(first.for_expiry(expiry).strike)
        assert len(strikes) == 2 * EACH_SIDE + 1 and np.all(np.diff(strikes) == step)
        assert abs(strikes[EACH_SIDE] - first.spot) <= step / 2  # centred on the opening ATM
    for i in (1, 200, SNAPSHOTS_PER_DAY - 1):
        np.testing.assert_array_equal(day.snapshot(i).key, first.key)


def test_quotes_are_on_the_tick_with_positive_bids_and_no_static_arbitrage(snapshots):
    for snap in snapshots[::97]:
        for name in ("bid", "ask", "ltp"):
            values = getattr(snap, name)
            np.testing.assert_allclose(values / TICK, np.round(values / TICK), atol=1e-6)
        assert np.all(snap.bid >= TICK) and np.all(snap.ask >= snap.bid + TICK - 1e-9)
        for expiry in snap.expiries():
            chain = snap.for_expiry(expiry)
            calls, puts = chain.select(chain.is_call), chain.select(~chain.is_call)
            # buying the lower-strike call can never be cheaper than selling the higher one
            assert np.all(calls.ask[:-1] >= calls.bid[1:]) and np.all(puts.ask[1:] >= puts.bid[:-1])
            call_mid, put_mid = 0.5 * (calls.bid + calls.ask), 0.5 * (puts.bid + puts.ask)
            assert np.all(np.diff(call_mid) <= TICK) and np.all(np.diff(put_mid) >= -TICK)
            # put-call parity on mids within the two half-spreads, on the stored forward
            discount = np.exp(-0.055 * time_to_expiry(snap.ts, expiry))
            gap = call_mid - put_mid - discount * (calls.future - calls.strike)
            allowed = 0.5 * ((calls.ask - calls.bid) + (puts.ask - puts.bid)) + 1e-6
            assert np.all(np.abs(gap) <= allowed), (snap.ts, expiry)


def test_iv_smile_has_a_put_skew_and_a_call_wing(snapshots):
    snap = snapshots[SNAPSHOTS_PER_DAY + 60]  # 13 Jan 10:15, second expiry 20 Jan
    chain = snap.for_expiry(date(2026, 1, 20))
    calls, puts = chain.select(chain.is_call), chain.select(~chain.is_call)
    forward = chain.forward(date(2026, 1, 20))
    atm = np.argmin(np.abs(calls.strike - forward))
    otm_iv = np.where(calls.strike >= forward, calls.iv, puts.iv)  # the liquid side of each strike
    assert otm_iv[atm - 8] > otm_iv[atm - 4] > otm_iv[atm] > otm_iv[atm + 4]
    assert np.nanargmin(otm_iv) > atm  # the smile's low point is out on the call side
    assert 0.08 < otm_iv[atm] < 0.30


def test_front_expiry_iv_rises_into_expiry(snapshots):
    snap = snapshots[4 * SNAPSHOTS_PER_DAY + 60]  # 19 Jan 10:15, the day before the 20 Jan expiry
    assert snap.ts.date() == date(2026, 1, 19)
    front, nxt = (snap.for_expiry(e) for e in snap.expiries()[:2])

    def atm_iv(chain):
        calls = chain.select(chain.is_call)
        return calls.iv[np.argmin(np.abs(calls.strike - chain.forward(chain.expiries()[0])))]
    assert atm_iv(front) > atm_iv(nxt)


def test_atm_iv_moves_against_spot_within_the_day(catalog):
    snaps = list(catalog.day("NIFTY", date(2026, 1, 14)).snapshots())
    expiry = snaps[0].expiries()[1]
    spot = np.array([s.spot for s in snaps])
    atm_iv = []
    for s in snaps:
        chain = s.for_expiry(expiry)
        calls = chain.select(chain.is_call)
        atm_iv.append(np.interp(chain.forward(expiry), calls.strike, calls.iv))
    corr = np.corrcoef(np.diff(np.log(spot)), np.diff(atm_iv))[0, 1]
    assert corr < -0.5


def test_greeks_and_forward_are_filled(snapshots):
    snap = snapshots[100]
    near = np.abs(snap.strike / snap.spot - 1) < 0.02
    assert np.isfinite(snap.iv[near]).all() and np.isfinite(snap.delta[near]).all()
    assert np.all((snap.delta[snap.is_call & near] > 0) & (snap.delta[snap.is_call & near] < 1))
    assert np.all((snap.delta[~snap.is_call & near] < 0) & (snap.delta[~snap.is_call & near] > -1))
    assert np.all(snap.vega[near] > 0) and np.all(snap.gamma[near] > 0)
    for e in snap.expiries():
        assert snap.forward(e) == pytest.approx(snap.spot * np.exp(0.055 * time_to_expiry(snap.ts, e)), abs=0.01)


def test_oi_peaks_out_of_the_money_and_volume_near_the_money(catalog):
    day = catalog.day("NIFTY", date(2026, 1, 19))
    close = day.snapshot(day.n_snapshots - 1)
    front = close.for_expiry(close.expiries()[0])
    calls, puts = front.select(front.is_call), front.select(~front.is_call)
    assert calls.strike[np.argmax(calls.oi)] > close.spot > puts.strike[np.argmax(puts.oi)]
    assert abs(calls.strike[np.argmax(calls.volume)] - close.spot) < 6 * 50
    lot = get_index("NIFTY").lot_size(close.expiries()[0])
    for name in ("oi", "volume", "bid_qty", "ask_qty"):
        values = getattr(front, name)
        assert np.all(values % lot == 0), name
    first = day.snapshot(0)
    assert np.all(first.volume == 0)
    volumes = np.stack([s.volume for s in day.snapshots()])
    assert np.all(np.diff(volumes, axis=0) >= 0)  # day volume only accumulates


def test_oi_is_carried_over_from_the_previous_close(catalog):
    before = catalog.day("NIFTY", date(2026, 1, 13))
    after = catalog.day("NIFTY", date(2026, 1, 14)).snapshot(0)
    close = before.snapshot(before.n_snapshots - 1)
    common = np.intersect1d(close.key, after.key)
    assert len(common) > 0
    i, j = np.searchsorted(close.key, common), np.searchsorted(after.key, common)
    np.testing.assert_array_equal(close.oi[i], after.oi[j])


def test_index_bars_match_the_snapshot_spots(catalog):
    d = date(2026, 1, 14)
    bars = catalog.bars("NIFTY", d, d)
    spots = np.array([s.spot for s in catalog.day("NIFTY", d).snapshots()])
    assert bars.num_rows == SNAPSHOTS_PER_DAY - 1
    np.testing.assert_array_equal(bars["open"].to_numpy(), spots[:-1])
    np.testing.assert_array_equal(bars["close"].to_numpy(), spots[1:])
    o, h, low, c = (bars[n].to_numpy() for n in ("open", "high", "low", "close"))
    assert np.all(h >= np.maximum(o, c)) and np.all(low <= np.minimum(o, c))
    assert np.all(np.diff(ts_ns(bars["ts"])) == 60 * 10**9)
    assert pc.min(bars["low"]).as_py() > 0


def test_spot_has_a_u_shaped_intraday_volatility_and_plausible_level():
    market = SyntheticMarket("NIFTY", 5, strikes_each_side=1, horizon_days=0)
    returns = []
    for d in NSE.trading_days(date(2026, 2, 2), date(2026, 3, 31)):
        bars = market.day(d)[1]
        returns.append(np.diff(np.log(bars["close"].to_numpy())))
    r = np.abs(np.array(returns))
    open_, midday, close = r[:, :15].mean(), r[:, 150:250].mean(), r[:, -15:].mean()
    assert open_ > 1.5 * midday and close > midday
    annual = np.sqrt(np.mean(np.array(returns) ** 2) * 375 * 252)
    assert 0.07 < annual < 0.25


def test_banknifty_day_uses_its_strike_step_lot_and_monthly_expiry():
    chain, bars = SyntheticMarket("BANKNIFTY", 2, strikes_each_side=5).day(date(2026, 2, 2))
    strikes = np.unique(chain["strike"].to_numpy())
    assert np.all(np.diff(strikes) == 100.0) and len(strikes) == 11
    assert {e for e in chain["expiry"].to_pylist()} == {date(2026, 2, 24)}
    assert np.all(chain["oi"].to_numpy() % get_index("BANKNIFTY").lot_size(date(2026, 2, 24)) == 0)
    assert bars.num_rows == 375 and chain.num_rows == SNAPSHOTS_PER_DAY * 22
