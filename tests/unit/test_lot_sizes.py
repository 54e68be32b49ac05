"""Lot sizes per contract, one test per NSE revision (sources in instruments/data/indices.json)."""

from __future__ import annotations

from datetime import date

import pytest

from optrunner.instruments import get_index
from optrunner.instruments.lots import parse_lot_history
from optrunner.instruments.specs import canonical_symbol

D = date


def lot(symbol: str, expiry: date, on: date | None = None) -> int:
    return get_index(symbol).lot_size(expiry, on)


def test_nifty_75_in_2020_and_50_from_the_july_2021_contracts():
    assert lot("NIFTY", D(2020, 1, 30), D(2020, 1, 2)) == 75
    assert lot("NIFTY", D(2021, 6, 24), D(2021, 5, 3)) == 75  # existing June monthly runs off at 75
    assert lot("NIFTY", D(2021, 7, 22), D(2021, 7, 1)) == 75  # July weeklies kept the old lot
    assert lot("NIFTY", D(2021, 7, 29), D(2021, 5, 3)) == 50  # the July monthly listed at 50
    assert lot("NIFTY", D(2021, 8, 5)) == 50
    # an existing long-dated contract switches after the June-2021 expiry
    assert lot("NIFTY", D(2021, 12, 30), D(2021, 6, 24)) == 75
    assert lot("NIFTY", D(2021, 12, 30), D(2021, 6, 25)) == 50


def test_nifty_50_until_the_contracts_of_2024_04_26_then_25():
    assert lot("NIFTY", D(2024, 2, 8)) == 50  # the Feb-2024 weekly
    assert lot("NIFTY", D(2024, 4, 25)) == 50
    # every live contract was re-sized on 2024-04-26: the May monthly counted 50 in February
    assert lot("NIFTY", D(2024, 5, 30), D(2024, 2, 8)) == 50
    assert lot("NIFTY", D(2024, 5, 30), D(2024, 4, 26)) == 25
    assert lot("NIFTY", D(2024, 5, 2)) == 25  # first weekly with 25
    assert lot("NIFTY", D(2024, 11, 14)) == 25


def test_nifty_75_for_contracts_introduced_from_2024_11_20():
    on = D(2024, 12, 2)
    assert lot("NIFTY", D(2024, 12, 19), on) == 25  # last old weekly
    assert lot("NIFTY", D(2024, 12, 26), on) == 25  # existing monthlies run off at 25
    assert lot("NIFTY", D(2025, 1, 30), on) == 25
    assert lot("NIFTY", D(2025, 1, 2), on) == 75  # first new weekly
    assert lot("NIFTY", D(2025, 2, 27), on) == 75  # first new monthly
    assert lot("NIFTY", D(2025, 3, 27), on) == 25  # quarterly: old lot until 2024-12-26 EOD
    assert lot("NIFTY", D(2025, 3, 27), D(2024, 12, 27)) == 75


def test_nifty_65_for_expiries_from_january_2026():
    assert lot("NIFTY", D(2025, 12, 23), D(2025, 11, 3)) == 75
    assert lot("NIFTY", D(2025, 12, 30)) == 75
    assert lot("NIFTY", D(2026, 1, 6)) == 65
    assert lot("NIFTY", D(2026, 1, 27), D(2025, 11, 3)) == 65
    assert lot("NIFTY", D(2026, 3, 31), D(2025, 12, 30)) == 75  # quarterly until 2025-12-30 EOD
    assert lot("NIFTY", D(2026, 3, 31), D(2025, 12, 31)) == 65


def test_banknifty_history_20_25_15_30_35_30():
    assert lot("BANKNIFTY", D(2020, 3, 26)) == 20
    assert lot("BANKNIFTY", D(2020, 7, 23), D(2020, 7, 1)) == 20
    assert lot("BANKNIFTY", D(2020, 7, 30), D(2020, 5, 4)) == 25
    assert lot("BANKNIFTY", D(2023, 2, 23)) == 25  # before the July-2023 contracts
    assert lot("BANKNIFTY", D(2023, 7, 20), D(2023, 7, 3)) == 25
    assert lot("BANKNIFTY", D(2023, 7, 27), D(2023, 5, 2)) == 15
    assert lot("BANKNIFTY", D(2023, 9, 28), D(2023, 6, 1)) == 25  # long-dated until June expiry
    assert lot("BANKNIFTY", D(2023, 9, 28), D(2023, 6, 30)) == 15
    assert lot("BANKNIFTY", D(2025, 1, 29), D(2024, 12, 2)) == 15
    assert lot("BANKNIFTY", D(2025, 2, 26), D(2024, 12, 2)) == 30
    assert lot("BANKNIFTY", D(2025, 6, 26), D(2025, 5, 2)) == 30
    assert lot("BANKNIFTY", D(2025, 7, 31), D(2025, 5, 2)) == 35
    assert lot("BANKNIFTY", D(2025, 12, 30)) == 35
    assert lot("BANKNIFTY", D(2026, 1, 27)) == 30


def test_finnifty_midcpnifty_and_sensex_revisions():
    assert lot("FINNIFTY", D(2024, 6, 25)) == 40
    assert lot("FINNIFTY", D(2024, 7, 23), D(2024, 7, 1)) == 40
    assert lot("FINNIFTY", D(2024, 7, 30), D(2024, 5, 2)) == 25
    assert lot("FINNIFTY", D(2025, 2, 25)) == 65
    assert lot("FINNIFTY", D(2026, 1, 27)) == 60
    assert lot("MIDCPNIFTY", D(2022, 2, 22)) == 75
    assert lot("MIDCPNIFTY", D(2024, 7, 29), D(2024, 5, 2)) == 50
    assert lot("MIDCPNIFTY", D(2025, 2, 24)) == 120
    assert lot("MIDCPNIFTY", D(2025, 7, 31), D(2025, 5, 2)) == 140
    assert lot("MIDCPNIFTY", D(2026, 1, 27)) == 120
    assert lot("SENSEX", D(2025, 1, 3), D(2024, 12, 2)) == 10
    assert lot("SENSEX", D(2025, 1, 31), D(2024, 12, 2)) == 10
    assert lot("SENSEX", D(2025, 1, 10), D(2025, 1, 6)) == 20


def test_no_lot_before_the_first_entry_is_an_error_naming_the_file():
    with pytest.raises(ValueError, match=r"indices\.json"):
        lot("NIFTY", D(2019, 6, 27))


def test_legacy_expiry_from_entries_still_key_by_expiry_alone():
    h = parse_lot_history("X", [{"expiry_from": "2000-01-01", "size": 25}, {"expiry_from": "2024-11-20", "size": 75}])
    assert h.size(D(2024, 11, 14)) == 25
    assert h.size(D(2024, 11, 21), D(2024, 1, 5)) == 75


def test_index_aliases_resolve_to_the_trading_symbol():
    assert canonical_symbol("NIFTY50") == "NIFTY"
    assert canonical_symbol("Nifty 50") == "NIFTY"
    assert canonical_symbol("NIFTY BANK") == "BANKNIFTY"
    assert canonical_symbol("nifty fin service") == "FINNIFTY"
    assert canonical_symbol("NIFTY MID SELECT") == "MIDCPNIFTY"
    assert canonical_symbol(" reliance ") == "RELIANCE"  # unknown: upper-cased for the caller
    assert get_index("NIFTY 50").symbol == "NIFTY"
