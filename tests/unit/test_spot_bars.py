"""The spot bars a session on a live feed records (live/spot_bars.py), and the dashboard's
``GET /api/bars`` and ``GET /spot/statistics`` answering from them when there is no catalog."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, datetime, time

import pytest
from fastapi.testclient import TestClient

from optrunner.api import create_app
from optrunner.backtest.engine import merged_snapshots
from optrunner.core.timeutil import IST, to_ist
from optrunner.data.bars import resample
from optrunner.data.schema import BAR_SCHEMA
from optrunner.live.commands import open_paper_session
from optrunner.live.service import TradingService
from optrunner.live.spot_bars import SpotBars
from service_cases import DAY, TOKEN, hourly_ohlc, make_case

AUTH = {"Authorization": f"Bearer {TOKEN}"}
D1, D2 = date(2026, 1, 6), date(2026, 1, 7)


def at(d: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime.combine(d, time(hh, mm, ss), IST)


def rows(table) -> list[tuple[str, float, float, float, float]]:
    """(IST HH:MM:SS of the minute's start, open, high, low, close) per bar."""
    ts = [t.astimezone(IST).strftime("%H:%M:%S") for t in table["ts"].to_pylist()]
    o, h, lo, c = (table[n].to_pylist() for n in ("open", "high", "low", "close"))
    return list(zip(ts, o, h, lo, c, strict=True))


def test_minute_ohlc_from_a_sequence_of_spots() -> None:
    sb = SpotBars()
    for ts, spot in [(at(D1, 9, 15, 0), 100.0), (at(D1, 9, 15, 20), 103.0), (at(D1, 9, 15, 40), 98.0),
                     (at(D1, 9, 15, 59), 101.0), (at(D1, 9, 16, 10), 102.0), (at(D1, 9, 18, 5), 99.5),
                     (at(D1, 9, 18, 30), 99.75)]:  # fmt: skip
        sb.record("NIFTY", ts, spot)
    got = sb.copy()
    assert got.day == D1 and got.symbols(D1) == ["NIFTY"] and got.symbols(D2) == []
    table = got.table("NIFTY", at(D1, 9, 18, 30))
    assert table.schema == BAR_SCHEMA  # the catalog's minute-bar layout
    assert rows(table) == [("09:15:00", 100.0, 103.0, 98.0, 101.0), ("09:16:00", 102.0, 102.0, 102.0, 102.0),
                           ("09:18:00", 99.5, 99.75, 99.5, 99.75)]  # fmt: skip  (no spot at 09:17: no bar)
    assert all(math.isnan(v) for v in table["volume"].to_pylist())
    hourly = resample(table, "1h")  # the API's path: one 09:15-10:15 bar
    assert [hourly[n][0].as_py() for n in ("open", "high", "low", "close")] == [100.0, 103.0, 98.0, 99.75]


def test_only_minutes_up_to_the_session_time_and_copies_are_the_readers_own() -> None:
    sb = SpotBars()
    for i in range(5):
        sb.record("NIFTY", at(D1, 9, 15 + i, 30), 100.0 + i)
    got = sb.copy()
    assert [r[0] for r in rows(got.table("NIFTY", at(D1, 9, 17, 0)))] == ["09:15:00", "09:16:00", "09:17:00"]
    assert rows(got.table("NIFTY", at(D1, 9, 14, 0))) == []
    sb.record("NIFTY", at(D1, 9, 19, 45), 150.0)  # the kernel goes on after the copy
    sb.record("NIFTY", at(D1, 9, 20, 0), 151.0)
    assert rows(got.table("NIFTY", at(D1, 10, 0)))[-1] == ("09:19:00", 104.0, 104.0, 104.0, 104.0)
    assert rows(sb.copy().table("NIFTY", at(D1, 10, 0)))[-2:] == [("09:19:00", 104.0, 150.0, 104.0, 150.0),
                                                                  ("09:20:00", 151.0, 151.0, 151.0, 151.0)]  # fmt: skip


def test_spots_outside_the_session_or_without_a_price_or_late_are_left_out() -> None:
    sb = SpotBars()
    sb.record("NIFTY", at(D1, 9, 14, 59), 90.0)  # pre-open
    sb.record("NIFTY", at(D1, 9, 15, 10), 100.0)
    sb.record("NIFTY", at(D1, 9, 15, 20), math.nan)  # a chain without an index price
    sb.record("NIFTY", at(D1, 9, 15, 30), 0.0)
    sb.record("NIFTY", at(D1, 15, 29, 59), 120.0)  # the session's last minute
    sb.record("NIFTY", at(D1, 9, 40), 80.0)  # late: would rewrite a closed bar
    sb.record("NIFTY", at(D1, 15, 30), 130.0)  # the close: opens no bar past the session
    sb.record("NIFTY", at(D1, 16, 5), 131.0)
    assert rows(sb.copy().table("NIFTY", at(D1, 23, 0))) == [("09:15:00", 100.0, 100.0, 100.0, 100.0),
                                                             ("15:29:00", 120.0, 120.0, 120.0, 120.0)]  # fmt: skip


def test_a_new_day_drops_the_previous_days_bars() -> None:
    sb = SpotBars()
    sb.record("NIFTY", at(D1, 10, 0), 100.0)
    sb.record("BANKNIFTY", at(D1, 10, 0), 500.0)
    assert sb.copy().symbols(D1) == ["BANKNIFTY", "NIFTY"]
    sb.record("NIFTY", at(D2, 9, 5), 101.0)  # the next day's pre-open: a new day, no bar yet
    got = sb.copy()
    assert got.day == D2 and got.symbols(D1) == [] and got.symbols(D2) == []
    sb.record("NIFTY", at(D2, 9, 15, 1), 102.0)
    sb.record("NIFTY", at(D1, 15, 0), 99.0)  # a late input of the day left behind
    got = sb.copy()
    assert got.symbols(D2) == ["NIFTY"]
    assert rows(got.table("NIFTY", at(D2, 12, 0))) == [("09:15:00", 102.0, 102.0, 102.0, 102.0)]


# --- the API on a session without a catalog ---------------------------------------------------------


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return make_case(tmp_path_factory.mktemp("spotbars"))


@pytest.fixture
def on_feed(case, tmp_path) -> Iterator[tuple[TradingService, TestClient, Iterator]]:
    """A service as ``serve --feed`` builds it (no catalog), its inputs driven by the test."""
    catalog, configs = case
    s = open_paper_session([configs], catalog, DAY.isoformat(), f"sqlite:///{tmp_path / 'store.sqlite'}")
    snaps = iter(merged_snapshots(s.catalog, s.symbols, s.day, s.day))
    service = TradingService(s.node, [], catalog=None)
    with TestClient(create_app(service, TOKEN, start_service=False)) as client:
        yield service, client, snaps
    service.stop()


def test_bars_and_spot_statistics_come_from_the_spots_on_a_feed(on_feed) -> None:
    service, client, snaps = on_feed
    assert client.get("/api/bars?timeframe=1h", headers=AUTH).json()["bars"] == []  # before the first input
    seen = []
    for snap in snaps:  # until 10:40 IST
        service.node.process(snap)
        seen.append((snap.ts, snap.spot))
        if to_ist(snap.ts).time() >= time(10, 40):
            break
    b = client.get("/api/bars?timeframe=1h", headers=AUTH).json()
    assert b["symbol"] == "NIFTY" and datetime.fromisoformat(b["session_time"]) == seen[-1][0]
    got = [(x["open"], x["high"], x["low"], x["close"]) for x in b["bars"]]
    assert got == hourly_ohlc(seen) and len(got) == 2
    assert [x["closed"] for x in b["bars"]] == [True, False]  # 09:15-10:15 closed, 10:15 building
    assert b["bars"][-1]["close"] == seen[-1][1]  # the bar in progress ends at the latest spot
    assert client.get("/api/bars?symbol=nifty&timeframe=15m", headers=AUTH).json()["bars"][-1]["close"] == seen[-1][1]
    assert client.get("/api/bars?symbol=BANKNIFTY", headers=AUTH).status_code == 404
    st = client.get("/spot/statistics", headers=AUTH).json()
    assert st["symbol"] == "NIFTY" and st["spot"] == seen[-1][1] and st["bars_today"] == b["bars"]
    assert st["bars_closed_today"] == 1 and st["current_bar"] == b["bars"][-1]
    assert st["last_closed_bar"] == b["bars"][0]
