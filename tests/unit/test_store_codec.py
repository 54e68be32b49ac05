"""The SQLite time text against an independent reference (strftime of the UTC instant)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from optrunner.core.timeutil import IST
from optrunner.store.codec import postgres_time, sqlite_time


def reference(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


EDGES = [
    datetime(2026, 1, 1, 0, 0, tzinfo=IST),  # IST new year is still 2025 in UTC
    datetime(2026, 1, 1, 5, 29, 59, 999_999, tzinfo=IST),
    datetime(2026, 1, 1, 5, 30, tzinfo=IST),
    datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 1, 13, 15, 30, 0, 0, tzinfo=IST),  # microsecond 0 still written out
    datetime(2026, 3, 8, 2, 30, tzinfo=ZoneInfo("America/New_York")),  # DST gap, slow path
    datetime(2026, 1, 13, 9, 15, tzinfo=ZoneInfo("Asia/Kolkata")),  # not the fixed IST object
]


@pytest.mark.parametrize("ts", EDGES, ids=str)
def test_sqlite_time_is_the_utc_instant(ts):
    assert sqlite_time(ts, "ts") == reference(ts)


def test_sqlite_time_over_random_instants_in_both_clock_zones():
    rng = random.Random(7)
    start = datetime(2025, 12, 31, tzinfo=UTC)
    for _ in range(20_000):
        ts = start + timedelta(microseconds=rng.randrange(400 * 86_400 * 10**6))
        for zone in (UTC, IST):
            local = ts.astimezone(zone)
            assert sqlite_time(local, "ts") == reference(local)


def test_the_same_wall_clock_in_two_zones_is_two_instants():
    wall = datetime(2026, 1, 13, 9, 15, 1)
    assert sqlite_time(wall.replace(tzinfo=UTC), "ts") == "2026-01-13 09:15:01.000000"
    assert sqlite_time(wall.replace(tzinfo=IST), "ts") == "2026-01-13 03:45:01.000000"


@pytest.mark.parametrize("encode", [sqlite_time, postgres_time])
def test_naive_or_non_datetime_times_are_refused(encode):
    with pytest.raises(ValueError, match="created_ts: naive"):
        encode(datetime(2026, 1, 13, 9, 15), "created_ts")
    with pytest.raises(TypeError, match="ts: expected a datetime"):
        encode("2026-01-13T09:15:00+05:30", "ts")
