"""`optrunner serve --feed ws://...` charts the index from the feed: a feed server replays the
first 85 minutes of a synthetic day, and the service (no catalog) answers `/api/bars` and
`/spot/statistics` with the hourly bars of exactly the spots the feed sent."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Any

import httpx
import pytest
from feed_serve import free_port, serve_on_feed

from optrunner.core.timeutil import to_ist
from optrunner.data.catalog import Catalog
from optrunner.live.feed_server import FeedServer
from service_cases import DAY, hourly_ohlc, make_case

pytestmark = pytest.mark.slow


def test_serve_on_a_feed_charts_the_spots_the_feed_sent(tmp_path: Path) -> None:
    catalog, configs = make_case(tmp_path)
    sent = [s for s in Catalog(catalog).snapshots("NIFTY", DAY, DAY) if to_ist(s.ts).time() <= time(10, 40)]
    spots = [(s.ts, s.spot) for s in sent]
    expected = hourly_ohlc(spots)
    assert len(expected) == 2  # 09:15-10:15 closed, 10:15-11:15 in progress
    server = FeedServer(sent, speed=3000)  # 50 market minutes a second, from the subscription on
    server.start()
    port = free_port()
    feed = server.url

    def running(health: dict[str, Any]) -> None:
        auth = {"Authorization": f"Bearer {feed}-feed-api-token-1"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=10) as http:
            b = http.get("/api/bars", params={"timeframe": "1h"}).json()
            st = http.get("/spot/statistics").json()
        assert b["symbol"] == "NIFTY" and b["bars"], b
        assert datetime.fromisoformat(b["session_time"]) == spots[-1][0]
        got = [(x["open"], x["high"], x["low"], x["close"]) for x in b["bars"]]
        assert all(h >= max(o, c) and min(o, c) >= lo for o, h, lo, c in got), got
        assert got == expected
        assert got[-1][3] == spots[-1][1]  # the bar in progress closes at the last spot sent
        assert [x["closed"] for x in b["bars"]] == [True, False]
        assert st["symbol"] == "NIFTY" and st["spot"] == spots[-1][1] and st["bars_today"] == b["bars"]
        assert st["bars_closed_today"] == 1 and st["current_bar"] == b["bars"][-1]

    try:
        serve_on_feed(tmp_path, feed, configs, {}, inputs=len(sent), while_running=running, port=port)
    finally:
        server.stop()
    assert server.snapshots_sent == len(sent)
