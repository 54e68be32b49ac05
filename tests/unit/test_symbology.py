"""Broker symbols <-> canonical contracts: round trips, real symbols, and clear rejections."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optrunner.core.types import Right
from optrunner.instruments import OptionContract, calendar_for, get_index, known_indices
from optrunner.instruments.symbology import SymbolError, format_symbol, parse_symbol

# Real listed expiries per index, 2024-2026, from the trading calendar.
EXPIRIES = {
    u: calendar_for(u).expiries(u, date(2024, 1, 1), date(2026, 12, 31)) for u in known_indices()
}


def _is_monthly(c: OptionContract) -> bool:
    e = c.expiry
    return e == calendar_for(c.underlying).monthly_expiry(c.underlying, e.year, e.month)


@st.composite
def contracts(draw, fractional: bool = False) -> OptionContract:
    und = draw(st.sampled_from(known_indices()))
    expiry = draw(st.sampled_from(EXPIRIES[und]))
    step = get_index(und).strike_step
    strike = draw(st.integers(min_value=int(5_000 / step), max_value=int(100_000 / step))) * step
    if fractional:  # e.g. 24987.5: off the step by a multiple of 0.05
        strike += draw(st.integers(min_value=1, max_value=int(step * 20) - 1)) / 20
    return OptionContract(und, expiry, strike, draw(st.sampled_from(list(Right))))


# --- round trips: contract -> symbol -> contract ---------------------------------------------


@settings(max_examples=300)
@given(c=st.one_of(contracts(), contracts(fractional=True)))
def test_kite_round_trip_and_auto_detect(c):
    sym = format_symbol(c, "kite")
    assert format_symbol(c, "nse") == sym
    assert parse_symbol(sym, "kite") == c
    assert parse_symbol(sym) == c  # auto-detect finds the same contract


@settings(max_examples=300)
@given(c=contracts())
def test_kite_uses_monthly_form_exactly_for_monthly_expiries(c):
    sym = format_symbol(c, "kite")
    body = sym[len(c.underlying) + 2 :]  # after UND + YY
    month_word = f"{c.expiry:%b}".upper()
    assert body.startswith(month_word) == _is_monthly(c)


@settings(max_examples=300)
@given(c=st.one_of(contracts(), contracts(fractional=True)))
def test_shoonya_round_trip(c):
    sym = format_symbol(c, "shoonya")
    assert parse_symbol(sym, "shoonya") == c
    assert parse_symbol(sym) == c


@settings(max_examples=300)
@given(c=st.one_of(contracts(), contracts(fractional=True)))
def test_dhan_trading_symbol_round_trips_with_its_expiry(c):
    sym = format_symbol(c, "dhan")
    assert parse_symbol(sym, "dhan", expiry=c.expiry) == c
    if _is_monthly(c):  # month-level symbol alone means the monthly contract
        assert parse_symbol(sym, "dhan") == c
        assert parse_symbol(sym) == c


@settings(max_examples=300)
@given(c=st.one_of(contracts(), contracts(fractional=True)), days_before=st.integers(0, 364))
def test_dhan_custom_symbol_round_trips_from_any_date_in_the_prior_year(c, days_before):
    sym = format_symbol(c, "dhan_custom")
    as_of = c.expiry - timedelta(days=days_before)
    assert parse_symbol(sym, "dhan", as_of=as_of) == c
    assert parse_symbol(sym, as_of=as_of) == c
    assert parse_symbol(sym, "dhan", expiry=c.expiry) == c


# --- known symbols ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "symbol, expected",
    [
        # Shoonya's single-letter type: the old platform read this call as a put.
        ("NIFTY13JAN26C25950", "NIFTY:20260113:25950:CE"),
        ("NIFTY13JAN26P25950", "NIFTY:20260113:25950:PE"),
        ("BANKNIFTY27JAN26P50000", "BANKNIFTY:20260127:50000:PE"),
        # Kite monthly: last Tuesday of January 2026 is the 27th.
        ("NIFTY26JAN25000CE", "NIFTY:20260127:25000:CE"),
        ("BANKNIFTY26JAN50000PE", "BANKNIFTY:20260127:50000:PE"),
        ("FINNIFTY26JAN27000CE", "FINNIFTY:20260127:27000:CE"),
        ("MIDCPNIFTY26JAN13000PE", "MIDCPNIFTY:20260127:13000:PE"),
        ("MIDCPNIFTY26JAN13012.5CE", "MIDCPNIFTY:20260127:13012.5:CE"),
        # March 2026: Tuesday 31st is a holiday, so the monthly expires Monday 30th.
        ("NIFTY26MAR24000PE", "NIFTY:20260330:24000:PE"),
        # 2024 monthlies were Thursdays: 31 Oct and 26 Dec.
        ("NIFTY24OCT25000CE", "NIFTY:20241031:25000:CE"),
        ("NIFTY24DEC24000PE", "NIFTY:20241226:24000:PE"),
        # Kite weekly: YY + month code (1-9, O, N, D) + DD.
        ("NIFTY2611325000CE", "NIFTY:20260113:25000:CE"),
        ("NIFTY24O1725000CE", "NIFTY:20241017:25000:CE"),
        ("NIFTY24N0723500PE", "NIFTY:20241107:23500:PE"),
        ("NIFTY24D1924000PE", "NIFTY:20241219:24000:PE"),
        ("SENSEX2612282000CE", "SENSEX:20260122:82000:CE"),
        ("NIFTY2611324987.5PE", "NIFTY:20260113:24987.5:PE"),
        # Dhan trading symbols: month-level (-> monthly expiry) and the older day-level form.
        ("NIFTY-Jan2026-25000-CE", "NIFTY:20260127:25000:CE"),
        ("BANKNIFTY-Feb2026-52000-PE", "BANKNIFTY:20260224:52000:PE"),
        ("NIFTY-28Mar2024-22000-CE", "NIFTY:20240328:22000:CE"),
        # Case and surrounding whitespace are not significant.
        ("  nifty26jan25000ce ", "NIFTY:20260127:25000:CE"),
    ],
)
def test_known_symbols(symbol, expected):
    assert parse_symbol(symbol).id == expected


def test_each_broker_grammar_only_accepts_its_own_format():
    assert parse_symbol("NIFTY13JAN26C25950", "shoonya").right is Right.CE
    with pytest.raises(SymbolError, match="kite-monthly"):
        parse_symbol("NIFTY13JAN26C25950", "kite")
    with pytest.raises(SymbolError, match="shoonya"):
        parse_symbol("NIFTY26JAN25000CE", "shoonya")


def test_longest_index_name_wins():
    assert parse_symbol("BANKNIFTY2611350000CE").underlying == "BANKNIFTY"
    assert parse_symbol("FINNIFTY13JAN26C27000").underlying == "FINNIFTY"
    assert parse_symbol("MIDCPNIFTY-Jan2026-13000-PE").underlying == "MIDCPNIFTY"


def test_dhan_month_symbol_takes_an_explicit_weekly_expiry():
    c = parse_symbol("NIFTY-Jan2026-25000-CE", "dhan", expiry=date(2026, 1, 13))
    assert c.id == "NIFTY:20260113:25000:CE"


def test_dhan_custom_symbol_resolves_to_next_such_day_on_or_after_as_of():
    sym = "NIFTY 13 JAN 25000 CALL"
    assert parse_symbol(sym, "dhan", as_of=date(2026, 1, 6)).expiry == date(2026, 1, 13)
    assert parse_symbol(sym, "dhan", as_of=date(2026, 1, 13)).expiry == date(2026, 1, 13)
    assert parse_symbol(sym, "dhan", as_of=date(2026, 1, 14)).expiry == date(2027, 1, 13)
    assert (
        parse_symbol("NIFTY 27 JAN 25000 PUT", as_of=date(2026, 1, 1)).id
        == "NIFTY:20260127:25000:PE"
    )
    # 29 FEB only exists in leap years: from 2026 the next one is 2028.
    assert parse_symbol("NIFTY 29 FEB 25000 CALL", as_of=date(2026, 3, 1)).expiry == date(
        2028, 2, 29
    )


def test_formats_of_one_contract():
    c = OptionContract("NIFTY", date(2026, 1, 13), 25950, Right.CE)
    assert format_symbol(c, "kite") == "NIFTY2611325950CE"
    assert format_symbol(c, "shoonya") == "NIFTY13JAN26C25950"
    assert format_symbol(c, "dhan") == "NIFTY-Jan2026-25950-CE"
    assert format_symbol(c, "dhan_custom") == "NIFTY 13 JAN 25950 CALL"
    monthly = OptionContract("NIFTY", date(2026, 1, 27), 24987.5, Right.PE)
    assert format_symbol(monthly, "kite") == "NIFTY26JAN24987.5PE"


# --- rejections ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "symbol, message",
    [
        (
            "NIFTY26JAN25000XE",
            r"tried kite-monthly .*kite-weekly .*shoonya .*dhan-trading .*dhan-custom",
        ),
        ("NIFTY26JAN25000", "cannot parse"),
        ("NIFTY26JAN25000CEX", "cannot parse"),  # anchored at the end
        ("XNIFTY26JAN25000CE", "does not start with a known index"),  # anchored at the start
        ("FOO26JAN25000CE", r"does not start with a known index \(BANKNIFTY, FINNIFTY"),
        ("NIFTY26JAN025000CE", "cannot parse"),  # leading zero in the strike
        ("NIFTY13JAN26X25950", "cannot parse"),
        ("", "cannot parse"),
        ("NIFTY30FEB26C25000", "shoonya symbol but 30-FEB-2026 is not a calendar date"),
        ("NIFTY2613225000CE", "kite-weekly symbol but 32-JAN-2026 is not a calendar date"),
        ("NIFTY 13 JAN 25000 CALL", "has no year: pass as_of="),
    ],
)
def test_malformed_symbols_are_rejected_with_a_reason(symbol, message):
    with pytest.raises(SymbolError, match=message):
        parse_symbol(symbol)


def test_expiry_that_contradicts_the_symbol_is_rejected():
    with pytest.raises(SymbolError, match="not in the symbol's month JAN 2026"):
        parse_symbol("NIFTY-Jan2026-25000-CE", expiry=date(2026, 2, 3))
    with pytest.raises(SymbolError, match="names expiry 2026-01-13, but expiry=2026-01-20"):
        parse_symbol("NIFTY2611325000CE", expiry=date(2026, 1, 20))


def test_unknown_broker_names_are_rejected():
    c = OptionContract("NIFTY", date(2026, 1, 13), 25000, Right.CE)
    with pytest.raises(ValueError, match="unknown broker 'zerodha'"):
        parse_symbol("NIFTY2611325000CE", "zerodha")
    with pytest.raises(ValueError, match="unknown broker 'auto' for formatting"):
        format_symbol(c, "auto")
