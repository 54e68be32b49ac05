"""Option lookup on hand-built chains: |delta| for puts, tolerance, filters, expiries, ties."""

import logging
import math
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optrunner.core.timeutil import IST
from optrunner.core.types import Right
from optrunner.data.seed_db import write_seed_db
from optrunner.data.snapshot import ChainSnapshot
from optrunner.market import (
    find_option,
    find_option_by_criteria,
    find_option_by_premium,
    find_options,
    option_at_offset,
    resolve_expiry,
)

TS = datetime(2026, 1, 6, 10, 30, tzinfo=IST)  # a Tuesday: NIFTY's weekly expires today
JAN13 = date(2026, 1, 13)


def row(strike, right, delta, *, expiry=JAN13, ltp=100.0, bid=None, ask=None, oi=10_000.0, **more):
    bid = ltp - 0.5 if bid is None else bid
    ask = ltp + 0.5 if ask is None else ask
    return dict(
        strike=strike,
        option_type=right,
        expiry=expiry,
        delta=delta,
        ltp=ltp,
        bid=bid,
        ask=ask,
        oi=oi,
        **more,
    )


def strip(expiry=JAN13, forward=25_000.0):
    """A smooth NIFTY strip 24,000-26,000: |delta| falls away from the money, puts negative."""
    rows = []
    for k in range(24_000, 26_001, 50):
        call = 1.0 / (1.0 + math.exp((k - forward) / 250.0))
        rows.append(
            row(
                k,
                "CE",
                call,
                expiry=expiry,
                ltp=max(forward - k, 0) + 40 * call + 1,
                future=forward,
            )
        )
        rows.append(
            row(
                k,
                "PE",
                call - 1.0,
                expiry=expiry,
                ltp=max(k - forward, 0) + 40 * (1 - call) + 1,
                future=forward,
            )
        )
    return rows


def chain(rows, ts=TS, spot=25_000.0):
    return ChainSnapshot.from_quotes("NIFTY", ts, spot, rows)


def strikes(quotes):
    return [q.contract.strike for q in quotes]


# --- delta: absolute for puts (the old bug) ----------------------------------------------------


def test_put_found_by_absolute_delta_not_the_farthest_otm_put():
    c = chain(strip())
    q = find_option(c, "delta", 0.30, "PE")
    assert q.contract.right is Right.PE
    assert abs(abs(q.delta) - 0.30) <= 0.05
    # The signed-delta bug would pick the put whose delta is nearest +0.30: the least negative.
    farthest_otm = c.strike[~c.is_call][np.argmax(c.delta[~c.is_call])]
    assert q.contract.strike != farthest_otm
    # Against an independent scan: the put minimising ||delta| - 0.30|.
    puts = [
        (abs(abs(d) - 0.30), k)
        for k, d, call in zip(c.strike, c.delta, c.is_call, strict=True)
        if not call
    ]
    assert q.contract.strike == min(puts)[1]
    assert q.contract.strike < 25_000  # an OTM put is below the forward


def test_negative_target_for_a_put_means_the_same_put():
    c = chain(strip())
    assert (
        find_option(c, "delta", -0.30, "PE").contract
        == find_option(c, "delta", 0.30, "PE").contract
    )


def test_call_by_delta_and_option_type_spellings():
    c = chain(strip())
    q = find_option(c, "delta", 0.30, "CE")
    assert q.contract.right is Right.CE and q.contract.strike > 25_000
    for spelling in (Right.CE, "call", "C", " ce "):
        assert find_option(c, "Delta", 0.30, spelling).contract == q.contract
    with pytest.raises(ValueError, match="option_type 'XE' is not CE or PE"):
        find_option(c, "delta", 0.30, "XE")


def test_signed_comparison_on_request_finds_no_put_near_plus_030():
    assert find_option(chain(strip()), "delta", 0.30, "PE", use_absolute=False) is None


# --- tolerance -------------------------------------------------------------------------------


