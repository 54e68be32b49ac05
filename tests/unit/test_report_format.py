"""How the report writes money, percentages, ratios and times."""

from __future__ import annotations

import math

import pytest

from optrunner.backtest.report_data import RunFolderError, ist_text
from optrunner.backtest.report_format import count, minute, percent, ratio, rupees


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "₹0.00"),
        (999.5, "₹999.50"),
        (1_000, "₹1,000.00"),
        (99_999.99, "₹99,999.99"),
        (123_456.78, "₹1,23,456.78"),  # lakh
        (12_345_678.9, "₹1,23,45,678.90"),  # crore
        (1_000_000_000, "₹1,00,00,00,000.00"),  # a hundred crore
        (-123_456.78, "-₹1,23,456.78"),
        (-0.004, "₹0.00"),  # rounds to zero: no "-₹0.00"
        (0.999, "₹1.00"),  # the carry reaches the rupees
    ],
)
def test_rupees_are_grouped_the_indian_way(value, text):
    assert rupees(value) == text


@pytest.mark.parametrize("missing", [None, math.nan, math.inf, -math.inf, "n/a"])
def test_undefined_values_read_as_a_dash(missing):
    assert rupees(missing) == percent(missing) == ratio(missing) == count(missing) == "—"


def test_counts_percent_and_ratios():
    assert count(1_234_567) == "12,34,567" and count(0) == "0"
    assert rupees(1_000_000, 0) == "₹10,00,000"
    assert percent(12.345678) == "12.35%" and percent(66.6667, 1) == "66.7%"
    assert percent(13.345678, signed=True) == "+13.35%" and percent(-1, signed=True) == "-1.00%"
    assert percent(-0.001, signed=True) == "0.00%"  # no "-0.00%"
    assert ratio(13.345678) == "13.35"


def test_times_are_shown_as_ist_wall_clock():
    assert ist_text("2026-01-05T09:15:00+05:30", "here") == "2026-01-05T09:15:00"
    assert ist_text("2026-01-05T03:45:00+00:00", "here") == "2026-01-05T09:15:00"
    assert ist_text("2026-01-05T03:45:00Z", "here") == "2026-01-05T09:15:00"
    assert ist_text("2026-01-05T09:15:00", "here") == "2026-01-05T09:15:00"  # run folders are IST
    assert minute("2026-01-05T09:15:00") == "05 Jan 2026 09:15"
    with pytest.raises(RunFolderError, match=r"equity.csv line 7, column time: 'tomorrow' is not an ISO date-time"):
        ist_text("tomorrow", "equity.csv line 7, column time")
