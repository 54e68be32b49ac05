"""Exchange time. Stored as UTC, reasoned about and displayed in IST (Asia/Kolkata, UTC+05:30)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone

# India has had no daylight saving since 1945, so a fixed offset is exact and much
# cheaper than a zoneinfo lookup on the per-snapshot hot path.
IST = timezone(timedelta(hours=5, minutes=30), "IST")

SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(text: str) -> time:
    """Parse a strict 24-hour "HH:MM" (two digits each); raise ValueError saying how to fix it."""
    m = _HHMM.match(text) if isinstance(text, str) else None
    if not m:
        hint = ""
        if isinstance(text, str) and re.match(r"^\d:\d\d$", text):
            hint = f' — write "0{text}"'
        raise ValueError(f'"{text}" is not HH:MM{hint}')
    return time(int(m.group(1)), int(m.group(2)))


def to_ist(ts: datetime) -> datetime:
    """Any aware datetime in IST; a naive one is taken to be UTC (how the store keeps times)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(IST)


def to_utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r}: attach a timezone before storing it")
    return ts.astimezone(UTC)


def ist(d: date, t: time) -> datetime:
    """The IST instant of a trading date and a wall-clock time."""
    return datetime.combine(d, t, IST)


def from_epoch_ns(ns: int) -> datetime:
    """An IST datetime from integer nanoseconds since the epoch (the catalog's time column)."""
    return datetime.fromtimestamp(ns / 1e9, IST)


def to_epoch_ns(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r}: attach a timezone")
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