def test_delta_tolerance_default_explicit_and_hard_cap():
    c = chain([row(25_000, "PE", -0.50), row(24_500, "PE", -0.38), row(24_000, "PE", -0.12)])
    assert find_option(c, "delta", 0.30, "PE") is None  # nearest is 0.08 away
    assert find_option(c, "delta", 0.30, "PE", tolerance=0.05) is None
    assert find_option(c, "delta", 0.30, "PE", tolerance=0.08).contract.strike == 24_500
    assert find_option(c, "delta", 0.30, "PE", tolerance=0.15).contract.strike == 24_500
    for lookup in (find_option, find_options):
        with pytest.raises(ValueError, match=r"exceeds the hard cap 0\.15"):
            lookup(c, "delta", 0.30, "PE", tolerance=0.16)
    with pytest.raises(ValueError, match="non-negative"):
        find_option(c, "delta", 0.30, "PE", tolerance=-0.01)


def test_other_fields_have_no_default_tolerance():
    c = chain([row(25_000, "CE", 0.5, ltp=120.0), row(25_500, "CE", 0.2, ltp=30.0)])
    assert find_option(c, "ltp", 1_000.0, "CE").contract.strike == 25_000
    assert find_option(c, "ltp", 1_000.0, "CE", tolerance=100.0) is None
    assert find_option(c, "strike", 25_400, "CE").contract.strike == 25_500


# --- filters ---------------------------------------------------------------------------------


def test_ltp_must_exceed_min_ltp_and_nan_ltp_never_matches():
    rows = [
        row(24_800, "PE", -0.30, ltp=0.0),
        row(24_700, "PE", -0.29, ltp=float("nan")),
        row(24_900, "PE", -0.34, ltp=5.0),
    ]
    c = chain(rows)
    assert find_option(c, "delta", 0.30, "PE").contract.strike == 24_900
    assert find_option(c, "delta", 0.30, "PE", min_ltp=5.0) is None  # strictly greater


def test_max_spread_pct_of_mid():
    rows = [
        row(24_800, "PE", -0.30, ltp=100.0, bid=95.0, ask=105.0),
        row(24_850, "PE", -0.33, ltp=100.0, bid=99.0, ask=101.0),
    ]
    c = chain(rows)
    assert (
        find_option(c, "delta", 0.30, "PE", max_spread_pct=10.0).contract.strike == 24_800
    )  # 10 % of mid 100
    assert find_option(c, "delta", 0.30, "PE", max_spread_pct=9.9).contract.strike == 24_850
    one_sided = chain([row(24_800, "PE", -0.30, bid=float("nan"), ask=101.0)])
    assert find_option(one_sided, "delta", 0.30, "PE", max_spread_pct=50.0) is None
    assert (
        find_option(one_sided, "delta", 0.30, "PE").contract.strike == 24_800
    )  # no spread filter asked


def test_min_oi():
    c = chain([row(24_800, "PE", -0.30, oi=400.0), row(24_850, "PE", -0.33, oi=500.0)])
    assert find_option(c, "delta", 0.30, "PE", min_oi=500).contract.strike == 24_850
    assert find_option(c, "delta", 0.30, "PE", min_oi=501) is None


def test_stale_chain_returns_none_and_logs(caplog):
    c = chain(strip())
    assert find_option(c, "delta", 0.3, "PE", max_age_seconds=120, now=TS + timedelta(seconds=120))
    with caplog.at_level(logging.WARNING, logger="optrunner.market.lookup"):
        assert (
            find_option(c, "delta", 0.3, "PE", max_age_seconds=120, now=TS + timedelta(seconds=121))
            is None
        )
    assert "121 s old" in caplog.text
    with pytest.raises(ValueError, match="max_age_seconds needs now="):
        find_option(c, "delta", 0.3, "PE", max_age_seconds=120)


def test_nan_field_values_never_match():
    c = chain([row(24_800, "PE", float("nan")), row(24_600, "PE", -0.27)])
    assert find_option(c, "delta", 0.30, "PE").contract.strike == 24_600
    assert find_option(c, "iv", 0.15, "PE") is None  # iv column is all NaN
    assert find_options(c, "iv", 0.15, "PE") == []


def test_empty_chain_finds_nothing():
    empty = chain([])
    assert find_option(empty, "delta", 0.30, "PE") is None
    assert find_options(empty, "delta", 0.30, "PE") == []
    assert find_option_by_criteria(empty, {"delta": 0.30}, option_type="PE") is None
    assert option_at_offset(empty, "CE", 1) is None


