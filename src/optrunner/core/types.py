"""Small vocabularies shared by every layer."""

from __future__ import annotations

from enum import StrEnum


class Right(StrEnum):
    """Option type. Always taken from a parsed symbol or a chain row, never guessed from text."""

    CE = "CE"
    PE = "PE"

    @property
    def is_call(self) -> bool:
        return self is Right.CE


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: the change in signed position per unit."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"  # stop-limit
    SL_M = "SL-M"  # stop-market


class Product(StrEnum):
    NRML = "NRML"
    MIS = "MIS"
    CNC = "CNC"


class Tag(StrEnum):
    """Why an order exists. Reported everywhere; risk decides exits by position, not by tag."""

    ENTRY = "ENTRY"
    EXIT = "EXIT"
    ADJUST_EXIT = "ADJUST_EXIT"
    ADJUST_ENTRY = "ADJUST_ENTRY"
    HEDGE = "HEDGE"
    UNWIND = "UNWIND"

    @property
    def is_exit(self) -> bool:
        return self in (Tag.EXIT, Tag.ADJUST_EXIT, Tag.UNWIND)


class LegRole(StrEnum):
    """Order of legs inside a basket: hedges first on entry, mains first on exit."""

    HEDGE = "HEDGE"
    MAIN = "MAIN"


class OrderState(StrEnum):
    NEW = "NEW"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({OrderState.FILLED, OrderState.REJECTED, OrderState.CANCELLED, OrderState.EXPIRED})


class Mode(StrEnum):
    BACKTEST = "backtest"
    PAPER = "paper"
    LIVE = "live"
