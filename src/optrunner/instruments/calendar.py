"""Trading calendar: holidays, sessions, expiry dates and time to expiry.

An expiry that falls on a trading holiday moves to the previous trading day (NSE's rule).
Holidays come from ``data/holidays.json``; set ``OPTRUNNER_HOLIDAYS`` to use your own file.
"""

from __future__ import annotations

import calendar as _cal
import json
import os
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path

from optrunner.core.timeutil import IST, SESSION_CLOSE, SESSION_OPEN, ist, to_ist
from optrunner.instruments.specs import IndexSpec, get_index

MINUTES_PER_YEAR = 365 * 1440


class TradingCalendar:
    """Trading days of one exchange calendar (weekdays minus published holidays)."""

    def __init__(self, name: str, holidays: set[date]) -> None:
        self.name = name
        self.holidays = frozenset(holidays)

    def is_trading_day(self, d: date) -> bool:
        return d.weekday() < 5 and d not in self.holidays

    def next_trading_day(self, d: date) -> date:
        """The first trading day strictly after ``d``."""
        d += timedelta(days=1)
        while not self.is_trading_day(d):
            d += timedelta(days=1)
        return d

    def previous_trading_day(self, d: date) -> date:
        """The last trading day strictly before ``d``."""
        d -= timedelta(days=1)
        while not self.is_trading_day(d):
            d -= timedelta(days=1)
        return d

    def trading_days(self, start: date, end: date) -> list[date]:
        """Trading days in ``[start, end]``."""
        out, d = [], start
        while d <= end:
            if self.is_trading_day(d):
                out.append(d)
            d += timedelta(days=1)
        return out

    def session(self, d: date) -> tuple[datetime, datetime]:
        """Open and close instants (IST) of trading day ``d``; options have no pre-open."""
        return ist(d, SESSION_OPEN), ist(d, SESSION_CLOSE)

    def is_open(self, ts: datetime) -> bool:
        t = to_ist(ts)
        return self.is_trading_day(t.date()) and SESSION_OPEN <= t.time() < SESSION_CLOSE

    def adjust_expiry(self, nominal: date) -> date:
        """A nominal expiry on a holiday (or weekend) moves to the previous trading day."""
        return nominal if self.is_trading_day(nominal) else self.previous_trading_day(nominal)

    # --- expiries -------------------------------------------------------------------------

    def monthly_expiry(self, spec: IndexSpec | str, year: int, month: int) -> date:
        """The monthly contract's expiry: the last expiry weekday of the month, holiday-adjusted."""
        spec = get_index(spec) if isinstance(spec, str) else spec
        rule = spec.expiry_rule(date(year, month, 1))
        last = date(year, month, _cal.monthrange(year, month)[1])
        last -= timedelta(days=(last.weekday() - rule.monthly) % 7)
        return self.adjust_expiry(last)

    def weekly_expiries(self, spec: IndexSpec | str, start: date, end: date) -> list[date]:
        """Weekly expiries in ``[start, end]`` (empty for indices without weeklies)."""
        spec = get_index(spec) if isinstance(spec, str) else spec
        out: list[date] = []
        monday = start - timedelta(days=start.weekday())
        while monday <= end:
            rule = spec.expiry_rule(monday)
            if rule.weekly is not None:
                d = self.adjust_expiry(monday + timedelta(days=rule.weekly))
                if start <= d <= end:
                    out.append(d)
            monday += timedelta(days=7)
        return out

    def expiries(self, spec: IndexSpec | str, start: date, end: date) -> list[date]:
        """Every listed expiry (weeklies and monthlies) in ``[start, end]``, sorted."""
        spec = get_index(spec) if isinstance(spec, str) else spec
        return sorted(set(self.weekly_expiries(spec, start, end)) | set(self.monthly_expiries(spec, start, end)))

    def monthly_expiries(self, spec: IndexSpec | str, start: date, end: date) -> list[date]:
        spec = get_index(spec) if isinstance(spec, str) else spec
        out = []
        y, m = start.year, start.month
        while date(y, m, 1) <= end:
            d = self.monthly_expiry(spec, y, m)
            if start <= d <= end:
                out.append(d)
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    def next_expiry(self, spec: IndexSpec | str, on: date, *, include_today: bool = True) -> date:
        """The nearest listed expiry on or after ``on`` (strictly after when not include_today)."""
        first = on if include_today else on + timedelta(days=1)
        for horizon in (14, 45, 120):
            found = self.expiries(spec, first, first + timedelta(days=horizon))
            if found:
                return found[0]
        raise ValueError(f"no expiry found for {spec} after {on}")

    def iter_days(self, start: date, end: date) -> Iterator[date]:
        yield from self.trading_days(start, end)

    def trading_days_between(self, start: date, end: date) -> int:
        """Trading days in ``(start, end]`` — used for business-day time conventions."""
        return len(self.trading_days(start + timedelta(days=1), end))


def time_to_expiry(ts: datetime, expiry: date) -> float:
    """Years from ``ts`` to 15:30 IST on ``expiry``: minutes / (365 x 1440), floored at 0."""
    end = datetime.combine(expiry, SESSION_CLOSE, IST)
    minutes = (end - to_ist(ts)).total_seconds() / 60.0
    return max(minutes, 0.0) / MINUTES_PER_YEAR


def _load_holidays() -> dict[str, list[str] | str]:
    override = os.environ.get("OPTRUNNER_HOLIDAYS")
    if override:
        return json.loads(Path(override).read_text())
    text = resources.files("optrunner.instruments").joinpath("data/holidays.json").read_text()
    return json.loads(text)


@cache
def calendar_for(name: str = "NSE") -> TradingCalendar:
    """The calendar named ``name`` (``NSE`` or ``BSE``), or the one an index trades on."""
    raw = _load_holidays()
    key = name.upper()
    if key not in raw:
        try:
            key = get_index(key).calendar
        except KeyError:
            raise KeyError(f"unknown calendar {name!r}; known: NSE, BSE or an index symbol") from None
    entry = raw[key]
    while isinstance(entry, str):  # an alias such as "BSE": "NSE"
        entry = raw[entry]
    return TradingCalendar(key, {date.fromisoformat(d) for d in entry})


def holidays_years(cal: TradingCalendar) -> list[int]:
    """Years the holiday file covers; outside them the calendar knows weekends only."""
    return sorted({d.year for d in cal.holidays})


__all__ = ["MINUTES_PER_YEAR", "TradingCalendar", "calendar_for", "holidays_years", "time_to_expiry"]