# --- expiries --------------------------------------------------------------------------------

EXPIRIES = [date(2026, 1, 6), JAN13, date(2026, 1, 20), date(2026, 1, 27), date(2026, 2, 24)]


def multi_expiry_chain(ts=TS):
    rows = []
    for i, e in enumerate(EXPIRIES):  # one 0.30 put per expiry, strike tells them apart
        rows.append(row(24_000 + 100 * i, "PE", -0.30, expiry=e))
    return chain(rows, ts=ts)


@pytest.mark.parametrize(
    "spec, allow, expected",
    [
        ("weekly", False, JAN13),  # today's expiry skipped
        ("nearest", False, JAN13),
        ("weekly", True, date(2026, 1, 6)),
        ("next_weekly", False, date(2026, 1, 20)),
        ("next_weekly", True, JAN13),
        ("monthly", False, date(2026, 1, 27)),  # last Tuesday of January
        (date(2026, 1, 20), False, date(2026, 1, 20)),
        (date(2026, 1, 6), False, date(2026, 1, 6)),  # an explicit date is never skipped
    ],
)
def test_expiry_choices(spec, allow, expected):
    c = multi_expiry_chain()
    assert resolve_expiry(c, spec, allow_expiry_day=allow) == expected
    q = find_option(c, "delta", 0.30, "PE", expiry=spec, allow_expiry_day=allow)
    assert q.contract.expiry == expected


def test_monthly_rolls_to_next_month_once_this_months_has_passed():
    c = multi_expiry_chain(ts=datetime(2026, 1, 28, 10, 0, tzinfo=IST))
    assert resolve_expiry(c, "monthly") == date(2026, 2, 24)
    assert resolve_expiry(c, "weekly") == date(2026, 2, 24)


def test_missing_expiry_gives_none_and_bad_spec_raises():
    c = multi_expiry_chain()
    assert find_option(c, "delta", 0.30, "PE", expiry=date(2026, 2, 3)) is None
    weekly_only = chain([row(24_000, "PE", -0.30, expiry=JAN13)])
    assert find_option(weekly_only, "delta", 0.30, "PE", expiry="monthly") is None
    with pytest.raises(
        ValueError, match="use a date or one of nearest, weekly, next_weekly, monthly"
    ):
        find_option(c, "delta", 0.30, "PE", expiry="fortnightly")


def test_no_expiry_searches_every_expiry():
    rows = [
        row(24_800, "PE", -0.40, expiry=JAN13),
        row(24_700, "PE", -0.31, expiry=date(2026, 1, 27)),
    ]
    q = find_option(chain(rows), "delta", 0.30, "PE")
    assert (q.contract.strike, q.contract.expiry) == (24_700, date(2026, 1, 27))


def test_same_strike_and_delta_in_two_expiries_goes_to_the_nearer_expiry():
    rows = [
        row(24_800, "PE", -0.30, expiry=date(2026, 1, 20)),
        row(24_800, "PE", -0.30, expiry=JAN13),
    ]
    assert find_option(chain(rows), "delta", 0.30, "PE").contract.expiry == JAN13


# --- ties and ordering -----------------------------------------------------------------------


def test_equal_distance_goes_to_the_strike_nearer_the_money():
    c = chain(
        [row(24_600, "PE", -0.25, future=25_000.0), row(24_800, "PE", -0.35, future=25_000.0)]
    )
    assert find_option(c, "delta", 0.30, "PE").contract.strike == 24_800


def test_equal_distance_and_moneyness_goes_to_the_lower_strike():
    c = chain([row(25_100, "CE", 0.28, future=25_000.0), row(24_900, "CE", 0.32, future=25_000.0)])
    assert find_option(c, "delta", 0.30, "CE").contract.strike == 24_900


def test_find_options_sorted_by_distance_and_first_is_find_option():
    c = chain(strip())
    got = find_options(c, "delta", 0.30, "PE", limit=4, tolerance=0.15)
    dists = [abs(abs(q.delta) - 0.30) for q in got]
    assert len(got) == 4 and dists == sorted(dists)
    assert got[0].contract == find_option(c, "delta", 0.30, "PE", tolerance=0.15).contract
    close = sum(
        1
        for d, call in zip(c.delta, c.is_call, strict=True)
        if not call and abs(abs(d) - 0.3) <= 0.05
    )
    assert len(find_options(c, "delta", 0.30, "PE", limit=100, tolerance=0.05)) == close < 41
    assert len(find_options(c, "delta", 0.30, "PE", limit=100)) == 41  # a listing: every put
    with pytest.raises(ValueError, match="limit must be at least 1"):
        find_options(c, limit=0)


