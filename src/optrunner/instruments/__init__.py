"""Index and option contracts, their effective-dated specifications, the trading calendar and symbology."""

from optrunner.instruments.calendar import TradingCalendar, calendar_for, time_to_expiry
from optrunner.instruments.contracts import OptionContract, format_strike
from optrunner.instruments.specs import (
    IndexSpec,
    canonical_symbol,
    get_index,
    known_indices,
    load_indices,
)

__all__ = [
    "IndexSpec",
    "OptionContract",
    "TradingCalendar",
    "calendar_for",
    "canonical_symbol",
    "format_strike",
    "get_index",
    "known_indices",
    "load_indices",
    "time_to_expiry",
]
