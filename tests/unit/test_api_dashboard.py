"""The dashboard's server side: the page and its assets (offline: nothing from a CDN), the
spot bars its chart draws (``GET /api/bars``), and the lists it polls answering before the
strategy's first fill."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient

from optrunner.api import create_app
from optrunner.api.dashboard import STATIC
from optrunner.backtest.engine import merged_snapshots
from optrunner.core.timeutil import to_ist
from optrunner.live.commands import open_paper_session
from optrunner.live.service import TradingService
from service_cases import DAY, STRATEGY, TOKEN, make_case

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return make_case(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture
def served(case, tmp_path) -> Iterator[tuple[TradingService, TestClient, Iterator]]:
    catalog, configs = case
    s = open_paper_session([configs], catalog, DAY.isoformat(), f"sqlite:///{tmp_path / 'store.sqlite'}")
    snaps = iter(merged_snapshots(s.catalog, s.symbols, s.day, s.day))
    service = TradingService(s.node, [], quality=s.catalog.quality, catalog=s.catalog)
    with TestClient(create_app(service, TOKEN, start_service=False)) as client:
        yield service, client, snaps
    service.stop()


def test_the_page_and_its_assets_are_served_without_a_cdn(served) -> None:
    _, client, _ = served
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert 'id="estop"' in html and "Emergency" in html.replace("EMERGENCY", "Emergency")
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(r.startswith("/static/") or r.startswith("data:") for r in refs), refs
    for ref in refs:
        if ref.startswith("/static/"):
            assert client.get(ref).status_code == 200, ref
    for asset in ("index.html", "dashboard.js", "dashboard-chart.js", "dashboard.css"):  # ours load nothing from elsewhere
        assert not re.search(r"https?://|//cdn|@import", (STATIC / asset).read_text()), asset
    assert "Apache License" in (STATIC / "vendor" / "LICENSE-lightweight-charts").read_text()
    assert "/openapi.json" in client.get("/docs").text  # the page does not shadow the API's docs


def test_bars_need_the_token_and_are_empty_before_the_first_input(served) -> None:
    _, client, _ = served
    assert client.get("/api/bars").status_code == 401
    r = client.get("/api/bars?timeframe=1h", headers=AUTH)
    assert r.status_code == 200 and r.json() == {"symbol": "", "timeframe": "1h", "session_time": None, "bars": []}


def test_hourly_bars_follow_the_session_time(served) -> None:
    service, client, snaps = served
    for snap in snaps:  # replay until 11:00 IST
        service.node.process(snap)
        if to_ist(service.kernel.clock.now()).time() >= time(11, 0):
            break
    b = client.get("/api/bars?timeframe=1h", headers=AUTH).json()
    assert b["symbol"] == "NIFTY" and b["timeframe"] == "1h"
    now = datetime.fromisoformat(b["session_time"])
    starts = [datetime.fromisoformat(x["ts"]) for x in b["bars"]]
    assert len(starts) == 2 and all(s < now for s in starts)  # 09:15 closed, 10:15 being built
    assert [x["closed"] for x in b["bars"]] == [True, False]
    assert starts[1] - starts[0] == timedelta(hours=1)
    assert all(x["low"] <= min(x["open"], x["close"]) <= max(x["open"], x["close"]) <= x["high"] for x in b["bars"])
    assert len(client.get("/api/bars?timeframe=15m", headers=AUTH).json()["bars"]) > 2
    for bad in ("1x", "0h", "1w", "abcdef"):
        r = client.get(f"/api/bars?timeframe={bad}", headers=AUTH)
        assert r.status_code == 422 and r.json()["detail"].startswith("invalid request"), bad
    r = client.get("/api/bars?symbol=BANKNIFTY", headers=AUTH)
    assert r.status_code == 404 and "BANKNIFTY" not in r.text


def test_lists_the_page_polls_answer_before_the_first_fill(served) -> None:
    service, client, snaps = served
    service.node.process(next(snaps))  # a session time, no order yet
    perf = client.get("/performance/stats", headers=AUTH)
    assert perf.status_code == 200 and perf.json()["strategies"][0]["net"] == 0.0
    listed = client.get("/api/strategies", headers=AUTH)
    assert listed.status_code == 200 and listed.json()[0]["name"] == STRATEGY and listed.json()[0]["open_legs"] == 0