@settings(max_examples=200, deadline=None)
@given(
    deltas=st.lists(st.one_of(st.floats(-1, 0), st.just(float("nan"))), min_size=1, max_size=30),
    ltps=st.lists(st.sampled_from([0.0, 0.05, 3.0, 50.0]), min_size=30, max_size=30),
    target=st.floats(0.0, 1.0),
    tol=st.floats(0.0, 0.15),
)
def test_matches_a_brute_force_scan(deltas, ltps, target, tol):
    rows = [
        row(20_000 + 50 * i, "PE", d, ltp=ltps[i], future=20_500.0) for i, d in enumerate(deltas)
    ]
    c = chain(rows)
    eligible = [
        (round(abs(abs(r["delta"]) - target), 9), abs(r["strike"] - 20_500.0), r["strike"])
        for r in rows
        if r["ltp"] > 0
        and not math.isnan(r["delta"])
        and abs(abs(r["delta"]) - target) <= tol + 1e-12
    ]
    expected = [k for *_, k in sorted(eligible)][:5]
    assert strikes(find_options(c, "delta", target, "PE", tolerance=tol, limit=5)) == expected
    q = find_option(c, "delta", target, "PE", tolerance=tol)
    assert (q.contract.strike if q else None) == (expected[0] if expected else None)


# --- criteria, offset, premium ---------------------------------------------------------------


def test_weighted_criteria_use_absolute_delta_for_puts():
    c = chain([
        row(24_700, "PE", -0.25, ltp=40.0),
        row(24_800, "PE", -0.30, ltp=62.0),
        row(24_900, "PE", -0.36, ltp=50.0),
    ])  # fmt: skip
    target = {"delta": 0.30, "ltp": 50.0}
    # weights delta 100, ltp 1: scores 100*0.05+10 = 15, 0+12 = 12, 100*0.06+0 = 6 -> 24,900
    assert (
        find_option_by_criteria(c, target, {"delta": 100, "ltp": 1}, "PE").contract.strike == 24_900
    )
    # delta 500, ltp 1 by default: scores 25+10 = 35, 0+12 = 12, 30+0 = 30 -> 24,800
    assert find_option_by_criteria(c, target, {"delta": 500}, "PE").contract.strike == 24_800
    # delta alone, unweighted: the exact |delta| match
    assert find_option_by_criteria(c, {"delta": 0.30}, option_type="PE").contract.strike == 24_800


def test_criteria_validation_and_filters():
    c = chain([row(24_800, "PE", -0.30, ltp=0.0), row(24_900, "PE", -0.36, ltp=50.0)])
    assert (
        find_option_by_criteria(c, {"delta": 0.30}, option_type="PE").contract.strike == 24_900
    )  # ltp > 0
    assert find_option_by_criteria(c, {"delta": 0.30}, option_type="PE", min_oi=1e9) is None
    with pytest.raises(ValueError, match="criteria is empty"):
        find_option_by_criteria(c, {}, option_type="PE")
    with pytest.raises(ValueError, match=r"weights for fields not in criteria: \['gamma'\]"):
        find_option_by_criteria(c, {"delta": 0.3}, {"gamma": 1.0}, "PE")
    with pytest.raises(TypeError, match=r"unknown lookup filter\(s\) \['min_volume'\]"):
        find_option_by_criteria(c, {"delta": 0.3}, option_type="PE", min_volume=5)
    with pytest.raises(ValueError, match="unknown lookup field 'rho'"):
        find_option_by_criteria(c, {"rho": 0.3}, option_type="PE")


