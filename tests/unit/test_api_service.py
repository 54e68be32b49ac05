"""The service's API over a real paper session (kernel, paper broker, SQLite store), driven
input by input from the test, through FastAPI's TestClient: auth, every endpoint, the
emergency stop, metrics and the WebSocket."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from optrunner.api import create_app
from optrunner.api.auth import RedactTokens, load_token
from optrunner.api.hub import Client
from optrunner.backtest.engine import merged_snapshots
from optrunner.core.errors import UserError
from optrunner.live.commands import open_paper_session
from optrunner.live.service import TradingService
from service_cases import DAY, STRATEGY, TOKEN, Frames, make_case

AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROTECTED = [
    ("POST", "/api/trading/disable"), ("POST", "/api/trading/enable"),
    ("GET", "/integrated/trading/status"), ("GET", "/integrated/trading/positions"),
    ("POST", "/integrated/trading/stop"), ("GET", "/performance/stats"), ("GET", "/api/strategies"),
    ("POST", f"/api/strategies/{STRATEGY}/disable"), ("POST", f"/api/strategies/{STRATEGY}/enable"),
    ("GET", "/api/orders"), ("GET", "/api/fills"), ("GET", "/api/alerts"),
]  # fmt: skip


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> tuple[Path, Path]:
    return make_case(tmp_path_factory.mktemp("service"))


class Session:
    """A service whose replay the test drives (``step``) instead of a thread."""

    def __init__(self, case: tuple[Path, Path], tmp: Path) -> None:
        catalog, configs = case
        s = open_paper_session([configs], catalog, DAY.isoformat(), f"sqlite:///{tmp / 'store.sqlite'}")
        self.snaps = iter(merged_snapshots(s.catalog, s.symbols, s.day, s.day))
        self.service = TradingService(s.node, [], quality=s.catalog.quality)
        self.app = create_app(self.service, TOKEN, start_service=False, positions_every=0.05)

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.service.node.process(next(self.snaps))
            self.service.last_input_wall = 0.0

    def until_open(self, limit: int = 60) -> None:
        for _ in range(limit):
            self.step()
            if self.service.kernel.portfolio.positions():
                return
        raise AssertionError("the strategy never opened a position")


@pytest.fixture
def session(case, tmp_path) -> Iterator[tuple[Session, TestClient]]:
    s = Session(case, tmp_path)
    with TestClient(s.app) as client:
        yield s, client
    s.service.stop()


def test_every_protected_endpoint_needs_the_token(session) -> None:
    _, client = session
    for method, path in PROTECTED:
        for headers in ({}, {"Authorization": "Bearer wrong-token-xyz"}, {"Authorization": TOKEN}):
            r = client.request(method, path, headers=headers)
            assert r.status_code == 401, (method, path, headers)
            assert "wrong-token-xyz" not in r.text and TOKEN not in r.text
            assert r.json()["detail"].startswith("missing or wrong bearer token")
    assert client.get("/api/health").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_health_and_status_follow_the_replay(session) -> None:
    s, client = session
    h = client.get("/api/health").json()
    assert h["feed"]["inputs"] == 0 and h["feed"]["last_input"] is None and h["store_ok"]
    assert h["kill_switch"] == "ACTIVE" and h["broker"] == "paper" and h["status"] == "ok"
    s.until_open()
    h = client.get("/api/health").json()
    assert h["feed"]["inputs"] > 0 and h["feed"]["last_input"].startswith(DAY.isoformat())
    st = client.get("/integrated/trading/status", headers=AUTH).json()
    assert st["strategies"] == [STRATEGY] and st["open_legs"] >= 1 and st["trading_state"] == "ACTIVE"
    assert st["session_day"] == DAY.isoformat() and st["mode"] == "paper"


def test_emergency_stop_flattens_everything_and_halts_trading(session) -> None:
    s, client = session
    s.until_open()
    before = client.get("/integrated/trading/positions", headers=AUTH).json()
    assert before["open_legs"] >= 1 and all(p["quantity"] != 0 for p in before["positions"])
    r = client.post("/integrated/trading/stop", headers=AUTH)
    assert r.status_code == 200, r.text
    stop = r.json()
    assert stop["state"] == "HALTED" and stop["previous"] == "ACTIVE"
    assert len(stop["flatten_orders"]) == before["open_legs"]
    assert stop["open_positions"] == 0 and stop["message"] == "flat"
    after = client.get("/integrated/trading/positions", headers=AUTH).json()
    assert after["positions"] == [] and after["open_legs"] == 0
    orders = {o["client_id"]: o for o in client.get("/api/orders", headers=AUTH).json()}
    assert all(orders[c]["tag"] == "EXIT" and orders[c]["state"] == "FILLED" for c in stop["flatten_orders"])
    s.step(30)  # later inputs: the strategy may ask, nothing opens again
    assert client.get("/integrated/trading/positions", headers=AUTH).json()["open_legs"] == 0
    assert client.get("/api/health").json()["kill_switch"] == "HALTED"
    fills = client.get("/api/fills", headers=AUTH).json()  # the store holds every fill, flat per contract
    net: dict[str, int] = {}
    for f in fills:
        net[f["contract"]] = net.get(f["contract"], 0) + (f["quantity"] if f["side"] == "BUY" else -f["quantity"])
    assert fills and all(q == 0 for q in net.values())


def test_kill_switch_disable_enable_from_the_api(session) -> None:
    s, client = session
    s.step()
    r = client.post("/api/trading/disable", headers=AUTH, json={"reason": "lunch"}).json()
    assert r == {"state": "REDUCING", "previous": "ACTIVE", "changed": True, "source": "api", "reason": "lunch"}
    assert s.service.kernel.risk.kill_switch.history[-1].source == "api"
    assert client.post("/api/trading/disable", headers=AUTH).json()["changed"] is False
    assert client.get("/api/health").json()["kill_switch"] == "REDUCING"
    r = client.post("/api/trading/enable", headers=AUTH).json()
    assert r["state"] == "ACTIVE" and r["previous"] == "REDUCING"
    alerts = client.get("/api/alerts", headers=AUTH).json()
    assert any(a["source"] == "kill_switch:api" and "REDUCING" in a["message"] for a in alerts)


def test_strategies_disable_and_enable(session) -> None:
    s, client = session
    r = client.post(f"/api/strategies/{STRATEGY}/disable", headers=AUTH)
    assert r.status_code == 409 and "first input" in r.json()["detail"]
    s.until_open()
    listed = client.get("/api/strategies", headers=AUTH).json()
    assert [x["name"] for x in listed] == [STRATEGY] and listed[0]["kind"] == "dnss" and not listed[0]["halted"]
    r = client.post(f"/api/strategies/{STRATEGY}/disable", headers=AUTH, json={"reason": "check"})
    assert r.json() == {"name": STRATEGY, "halted": True, "changed": True}
    s.step(3)  # the halt flattens it (default policy)
    listed = client.get("/api/strategies", headers=AUTH).json()
    assert listed[0]["halted"] and "check" in listed[0]["halt_reason"] and listed[0]["open_legs"] == 0
    assert client.post(f"/api/strategies/{STRATEGY}/enable", headers=AUTH).json()["changed"] is True
    assert not client.get("/api/strategies", headers=AUTH).json()[0]["halted"]
    assert STRATEGY not in client.get("/integrated/trading/status", headers=AUTH).json()["halted"]
    r = client.post("/api/strategies/NOPE/disable", headers=AUTH)
    assert r.status_code == 404 and "NOPE" in r.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/api/orders?limit=0", {}),
        ("GET", "/api/orders?state=BOGUS", {}),
        ("GET", "/api/fills?limit=abc", {}),
        ("POST", "/api/trading/disable", {"json": {"reason": "x", "extra": 1}}),
        ("POST", "/api/trading/disable", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
        ("POST", "/integrated/trading/stop", {"json": {"reason": 5}}),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(session, method: str, path: str, kwargs: dict[str, Any]) -> None:
    _, client = session
    headers = {**AUTH, **kwargs.pop("headers", {})}
    r = client.request(method, path, headers=headers, **kwargs)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["detail"].startswith("invalid request")
    assert client.get("/api/health").json()["kill_switch"] == "ACTIVE"  # nothing was done


def test_performance_and_metrics(session) -> None:
    s, client = session
    s.until_open()
    s.step(5)
    perf = client.get("/performance/stats", headers=AUTH).json()
    assert perf["orders"] >= 2 and perf["fills"] >= 2 and perf["strategies"][0]["strategy"] == STRATEGY
    assert perf["account"]["charges"] > 0
    client.post("/api/trading/disable", headers=AUTH)
    s.step(60)  # the adjustments it asks for now are refused: exits only
    text = client.get("/metrics").text
    assert f'signals_rejected_total{{reason="KILL_SWITCH_REDUCING",strategy="{STRATEGY}"}}' in text
    assert 'orders_failed_total{reason="KILL_SWITCH_REDUCING"}' in text
    assert 'orders_placed_total{broker="paper",mode="paper"}' in text
    assert f'signals_generated_total{{strategy="{STRATEGY}"}}' in text
    assert 'optrunner_kill_switch_state{state="REDUCING"} 1.0' in text
    for name in ("optrunner_open_positions", "optrunner_pnl_unrealized_rupees", "optrunner_pnl_realized_rupees",
                 "optrunner_charges_rupees", "optrunner_bad_data_dropped", "orders_failed_total"):  # fmt: skip
        assert name in text, name
    placed = next(float(x.split()[-1]) for x in text.splitlines() if x.startswith("orders_placed_total{"))
    assert placed == len([o for o in s.service.kernel.om.orders() if o.state.value != "REJECTED"])


def test_metrics_registry_is_per_app(case, tmp_path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = Session(case, tmp_path / "a"), Session(case, tmp_path / "b")
    try:
        a.until_open()
        with TestClient(a.app) as ca, TestClient(b.app) as cb:
            assert "orders_placed_total{" in ca.get("/metrics").text
            assert "orders_placed_total{" not in cb.get("/metrics").text
    finally:
        a.service.stop()
        b.service.stop()


def test_websocket_snapshot_then_sequenced_messages(session) -> None:
    s, client = session
    with client.websocket_connect(f"/ws?token={TOKEN}") as ws:
        frames = Frames(ws.receive_text)
        first = frames.next()
        assert first["type"] == "snapshot" and first["data"]["kill_switch"]["state"] == "ACTIVE"
        assert frames.sizes == [1]  # the snapshot comes alone
        s.until_open()
        s.step()  # the legs' first mark: their greeks
        seen: list[dict[str, Any]] = []
        while not {"order", "fill", "positions"} <= {m["type"] for m in seen}:
            seen.append(frames.next())
        seqs = [m["seq"] for m in seen]
        assert seqs == sorted(seqs) and seqs[0] > first["seq"] and len(set(seqs)) == len(seqs)
        assert max(frames.sizes) > 1  # a round's orders and fills share a frame
        while (p := frames.next())["type"] != "positions" or p["data"]["greeks_missing"] or not p["data"]["open_legs"]:
            pass
        p = p["data"]
        assert {"delta", "gamma", "vega", "theta", "greeks_missing"} <= set(p)
        leg = p["positions"][0]
        assert all(isinstance(leg[g], float) for g in ("delta", "gamma", "vega", "theta")), leg
        assert p["greeks_missing"] == 0 and p["delta"] == pytest.approx(
            sum(x["quantity"] * x["delta"] for x in p["positions"]))
        client.post("/api/trading/disable", headers=AUTH)
        while (m := frames.next())["type"] != "kill_switch":
            pass
        assert "REDUCING" in m["data"]["message"]
    with client.websocket_connect("/ws") as ws:  # reconnect, token as the first message
        ws.send_json({"token": TOKEN})
        again = Frames(ws.receive_text).next()
        assert again["type"] == "snapshot" and again["seq"] >= m["seq"]
        assert again["data"]["positions"]["open_legs"] >= 1


def test_websocket_refuses_a_wrong_token(session) -> None:
    _, client = session
    for url in ("/ws?token=nope", "/ws"):
        with client.websocket_connect(url) as ws:
            if url == "/ws":
                ws.send_json({"token": "nope"})
            with pytest.raises(WebSocketDisconnect) as e:
                ws.receive_json()
            assert e.value.code == 1008


def test_token_file_is_made_private_and_reused(tmp_path) -> None:
    path = tmp_path / "cfg" / "api-token"
    token, where = load_token(path, environ={})
    assert where == str(path) and (path.stat().st_mode & 0o777) == 0o600 and len(token) >= 32
    assert load_token(path, environ={}) == (token, str(path))
    assert load_token(path, environ={"OPTRUNNER_API_TOKEN": "x" * 20}) == ("x" * 20, "env")
    path.chmod(0o644)
    with pytest.raises(UserError, match="chmod 600") as e:
        load_token(path, environ={})
    assert token not in str(e.value)
    with pytest.raises(UserError, match="too short"):
        load_token(path, environ={"OPTRUNNER_API_TOKEN": "short"})


def test_access_log_lines_never_show_a_query_token() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:1", "GET", f"/ws?token={TOKEN}&x=1", "1.1", 101), None)  # fmt: skip
    RedactTokens().filter(record)
    line = record.getMessage()
    assert TOKEN not in line and "token=***&x=1" in line


@pytest.fixture
def idle_hub(case, tmp_path) -> Iterator[Any]:
    """The hub of an app never started: its task does not run, the test is its loop."""
    s = Session(case, tmp_path)
    yield s.app.state.hub
    s.service.stop()


def test_a_client_too_slow_is_dropped_not_waited_for(idle_hub) -> None:
    hub = idle_hub
    slow = Client(hub.seq, maxsize=2)
    hub.clients.add(slow)
    for _ in range(3):
        hub._message("positions", {})
        hub.flush()
    assert slow not in hub.clients  # dropped at once; its reader sees None and closes with 1013
    assert json.loads(slow.queue.get_nowait())[0]["type"] == "positions" and slow.queue.get_nowait() is None


def test_a_frame_is_encoded_once_and_trimmed_for_a_client_that_joined_during_it(idle_hub) -> None:
    hub = idle_hub
    base = hub.seq
    old, new = Client(base), Client(base + 3)  # ``new``'s snapshot covered the first three messages
    hub.clients.update({old, new})
    frames = hub.frames
    for k in range(3):
        hub._message("tick", {"symbol": "NIFTY", "spot": 100.0 + k})  # superseded: only the last goes
    hub._message("alert", {"level": "info", "message": "x", "source": "t", "ts": "2026-11-16T04:00:00+00:00"})
    hub._message("positions", {"n": 1})
    hub._message("positions", {"n": 2})
    assert hub.flush() == 3
    assert hub.frames == frames + 1  # one encoding shared by every client that needs all of it
    a, b = json.loads(old.queue.get_nowait()), json.loads(new.queue.get_nowait())
    assert [(m["type"], m["seq"] - base) for m in a] == [("tick", 3), ("alert", 4), ("positions", 6)]
    assert a[2]["data"] == {"n": 2} and b == a[1:]
    assert [m["seq"] - base for m in hub.recent if m["seq"] > base] == [4]  # only events are replayable
    assert hub.flush() == 0 and old.queue.empty()
