"""Hand-built weeks of session-aligned bars for driving ``weekly_zones`` by hand.

``prev_week(...)`` is one session (Thursday 2026-11-12, ISO week 46) whose hourly and 4h
bars give exactly the PWH, PWL, PWC and 4h-body extremes asked for; the week under test
starts Monday 2026-11-16 (week 47; NIFTY weekly expiry Tuesday 2026-11-17, lot 65).
With the defaults below: upper zone [25200, 25300], lower zone [24700, 24800], margins 300.
"""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from _dnss_support import at, chain

from optrunner.config import validate_config
from optrunner.core.events import BarEvent
from optrunner.core.timeutil import IST
from optrunner.data.seed_db import write_seed_db

PREV_DAY = date(2026, 11, 12)
MON, TUE, WED = date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18)
PWH, PWL, MAX_BODY, MIN_BODY = 25300.0, 24700.0, 25200.0, 24800.0
BULL_PWC, BEAR_PWC = 24850.0, 25150.0  # nearer the min body / the max body

WZ: dict[str, Any] = {
    "name": "T_WZ", "enabled": True, "strategy": "weekly_zones",
    "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY", "db_path": "chain.sqlite"},
    "weekly_zones": {"quantity": 1},
    "risk_management": {"max_concurrent_legs": 6},
}  # fmt: skip


def wz_config(tmp_path: Path, **section: Any):
    doc = copy.deepcopy(WZ)
    doc["weekly_zones"].update(section)
    tmp_path.mkdir(parents=True, exist_ok=True)
    write_seed_db(tmp_path / "chain.sqlite", chain(at(9, 15), 25000.0))
    cfg, issues = validate_config(doc, tmp_path)
    assert not issues, issues
    return cfg


def hour(d: date, n: int, o: float, h: float, lo: float, c: float) -> BarEvent:
    """The ``n``-th (0-based) hourly bar of session ``d``: 09:15 + n hours (the last ends 15:30)."""
    start = datetime(d.year, d.month, d.day, 9, 15, tzinfo=IST) + timedelta(hours=n)
    end = min(start + timedelta(hours=1), datetime(d.year, d.month, d.day, 15, 30, tzinfo=IST))
    return BarEvent("NIFTY", "1h", start, end, o, h, lo, c)


def four_hour(bars: list[BarEvent]) -> BarEvent:
    return BarEvent("NIFTY", "4h", bars[0].start, bars[-1].end, bars[0].open, max(b.high for b in bars),
                    min(b.low for b in bars), bars[-1].close)  # fmt: skip


def session(d: date, ohlc: list[tuple[float, float, float, float]]) -> list[BarEvent]:
    """A day's hourly bars in delivery order, with the 4h bars after their last hour
    (09:15-13:15 after the 4th hour, 13:15-15:30 after the 7th)."""
    hours = [hour(d, n, *v) for n, v in enumerate(ohlc)]
    out: list[BarEvent] = []
    for n, b in enumerate(hours):
        out.append(b)
        if n == 3:
            out.append(four_hour(hours[:4]))
        if n == 6:
            out.append(four_hour(hours[4:]))
    return out


def prev_week(pwc: float, pwh: float = PWH, pwl: float = PWL, max_body: float = MAX_BODY,
              min_body: float = MIN_BODY) -> list[BarEvent]:  # fmt: skip
    mid = (max_body + min_body) / 2
    return session(PREV_DAY, [
        (min_body, mid, pwl, mid), (mid, pwh, mid, mid), (mid, mid, mid, mid), (mid, max_body, mid, max_body),
        (pwc, pwc, pwc, pwc), (pwc, pwc, pwc, pwc), (pwc, pwc, pwc, pwc),
    ])  # fmt: skip


def feed(strategy, bars: list[BarEvent]) -> list:
    out = []
    for b in bars:
        out += list(strategy.on_bar(b))
    return out
