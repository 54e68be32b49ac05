"""The canonical option contract and its id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from optrunner.core.types import Right


def format_strike(strike: float) -> str:
    """25000.0 -> "25000", 24987.5 -> "24987.5": strikes are printed without float noise."""
    if float(strike).is_integer():
        return str(int(strike))
    return f"{strike:.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True, slots=True, order=True)
class OptionContract:
    """One listed index option. Its canonical id is ``NIFTY:20260113:25000:CE``.

    Every broker symbol is parsed into this and formatted from it, so the option type is
    always the parsed one — never a guess from whether "CE" appears in some string.
    """

    underlying: str
    expiry: date
    strike: float
    right: Right

    def __post_init__(self) -> None:
        if not isinstance(self.right, Right):
            object.__setattr__(self, "right", Right(self.right))
        object.__setattr__(self, "strike", float(self.strike))
        if isinstance(self.expiry, datetime):
            object.__setattr__(self, "expiry", self.expiry.date())

    @property
    def is_call(self) -> bool:
        return self.right is Right.CE

    @property
    def id(self) -> str:
        return f"{self.underlying}:{self.expiry:%Y%m%d}:{format_strike(self.strike)}:{self.right.value}"

    @classmethod
    def from_id(cls, text: str) -> OptionContract:
        try:
            und, exp, strike, right = text.split(":")
            return cls(und, datetime.strptime(exp, "%Y%m%d").date(), float(strike), Right(right))
        except (ValueError, KeyError) as exc:
            raise ValueError(
                f"{text!r} is not a canonical option id (UNDERLYING:YYYYMMDD:STRIKE:CE|PE)"
            ) from exc

    def __str__(self) -> str:
        return f"{self.underlying} {self.expiry:%d%b%y}".upper() + f" {format_strike(self.strike)} {self.right.value}"