def test_option_at_offset_moves_out_of_the_money():
    c = chain(strip(forward=25_010.0), spot=24_990.0)  # ATM from the forward: 25,000
    assert option_at_offset(c, "CE", 0).contract.strike == 25_000
    assert option_at_offset(c, "CE", 2).contract.strike == 25_100
    assert option_at_offset(c, "PE", 2).contract.strike == 24_900
    assert option_at_offset(c, "PE", -3).contract.strike == 25_150  # negative: in the money
    assert option_at_offset(c, "CE", 4, strike_step=100).contract.strike == 25_400
    assert option_at_offset(c, "CE", 30) is None  # 26,500 is not listed
    assert option_at_offset(c, "CE", 1, expiry="next_weekly") is None  # the chain has one expiry


def test_find_option_by_premium():
    c = chain([
        row(24_500, "PE", -0.10, ltp=30.0, bid=29.0, ask=31.0),
        row(24_700, "PE", -0.20, ltp=48.0, bid=54.0, ask=56.0),  # last trade stale vs quotes
        row(24_800, "PE", -0.28, ltp=53.0, bid=52.0, ask=54.0),
        row(24_700, "CE", 0.90, ltp=50.0),
    ])  # fmt: skip
    assert find_option_by_premium(c, 50.0, "PE").contract.strike == 24_700  # ltp 48 is nearest
    assert find_option_by_premium(c, 50.0, "PE", tolerance=1.5) is None
    assert (
        find_option_by_premium(c, 50.0, "PE", price_field="mid").contract.strike == 24_800
    )  # mid 53
    assert find_option_by_premium(c, 50.0, "PE", expiry=date(2026, 1, 20)) is None
    with pytest.raises(ValueError, match="price_field 'delta'"):
        find_option_by_premium(c, 50.0, "PE", price_field="delta")


# --- the seed signature ----------------------------------------------------------------------


def test_seed_db_path_signature(tmp_path):
    path = tmp_path / "NFO_NIFTY_13-Jan-2026.sqlite"
    write_seed_db(path, chain(strip()))
    option = find_option(field="delta", value=0.3, option_type="PE", db_path=str(path))
    assert option is not None
    assert option.contract == find_option(chain(strip()), "delta", 0.3, "PE").contract
    assert option["delta"] < 0 and option["option_type"] is Right.PE
    found = find_options(field="delta", symbol="NIFTY", limit=10, db_path=path)
    assert len(found) == 10 and all(q.contract.right is Right.CE for q in found)
    with pytest.raises(ValueError, match="asked for BANKNIFTY options but the chain is NIFTY's"):
        find_option(db_path=path, symbol="BANKNIFTY")


def test_no_chain_and_no_path_is_an_error_even_with_sqlite_files_nearby(tmp_path, monkeypatch):
    write_seed_db(tmp_path / "NFO_NIFTY_13-Jan-2026.sqlite", chain(strip()))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="never picks 'the latest file'"):
        find_option(field="delta", value=0.3)
    with pytest.raises(ValueError, match="either chain= or db_path="):
        find_option(chain(strip()), db_path=tmp_path / "NFO_NIFTY_13-Jan-2026.sqlite")


def test_a_quote_behaves_as_the_seeds_dict(tmp_path):
    """Seed code did ``option["strike"]``, ``dict(option)``, ``option.get(...)``: all still work."""
    path = tmp_path / "NFO_NIFTY_13-Jan-2026.sqlite"
    write_seed_db(path, chain(strip()))
    q = find_option(field="delta", value=0.3, option_type="PE", db_path=path)
    for key in ("strike", "expiry", "option_type", "symbol", "delta", "ltp", "bid", "ask", "iv", "oi", "ts"):
        assert q[key] is getattr(q, key) or q[key] == getattr(q, key), key
    assert (q.symbol, q.option_type, q.option_type == "PE") == ("NIFTY", Right.PE, True)
    assert q.strike == q.contract.strike and q.expiry == q.contract.expiry
    as_dict = dict(q)
    assert list(as_dict) == list(q.keys()) and len(q) == len(as_dict)
    assert [k for k, _ in q.items()] == list(as_dict) and len(q.values()) == len(as_dict)
    assert {"strike", "expiry", "option_type", "symbol", "id"} <= set(q.keys())
    assert "strike" in q and "nope" not in q and q.get("nope", 7) == 7
    with pytest.raises(KeyError, match="nope"):
        q["nope"]
    assert q["mid"] == q.mid  # readable by key though not listed
