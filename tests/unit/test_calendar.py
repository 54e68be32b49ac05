"""Trading calendar and index specifications against MARKET_FACTS.md."""

from datetime import date, datetime

import pytest

from optrunner.core.timeutil import IST
from optrunner.instruments import calendar_for, get_index, time_to_expiry

NSE = calendar_for("NSE")


@pytest.mark.parametrize(
    "nominal, actual",
    [
        (date(2026, 3, 3), date(2026, 3, 2)),
        (date(2026, 3, 31), date(2026, 3, 30)),
        (date(2026, 4, 14), date(2026, 4, 13)),
        (date(2026, 10, 20), date(2026, 10, 19)),
        (date(2026, 11, 10), date(2026, 11, 9)),
        (date(2026, 11, 24), date(2026, 11, 23)),
    ],
)
def test_2026_nifty_expiry_moves_to_previous_trading_day(nominal, actual):
    expiries = NSE.expiries("NIFTY", date(2026, 1, 1), date(2026, 12, 31))
    assert nominal not in expiries
    assert actual in expiries


def test_nifty_weekly_weekday_switch_from_thursday_to_tuesday():
    got = NSE.expiries("NIFTY", date(2025, 8, 18), date(2025, 9, 12))
    assert got == [date(2025, 8, 21), date(2025, 8, 28), date(2025, 9, 2), date(2025, 9, 9)]


def test_every_2026_nifty_expiry_is_a_trading_day_and_weekly():
    got = NSE.expiries("NIFTY", date(2026, 1, 1), date(2026, 12, 31))
    assert all(NSE.is_trading_day(d) for d in got)
    assert len(got) == 52  # one per week, no duplicate monthly
    assert all(d.weekday() in (0, 1) for d in got)  # Tuesday, or Monday when Tuesday is a holiday


def test_banknifty_has_monthlies_only_after_weeklies_ended():
    got = NSE.expiries("BANKNIFTY", date(2026, 1, 1), date(2026, 6, 30))
    assert len(got) == 6
    assert got[0] == date(2026, 1, 27)  # last Tuesday of January 2026
    assert date(2026, 3, 30) in got  # Mar 31 is a holiday -> Monday


def test_trading_days_and_holidays():
    assert not NSE.is_trading_day(date(2026, 1, 26))  # Republic Day
    assert not NSE.is_trading_day(date(2026, 1, 24))  # Saturday
    assert NSE.next_trading_day(date(2026, 1, 23)) == date(2026, 1, 27)
    assert NSE.previous_trading_day(date(2026, 1, 27)) == date(2026, 1, 23)
    assert NSE.is_open(datetime(2026, 1, 27, 9, 15, tzinfo=IST))
    assert not NSE.is_open(datetime(2026, 1, 27, 15, 30, tzinfo=IST))


def test_time_to_expiry_counts_minutes_to_1530_ist_over_365_days():
    ts = datetime(2026, 1, 12, 15, 30, tzinfo=IST)
    assert time_to_expiry(ts, date(2026, 1, 13)) == pytest.approx(1440 / (365 * 1440))
    assert time_to_expiry(datetime(2026, 1, 13, 15, 0, tzinfo=IST), date(2026, 1, 13)) == pytest.approx(
        30 / (365 * 1440)
    )
    assert time_to_expiry(datetime(2026, 1, 13, 16, 0, tzinfo=IST), date(2026, 1, 13)) == 0.0


def test_lot_sizes_follow_contract_expiry_and_freeze_follows_trade_date():
    nifty = get_index("NIFTY")
    assert nifty.lot_size(date(2024, 11, 14)) == 25
    assert nifty.lot_size(date(2025, 12, 30)) == 75
    assert nifty.lot_size(date(2026, 1, 6)) == 65
    assert nifty.freeze_qty(date(2026, 11, 2)) == 1800
    bank = get_index("BANKNIFTY")
    assert bank.lot_size(date(2026, 1, 27)) == 30
    assert bank.freeze_qty(date(2026, 1, 30)) == 900
    assert bank.freeze_qty(date(2026, 2, 1)) == 600
    assert get_index("SENSEX").exchange == "BSE"


def test_unknown_index_error_lists_known_ones():
    with pytest.raises(KeyError, match="NIFTY"):
        get_index("NIFTTY")
