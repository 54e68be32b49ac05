"""Data quality at the door: bad rows dropped and counted by reason, stale snapshots skipped."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pyarrow as pa
import pytest
from _data_support import make_chain, ns
from hypothesis import given, settings
from hypothesis import strategies as st

from optrunner.core.timeutil import IST
from optrunner.data.catalog import Catalog
from optrunner.data.quality import (
    ABSURD,
    BAD_SPOT,
    CROSSED,
    IMPOSSIBLE_GREEKS,
    NON_FINITE,
    NON_POSITIVE,
    DataQuality,
    check_snapshot,
    describe_codes,
    looks_clean,
    row_reasons,
)
from optrunner.data.snapshot import ChainSnapshot

DAY = date(2026, 1, 6)
EXPIRY = date(2026, 1, 13)
INF = np.inf
NAN = np.nan


def columns(**overrides):
    """Eight good rows (4 strikes x CE/PE around 26,000) with ``overrides`` per column."""
    n = 8
    cols = {
        "strike": np.repeat([25_900.0, 26_000.0, 26_100.0, 26_200.0], 2),
        "bid": np.full(n, 100.0), "ask": np.full(n, 101.0), "ltp": np.full(n, 100.5),
        "iv": np.full(n, 0.12), "delta": np.tile([0.5, -0.5], 4), "gamma": np.full(n, 1e-4),
        "vega": np.full(n, 10.0),
    }  # fmt: skip
    for name, changes in overrides.items():
        for i, value in changes.items():
            cols[name][i] = value
    return cols


def test_each_problem_gets_its_reason_and_unknown_values_are_not_problems():
    cols = columns(
        bid={0: INF, 1: 0.0, 2: 105.0, 6: NAN},  # 6: no bid is unknown, not bad
        ask={3: 1e300},
        delta={4: 5.0},
        gamma={5: -1e-4},
        iv={6: NAN, 7: NAN},  # no IV (deep ITM) is fine
    )
    codes = row_reasons(26_000.0, cols)
    assert describe_codes(codes) == {NON_FINITE: 1, NON_POSITIVE: 1, CROSSED: 1, ABSURD: 1,
                                     IMPOSSIBLE_GREEKS: 2}  # fmt: skip
    assert list(codes[6:]) == [0, 0]
    assert not looks_clean(np.array([26_000.0]), cols)


def test_the_first_failing_check_names_the_row_and_spot_problems_take_every_row():
    cols = columns(bid={0: -5.0}, delta={0: 3.0})  # negative bid and a bad delta: non_positive wins
    assert describe_codes(row_reasons(26_000.0, cols)) == {NON_POSITIVE: 1}
    for spot in (NAN, 0.0, -1.0, INF):
        assert describe_codes(row_reasons(spot, columns())) == {BAD_SPOT: 8}
        assert not looks_clean(np.array([spot]), columns())


def test_absurd_is_relative_to_the_larger_of_spot_and_strike():
    deep_itm_put = columns(strike={1: 200_000.0}, ltp={1: 174_000.0}, bid={1: NAN}, ask={1: NAN})
    assert not row_reasons(26_000.0, deep_itm_put).any()  # worth K - S: fine
    assert describe_codes(row_reasons(26_000.0, columns(ltp={0: 260_001.0}))) == {ABSURD: 1}


bad_values = st.sampled_from([NAN, INF, -INF, 0.0, -1.0, 1e300, 5.0, -5.0, 1e-9, 105.0, 99.0])


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(["strike", "bid", "ask", "ltp", "iv", "delta", "gamma", "vega"]),
                  st.integers(0, 7), bad_values),
        max_size=4,
    ),
    spot=st.sampled_from([26_000.0, 10.0, NAN, 0.0]),
)  # fmt: skip
def test_the_cheap_screen_never_passes_a_chain_with_a_bad_row(edits, spot):
    cols = columns()
    for name, i, value in edits:
        cols[name][i] = value
    # column statistics as Parquet records them: (min, max) ignoring NaN, none when all NaN
    stats = {name: None if np.isnan(v).all() else (float(np.nanmin(v)), float(np.nanmax(v)))
             for name, v in cols.items()}  # fmt: skip
    for ranges in (None, stats):
        if looks_clean(np.array([spot]), cols, ranges):
            assert not row_reasons(spot, cols).any(), (edits, ranges)


def snapshot(spot=26_000.0, **overrides):
    cols = columns(**overrides)
    right = np.tile(["CE", "PE"], 4)
    return ChainSnapshot.from_columns(
        "NIFTY", datetime(2026, 1, 6, 10, 0, tzinfo=IST), spot,
        {**cols, "right": right, "expiry": np.datetime64(EXPIRY)},
    )  # fmt: skip


def test_check_snapshot_drops_bad_rows_and_refuses_a_mostly_bad_or_spotless_chain():
    q = DataQuality()
    snap = snapshot(bid={0: 0.0})
    assert check_snapshot(snapshot(), q) is not None and q.as_dict() == {
        "dropped": {},
        "stale_snapshots": 0,
    }
    kept = check_snapshot(snap, q)
    assert len(kept) == 7 and (kept.bid > 0).all()
    assert q.as_dict() == {"dropped": {NON_POSITIVE: 1}, "stale_snapshots": 0}
    assert check_snapshot(snapshot(bid={i: 110.0 for i in range(5)}), q) is None  # 5 of 8 crossed
    assert check_snapshot(snapshot(spot=NAN), q) is None
    assert q.stale_snapshots == 2 and q.dropped[CROSSED] == 5 and q.dropped[BAD_SPOT] == 8


# --- the catalog replay ----------------------------------------------------------------------


def at(hh, mm):
    return datetime(2026, 1, 6, hh, mm, tzinfo=IST)


@pytest.fixture
def dirty_catalog(tmp_path):
    """Three snapshots: 10:00 with two bad rows, 10:01 with NaN spot, 10:02 clean."""
    table = make_chain(
        [at(10, 0), at(10, 1), at(10, 2)], [EXPIRY], [25_900.0, 26_000.0, 26_100.0, 26_200.0]
    )
    cols = {name: table[name].to_numpy().copy() for name in ("bid", "ask", "spot")}
    t = table["ts"].cast(pa.int64()).to_numpy()
    first = np.flatnonzero(t == ns(at(10, 0)))
    cols["bid"][first[0]] = 0.0  # zero bid
    cols["ask"][first[1]] = 1e300  # absurd ask
    cols["spot"][t == ns(at(10, 1))] = NAN
    for name, values in cols.items():
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(values))
    cat = Catalog.create(tmp_path / "cat")
    cat.write_chain("NIFTY", table)
    return cat


def test_the_replay_drops_bad_rows_and_stale_snapshots_and_counts_them(dirty_catalog):
    snaps = list(dirty_catalog.snapshots("NIFTY"))
    assert [s.ts for s in snaps] == [at(10, 0), at(10, 2)]
    assert [len(s) for s in snaps] == [6, 8]
    assert all((s.bid > 0).all() and (s.ask < 1e6).all() for s in snaps)
    assert dirty_catalog.quality.as_dict() == {
        "dropped": {ABSURD: 1, BAD_SPOT: 8, NON_POSITIVE: 1}, "stale_snapshots": 1,
    }  # fmt: skip
    raw = dirty_catalog.day("NIFTY", DAY)  # the stored data is shown as it is
    assert raw.n_snapshots == 3 and len(raw) == 24


def test_a_clean_day_is_passed_through_untouched(tmp_path):
    table = make_chain([at(10, 0), at(10, 1)], [EXPIRY], [26_000.0, 26_100.0])
    cat = Catalog.create(tmp_path / "cat")
    cat.write_chain("NIFTY", table)
    (day,) = cat.days("NIFTY")
    assert day.quality is not None and day.quality.as_dict() == {
        "dropped": {},
        "stale_snapshots": 0,
    }
    assert len(day) == 8 and day.n_snapshots == 2


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")  # a NaN strike's key
@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [("spot", NAN, BAD_SPOT), ("bid", 1_000.0, CROSSED), ("ask", INF, NON_FINITE), ("ltp", 0.0, NON_POSITIVE),
     ("delta", 1.5, IMPOSSIBLE_GREEKS), ("gamma", -1e-6, IMPOSSIBLE_GREEKS), ("ask", 1e300, ABSURD),
     ("strike", NAN, NON_FINITE)],
)  # fmt: skip
def test_one_fault_alone_in_a_stored_day_is_caught(tmp_path, column, value, reason):
    """The replay screens a day by its Parquet statistics, which skip NaN and cannot see a
    crossed quote: each of those faults must still be found when it is the only one."""
    table = make_chain([at(10, 0), at(10, 1)], [EXPIRY], [25_900.0, 26_000.0, 26_100.0, 26_200.0])
    extra = {"delta": np.full(table.num_rows, 0.3), "gamma": np.full(table.num_rows, 1e-4),
             "iv": np.full(table.num_rows, 0.12), "vega": np.full(table.num_rows, 10.0),
             "theta": np.full(table.num_rows, -5.0)}  # fmt: skip
    for name, values in extra.items():
        table = table.append_column(name, pa.array(values))
    values = table[column].to_numpy().copy()
    row = int(np.flatnonzero(table["ts"].cast(pa.int64()).to_numpy() == ns(at(10, 1)))[0])
    values[row] = value
    table = table.set_column(table.schema.get_field_index(column), column, pa.array(values))
    cat = Catalog.create(tmp_path / "cat")
    with np.errstate(invalid="ignore"):  # a NaN strike has no contract key
        cat.write_chain("NIFTY", table, compute_greeks=False)
    snaps = list(cat.snapshots("NIFTY"))
    assert cat.quality.dropped[reason] >= 1
    for snap in snaps:
        assert (
            np.isfinite(snap.strike).all()
            and snap.spot > 0
            and (snap.bid <= snap.ask).all()
            and (np.abs(snap.delta) <= 1).all()
        )
        assert np.isfinite(snap.ask).all() and (snap.ltp > 0).all() and (snap.gamma >= 0).all()
