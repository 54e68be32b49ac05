"""Positions, P&L, charges and portfolio greeks, shared by backtest, paper and live."""

from optrunner.portfolio.book import PnLSummary, Portfolio
from optrunner.portfolio.charges import ChargeSchedule, DatedRate
from optrunner.portfolio.positions import Greeks, Position, add_charges

__all__ = [
    "ChargeSchedule",
    "DatedRate",
    "Greeks",
    "PnLSummary",
    "Portfolio",
    "Position",
    "add_charges",
]
