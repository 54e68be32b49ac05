"""Broker trading symbols <-> the canonical :class:`OptionContract`.

Every broker spells the same contract differently, and the old platform guessed the option
type by testing whether "CE" appeared in a symbol — so Shoonya's ``NIFTY13JAN26C25950`` (a
call) was booked as a put. Here each format is one regular expression with named groups,
anchored at both ends; the option type is read from its own group, never from a substring.

Formats (``UND`` is any index of :func:`known_indices`, longest name tried first so
``BANKNIFTY``/``MIDCPNIFTY``/``FINNIFTY`` never parse as ``NIFTY``):

============== =============================== ==========================================
broker         example                         grammar
============== =============================== ==========================================
nse / kite     ``NIFTY26JAN25000CE``           UND YY MON STRIKE CE|PE  (monthly contract)
nse / kite     ``NIFTY2611325000CE``           UND YY M DD STRIKE CE|PE (M = 1-9, O, N, D)
shoonya        ``NIFTY13JAN26C25950``          UND DD MON YY C|P STRIKE
dhan           ``NIFTY-Jan2026-25000-CE``      UND-[DD]MonYYYY-STRIKE-CE|PE (trading symbol)
dhan_custom    ``NIFTY 13 JAN 25000 CALL``     UND DD MON STRIKE CALL|PUT   (custom symbol)
============== =============================== ==========================================

Ambiguities, resolved explicitly rather than guessed:

* Kite's monthly form and Dhan's trading symbol name a *month*, not a day. They resolve to
  the calendar's monthly expiry (:meth:`TradingCalendar.monthly_expiry`) unless ``expiry=``
  gives the exact date, which must lie in that month. Dhan uses the month-level symbol for
  weekly contracts too, so a weekly Dhan trading symbol needs ``expiry=`` to round-trip.
* Dhan's custom symbol has no year. It resolves to the first such day on or after
  ``as_of`` (so ``13 JAN`` seen on 2026-01-14 means 2027-01-13); without ``as_of`` or
  ``expiry`` it is rejected.
* Symbols that carry a full date are not checked against the expiry calendar (old data,
  special expiries); a symbol naming an impossible date (``30FEB``) is rejected.

Strikes may be fractional (``24987.5``) in every format; leading zeros are rejected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Literal

from optrunner.core.timeutil import to_ist
from optrunner.core.types import Right
from optrunner.instruments.calendar import calendar_for
from optrunner.instruments.contracts import OptionContract, format_strike
from optrunner.instruments.specs import canonical_symbol, known_indices

Broker = Literal["auto", "nse", "kite", "shoonya", "dhan", "dhan_custom"]

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKLY_MONTH_CODES = "123456789OND"  # NSE's one-character month in weekly symbols
_MON = "|".join(MONTHS)
_STRIKE = r"[1-9]\d*(?:\.\d+)?"
_RIGHT_WORDS = {
    "CE": Right.CE,
    "PE": Right.PE,
    "C": Right.CE,
    "P": Right.PE,
    "CALL": Right.CE,
    "PUT": Right.PE,
}


class SymbolError(ValueError):
    """A trading symbol that does not parse, or names a contract that cannot exist."""


@dataclass(frozen=True, slots=True)
class _Grammar:
    """One symbol format: its anchored pattern (with ``{U}`` for the underlying) and resolver."""

    name: str
    example: str
    pattern: str
    resolve: Callable[[re.Match[str], date | None, date | None], date]

    @property
    def regex(self) -> re.Pattern[str]:
        return _compiled(self.pattern)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    # Longest names first: regex alternation takes the first branch that lets the rest match.
    names = sorted(known_indices(), key=lambda s: (-len(s), s))
    und = "|".join(re.escape(n) for n in names)
    return re.compile("^" + pattern.replace("{U}", f"(?P<und>{und})") + "$")


# --- expiry resolvers: (match, as_of, expiry) -> expiry date -------------------------------


def _exact(year: int, month: int, day: int, expiry: date | None) -> date:
    try:
        d = date(year, month, day)
    except ValueError:
        raise SymbolError(f"{day:02d}-{MONTHS[month - 1]}-{year} is not a calendar date") from None
    if expiry is not None and expiry != d:
        raise SymbolError(f"the symbol names expiry {d}, but expiry={expiry} was given")
    return d


def _month_level(und: str, year: int, month: int, expiry: date | None) -> date:
    if expiry is None:
        return calendar_for(und).monthly_expiry(und, year, month)
    if (expiry.year, expiry.month) != (year, month):
        raise SymbolError(
            f"expiry={expiry} is not in the symbol's month {MONTHS[month - 1]} {year}"
        )
    return expiry


def _kite_monthly(m: re.Match[str], as_of: date | None, expiry: date | None) -> date:
    return _month_level(m["und"], 2000 + int(m["yy"]), MONTHS.index(m["mon"]) + 1, expiry)


def _kite_weekly(m: re.Match[str], as_of: date | None, expiry: date | None) -> date:
    month = WEEKLY_MONTH_CODES.index(m["m"]) + 1
    return _exact(2000 + int(m["yy"]), month, int(m["dd"]), expiry)


def _shoonya(m: re.Match[str], as_of: date | None, expiry: date | None) -> date:
    return _exact(2000 + int(m["yy"]), MONTHS.index(m["mon"]) + 1, int(m["dd"]), expiry)


def _dhan_trading(m: re.Match[str], as_of: date | None, expiry: date | None) -> date:
    year, month = int(m["yyyy"]), MONTHS.index(m["mon"]) + 1
    if m["dd"]:
        return _exact(year, month, int(m["dd"]), expiry)
    return _month_level(m["und"], year, month, expiry)


def _dhan_custom(m: re.Match[str], as_of: date | None, expiry: date | None) -> date:
    month, day = MONTHS.index(m["mon"]) + 1, int(m["dd"])
    if expiry is not None:
        return _exact(expiry.year, month, day, expiry)
    if as_of is None:
        raise SymbolError(
            "the symbol has no year: pass as_of= (a date on or before expiry) or expiry="
        )
    for year in range(as_of.year, as_of.year + 9):  # 9 years always include a 29 FEB
        try:
            d = date(year, month, day)
        except ValueError:
            continue
        if d >= as_of:
            return d
    raise SymbolError(f"{day:02d} {m['mon']} is not a calendar date")


_KITE_MONTHLY = _Grammar(
    "kite-monthly", "NIFTY26JAN25000CE",
    rf"{{U}}(?P<yy>\d{{2}})(?P<mon>{_MON})(?P<strike>{_STRIKE})(?P<right>CE|PE)", _kite_monthly,
)  # fmt: skip
_KITE_WEEKLY = _Grammar(
    "kite-weekly", "NIFTY2611325000CE",
    rf"{{U}}(?P<yy>\d{{2}})(?P<m>[1-9OND])(?P<dd>\d{{2}})(?P<strike>{_STRIKE})(?P<right>CE|PE)", _kite_weekly,
)  # fmt: skip
_SHOONYA = _Grammar(
    "shoonya", "NIFTY13JAN26C25950",
    rf"{{U}}(?P<dd>\d{{2}})(?P<mon>{_MON})(?P<yy>\d{{2}})(?P<right>C|P)(?P<strike>{_STRIKE})", _shoonya,
)  # fmt: skip
_DHAN_TRADING = _Grammar(
    "dhan-trading", "NIFTY-Jan2026-25000-CE",
    rf"{{U}}-(?P<dd>\d{{2}})?(?P<mon>{_MON})(?P<yyyy>\d{{4}})-(?P<strike>{_STRIKE})-(?P<right>CE|PE)", _dhan_trading,
)  # fmt: skip
_DHAN_CUSTOM = _Grammar(
    "dhan-custom", "NIFTY 13 JAN 25000 CALL",
    rf"{{U}}\s+(?P<dd>\d{{1,2}})\s+(?P<mon>{_MON})\s+(?P<strike>{_STRIKE})\s+(?P<right>CALL|PUT)", _dhan_custom,
)  # fmt: skip

_GRAMMARS: dict[str, tuple[_Grammar, ...]] = {
    "nse": (_KITE_MONTHLY, _KITE_WEEKLY),
    "kite": (_KITE_MONTHLY, _KITE_WEEKLY),
    "shoonya": (_SHOONYA,),
    "dhan": (_DHAN_TRADING, _DHAN_CUSTOM),
    "dhan_custom": (_DHAN_CUSTOM,),
    "auto": (_KITE_MONTHLY, _KITE_WEEKLY, _SHOONYA, _DHAN_TRADING, _DHAN_CUSTOM),
}


def _as_date(value: date | datetime | None) -> date | None:
    if isinstance(value, datetime):
        return to_ist(value).date()
    return value


def parse_symbol(
    text: str,
    broker: Broker = "auto",
    *,
    as_of: date | datetime | None = None,
    expiry: date | datetime | None = None,
) -> OptionContract:
    """The contract a broker trading symbol names.

    ``broker="auto"`` tries every format; the formats cannot match the same text, so the
    first match is the only one. ``as_of`` dates Dhan's year-less custom symbol; ``expiry``
    pins the exact date of a month-level symbol and must agree with a symbol's own date.
    Raises :class:`SymbolError` naming every format tried and why each failed.
    """
    key = broker.lower()
    if key not in _GRAMMARS:
        raise ValueError(f"unknown broker {broker!r}; expected one of {', '.join(_GRAMMARS)}")
    if not isinstance(text, str):
        raise SymbolError(f"a trading symbol must be a string, got {type(text).__name__}")
    norm = text.strip().upper()
    as_of_d, expiry_d = _as_date(as_of), _as_date(expiry)
    reasons: list[str] = []
    for g in _GRAMMARS[key]:
        m = g.regex.match(norm)
        if m is None:
            reasons.append(f"{g.name} (like {g.example}): no match")
            continue
        try:
            exp = g.resolve(m, as_of_d, expiry_d)
        except SymbolError as exc:
            raise SymbolError(f"{text!r} looks like a {g.name} symbol but {exc}") from None
        return OptionContract(m["und"], exp, float(m["strike"]), _RIGHT_WORDS[m["right"]])
    hint = ""
    if not any(norm.startswith(u) for u in known_indices()):
        hint = f"; it does not start with a known index ({', '.join(known_indices())})"
    raise SymbolError(
        f"cannot parse {text!r} as an option symbol ({key}) — tried " + "; ".join(reasons) + hint
    )


def format_symbol(contract: OptionContract, broker: Broker) -> str:
    """The trading symbol of ``contract`` in ``broker``'s format (``auto`` is not a format).

    Kite/NSE use the monthly form exactly when the contract expires on its month's monthly
    expiry; Dhan's trading symbol is month-level (see the module notes on round-tripping).
    """
    c = contract
    und, e, k = c.underlying, c.expiry, format_strike(c.strike)
    key = broker.lower()
    if key in ("nse", "kite"):
        if not 2000 <= e.year <= 2099:
            raise SymbolError(f"{c.id}: Kite symbols carry a two-digit year (2000-2099)")
        if e == calendar_for(und).monthly_expiry(und, e.year, e.month):
            return f"{und}{e:%y}{MONTHS[e.month - 1]}{k}{c.right.value}"
        return f"{und}{e:%y}{WEEKLY_MONTH_CODES[e.month - 1]}{e:%d}{k}{c.right.value}"
    if key == "shoonya":
        return f"{und}{e:%d}{MONTHS[e.month - 1]}{e:%y}{c.right.value[0]}{k}"
    if key == "dhan":
        return f"{und}-{MONTHS[e.month - 1].title()}{e.year:04d}-{k}-{c.right.value}"
    if key == "dhan_custom":
        return f"{und} {e:%d} {MONTHS[e.month - 1]} {k} {'CALL' if c.is_call else 'PUT'}"
    raise ValueError(
        f"unknown broker {broker!r} for formatting; expected nse, kite, shoonya, dhan or dhan_custom"
    )


__all__ = [
    "MONTHS", "WEEKLY_MONTH_CODES", "Broker", "SymbolError", "canonical_symbol", "format_symbol", "parse_symbol",
]
