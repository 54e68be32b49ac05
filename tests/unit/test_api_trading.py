"""The trading endpoints beyond the first service cut, over a real paper session driven
input by input: seed 002's start / exit-position / spot statistics, the strategy hot
reload, risk, effective config and P&L."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from optrunner.api.models_trading import WS_DATA, WsMessage
from optrunner.live.service_actions import _strategy_trades, store_configs
from optrunner.store import Store
from optrunner.strategies.weekly_zones import Position
from service_cases import STRATEGY, TOKEN, DrivenService, Frames, make_case

AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEW = [
    ("POST", "/integrated/trading/start"), ("POST", "/integrated/trading/exit-position"),
    ("GET", "/spot/statistics"), ("POST", "/api/strategies/reload"), ("GET", "/api/risk"),
    ("GET", "/api/config"), ("GET", "/api/pnl"),
]  # fmt: skip


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> tuple[Path, Path]:
    return make_case(tmp_path_factory.mktemp("trading"))


@pytest.fixture
def driven(case, tmp_path) -> Iterator[tuple[DrivenService, TestClient]]:
    catalog, configs = case
    mine = tmp_path / "configs"
    shutil.copytree(configs, mine)  # reload tests edit the folder
    d = DrivenService(catalog, mine, tmp_path)
    with TestClient(d.app) as client:
        yield d, client
    d.service.stop()


def test_new_endpoints_need_the_token(driven) -> None:
    _, client = driven
    for method, path in NEW:
        r = client.request(method, path, json={"strategy": STRATEGY} if "exit" in path else None)
        assert r.status_code == 401, (method, path)
        assert TOKEN not in r.text


def test_start_resumes_trading_and_refuses_live_and_unknown_names(driven) -> None:
    d, client = driven
    d.until_open()
    assert client.post("/api/trading/disable", headers=AUTH).json()["state"] == "REDUCING"
    r = client.post("/integrated/trading/start", headers=AUTH)  # the seed's routine posts no body
    assert r.status_code == 200, r.text
    assert r.json() == {"mode": "PAPER", "state": "ACTIVE", "previous": "REDUCING", "changed": True, "strategies": []}
    live = client.post("/integrated/trading/start", headers=AUTH, json={"mode": "LIVE"})
    assert live.status_code == 409 and "--live" in live.json()["detail"]
    unknown = client.post("/integrated/trading/start", headers=AUTH, json={"strategies": ["NOPE"]})
    assert unknown.status_code == 404 and "'NOPE'" in unknown.json()["detail"]
    # the seed's object without a name needs exactly one weekly_zones strategy: this session has a dnss
    seed = {"mode": "PAPER", "strategies": [{"signal_types": ["S1", "S2"], "quantity": 750,
                                             "stop_loss_type": "lock", "enabled": True}]}  # fmt: skip
    r = client.post("/integrated/trading/start", headers=AUTH, json=seed)
    assert r.status_code == 422 and "weekly_zones" in r.json()["detail"]
    named = {"strategies": [{"name": STRATEGY, "quantity": 75}]}
    r = client.post("/integrated/trading/start", headers=AUTH, json=named)
    assert r.status_code == 422 and "dnss" in r.json()["detail"]
    bad = client.post("/integrated/trading/start", headers=AUTH, json={"mode": "paper-ish"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("invalid request: body.mode")
    assert d.service.kernel.risk.kill_switch.state.value == "ACTIVE"


def test_start_disables_and_enables_listed_strategies(driven) -> None:
    d, client = driven
    d.until_open()
    r = client.post("/integrated/trading/start", headers=AUTH, json={"strategies": [{"name": STRATEGY, "enabled": False}]})
    assert r.status_code == 200, r.text
    assert r.json()["strategies"] == [{"name": STRATEGY, "enabled": False, "changed": True, "reconfigured": False}]
    assert STRATEGY in client.get("/integrated/trading/status", headers=AUTH).json()["halted"]
    r = client.post("/integrated/trading/start", headers=AUTH, json={"strategies": [STRATEGY]})
    assert r.json()["strategies"][0] == {"name": STRATEGY, "enabled": True, "changed": True, "reconfigured": False}
    assert client.get("/integrated/trading/status", headers=AUTH).json()["halted"] == {}


def test_exit_position_closes_one_leg_then_the_strategy(driven) -> None:
    d, client = driven
    d.until_open()
    legs = client.get("/integrated/trading/positions", headers=AUTH).json()["positions"]
    assert len(legs) == 2
    one = legs[0]["position_id"]
    r = client.post("/integrated/trading/exit-position", headers=AUTH, json={"position_id": one})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["strategy"] == STRATEGY and out["positions"] == [one] and len(out["orders"]) == 1
    assert out["open_positions"] == []  # the paper broker fills a marketable order at once
    left = client.get("/integrated/trading/positions", headers=AUTH).json()["positions"]
    assert [p["position_id"] for p in left] == [legs[1]["position_id"]]
    order = {o["client_id"]: o for o in client.get("/api/orders", headers=AUTH).json()}[out["orders"][0]]
    assert order["tag"] == "EXIT" and order["state"] == "FILLED" and order["quantity"] == abs(legs[0]["quantity"])
    assert client.post("/integrated/trading/exit-position", headers=AUTH, json={"position_id": one}).status_code == 404
    r = client.post("/integrated/trading/exit-position", headers=AUTH, json={"signal_id": STRATEGY})
    assert r.status_code == 200 and len(r.json()["orders"]) == 1
    assert client.get("/integrated/trading/positions", headers=AUTH).json()["open_legs"] == 0
    assert client.get("/integrated/trading/status", headers=AUTH).json()["halted"] == {}  # it keeps running
    again = client.post("/integrated/trading/exit-position", headers=AUTH, json={"strategy": STRATEGY})
    assert again.status_code == 409
    for body in ({}, {"strategy": STRATEGY, "signal_id": STRATEGY}, {"signal_id": "S9_nope"}):
        r = client.post("/integrated/trading/exit-position", headers=AUTH, json=body)
        assert r.status_code in (404, 422), (body, r.text)
    seen = {o["client_id"] for o in client.get("/api/orders", headers=AUTH).json()}
    d.step(40)
    later = [o for o in client.get("/api/orders", headers=AUTH).json() if o["client_id"] not in seen]
    assert all(o["tag"] not in ("ENTRY", "HEDGE") for o in later), later  # it took the exits as its own
    assert client.get("/integrated/trading/positions", headers=AUTH).json()["open_legs"] == 0


def test_spot_statistics_has_no_look_ahead(driven) -> None:
    d, client = driven
    empty = client.get("/spot/statistics", headers=AUTH).json()
    assert empty["spot"] is None and empty["current_bar"] is None and empty["bars_closed_today"] == 0
    d.step(80)  # past 10:15 on the synthetic day: one hourly bar closed
    st = client.get("/spot/statistics", headers=AUTH).json()
    snap = d.service.kernel.latest["NIFTY"]
    assert st["symbol"] == "NIFTY" and st["spot"] == snap.spot and st["timeframe"] == "1h"
    bars = client.get("/api/bars", headers=AUTH, params={"timeframe": "1h"}).json()["bars"]
    assert st["bars_today"] == bars
    closed = [b for b in bars if b["closed"]]
    assert st["bars_closed_today"] == len(closed) and st["last_closed_bar"] == (closed[-1] if closed else None)
    cur = st["current_bar"]
    assert cur is not None and not cur["closed"]
    start, now, end = (datetime.fromisoformat(x) for x in (cur["ts"], st["session_time"], cur["end"]))
    assert start <= now < end and st["last_closed_bar"]["end"] == cur["ts"]
    assert client.get("/spot/statistics", headers=AUTH, params={"symbol": "SENSEX"}).status_code == 404


def test_reload_adds_replaces_and_removes_and_refuses_a_bad_file(driven) -> None:
    d, client = driven
    configs = d.service.config_dir
    d.until_open()
    state_before = d.service.kernel.runner.state_of(STRATEGY)
    legs = client.get("/integrated/trading/positions", headers=AUTH).json()["open_legs"]

    (configs / "BROKEN.json").write_text(json.dumps({"name": "BROKEN", "enabled": True, "strategy": "dnss",
                                                      "market_config": {"symbol": "NIFTY"}, "entry": {"quantity": -1}}))
    r = client.post("/api/strategies/reload", headers=AUTH)
    assert r.status_code == 422, r.text
    problems = r.json()["problems"]
    assert problems and all(p["path"].startswith("BROKEN.json: ") for p in problems)
    assert any("entry.quantity" in p["path"] for p in problems)
    assert [s["name"] for s in client.get("/api/strategies", headers=AUTH).json()] == [STRATEGY]  # nothing changed
    (configs / "BROKEN.json").unlink()

    cfg = json.loads((configs / f"{STRATEGY}.json").read_text())
    cfg["adjustment"]["max_adjustments_per_day"] = 7  # changed: replaced in place
    (configs / f"{STRATEGY}.json").write_text(json.dumps(cfg))
    (configs / "SVC2.json").write_text(json.dumps({**cfg, "name": "SVC2"}))  # new
    r = client.post("/api/strategies/reload", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json() == {"added": ["SVC2"], "replaced": [STRATEGY], "removed": [], "unregistered": [], "waiting": [],
                        "on_change": "drain", "unchanged": []}  # fmt: skip
    runner = d.service.kernel.runner
    assert runner.configs()[STRATEGY].adjustment.max_adjustments_per_day == 7
    assert runner.state_of(STRATEGY) == state_before  # the new build carries the open trade
    assert client.get("/integrated/trading/positions", headers=AUTH).json()["open_legs"] == legs
    d.step(3)
    assert "SVC2" in client.get("/integrated/trading/status", headers=AUTH).json()["strategies"]

    (configs / "SVC2.json").unlink()
    r = client.post("/api/strategies/reload", headers=AUTH)
    assert r.status_code == 200 and r.json()["removed"] == ["SVC2"] and r.json()["unchanged"] == [STRATEGY]
    d.step(3)
    names = {s["name"]: s for s in client.get("/api/strategies", headers=AUTH).json()}
    assert "SVC2" not in names or "SVC2" in d.service.kernel.runner.get_status()["draining"]  # drained until flat
    assert client.post("/api/strategies/reload", headers=AUTH).json()["added"] == []


def test_risk_config_and_pnl(driven) -> None:
    d, client = driven
    d.until_open()
    client.post("/api/trading/disable", headers=AUTH, json={"reason": "lunch"})
    client.post("/api/trading/enable", headers=AUTH)
    risk = client.get("/api/risk", headers=AUTH).json()
    assert risk["state"] == "ACTIVE" and risk["allows_entries"] is True
    assert [(h["new"], h["source"], h["reason"]) for h in risk["history"]][-2:] == [
        ("REDUCING", "api", "lunch"), ("ACTIVE", "api", "trading enabled from the API")]
    assert all(h["ts"] for h in risk["history"])
    acc = risk["account"]
    assert acc["max_loss_level"] < 0 and 0.0 <= acc["used_fraction"] <= 1.0
    assert risk["strategies"][0]["strategy"] == STRATEGY and risk["strategies"][0]["open_legs"] == 2

    # as a file with a webhook would give it (set in place: a real webhook would be called)
    d.service.kernel.runner.configs()[STRATEGY].monitoring.__dict__["alert_webhook"] = "https://hooks.example/secret-abc"
    cfg = client.get("/api/config", headers=AUTH)
    assert cfg.status_code == 200 and "secret-abc" not in cfg.text
    body = cfg.json()
    assert body["mode"] == "paper" and body["symbols"] == ["NIFTY"] and STRATEGY in body["strategies"]
    assert body["strategy_source"] == "files" and body["config_dir"] == str(d.service.config_dir)
    assert body["strategies"][STRATEGY]["monitoring"]["alert_webhook"] == "***"
    assert body["strategies"][STRATEGY]["entry"]["quantity"] == 1

    pnl = client.get("/api/pnl", headers=AUTH).json()
    perf = client.get("/performance/stats", headers=AUTH).json()
    assert pnl["account"] == perf["account"] and pnl["strategies"] == perf["strategies"]
    mine = pnl["strategies"][0]
    assert mine["net"] == pytest.approx(mine["realized"] + mine["unrealized"] - mine["charges"])


def test_start_with_the_seed_payload_reconfigures_the_weekly_zones_strategy(case, tmp_path) -> None:
    catalog, configs = case
    mine = tmp_path / "configs"
    shutil.copytree(configs, mine)
    zones = json.loads((Path(__file__).parents[2] / "examples" / "configs" / "NIFTY_WEEKLY_ZONES.json").read_text())
    zones["market_config"]["db_path"] = str(catalog)
    (mine / "ZONES.json").write_text(json.dumps(zones))
    d = DrivenService(catalog, mine, tmp_path)
    with TestClient(d.app) as client:
        d.step(5)
        state = d.service.kernel.runner.state_of("NIFTY_WEEKLY_ZONES")
        seed = {"mode": "PAPER", "strategies": [{"signal_types": ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"],
                                                 "quantity": 750, "stop_loss_type": "lock", "enabled": True}]}  # fmt: skip
        r = client.post("/integrated/trading/start", headers=AUTH, json=seed)  # 750 is not lots of 65 (2026)
        assert r.status_code == 422 and "body.strategies[0].quantity" in r.json()["detail"] and "715 or 780" in r.json()["detail"]
        seed["strategies"][0].update(quantity=650, signal_types=["s1", "S2"], stop_loss_type="trailing")
        r = client.post("/integrated/trading/start", headers=AUTH, json=seed)
        assert r.status_code == 200, r.text
        assert r.json()["strategies"] == [
            {"name": "NIFTY_WEEKLY_ZONES", "enabled": True, "changed": False, "reconfigured": True}]
        cfg = d.service.kernel.runner.configs()["NIFTY_WEEKLY_ZONES"].weekly_zones
        assert (cfg.quantity_units, cfg.signal_types, cfg.stop_loss_type) == (650, ("S1", "S2"), "trailing")
        strategy = d.service.kernel.runner.strategies()["NIFTY_WEEKLY_ZONES"]
        assert strategy.cfg is cfg and d.service.kernel.runner.state_of("NIFTY_WEEKLY_ZONES") == state
        assert client.get("/api/config", headers=AUTH).json()["strategies"]["NIFTY_WEEKLY_ZONES"]["weekly_zones"][
            "signal_types"] == ["S1", "S2"]

        # seed 002's signal ids name a weekly_zones trade (its main leg and hedge)
        main = d.service.kernel.latest["NIFTY"].contract(0)
        entered = datetime(2026, 11, 16, 4, 50, tzinfo=UTC)  # 10:20 IST
        strategy.positions["P7"] = Position("P7", "S1", main.right, main, None, 65, entered)
        for signal_id in ("NIFTY_WEEKLY_ZONES:P7", "S1_20261116_102000", "s1_20261116_0915"):
            assert _strategy_trades(d.service, signal_id) == ("NIFTY_WEEKLY_ZONES", {main.id}), signal_id
        assert _strategy_trades(d.service, "S2_20261116_102000") is None
        r = client.post("/integrated/trading/exit-position", headers=AUTH, json={"signal_id": "S1_20261116_102000"})
        assert r.status_code == 409 and "holds no open position" in r.json()["detail"]  # nothing of it is held
        assert client.post("/integrated/trading/exit-position", headers=AUTH,
                           json={"signal_id": "S3_20261116_102000"}).status_code == 404  # fmt: skip
        d.step(2)
    d.service.stop()


def _until(frames: Frames, kinds: set[str], limit: int = 500) -> list[dict]:
    seen: list[dict] = []
    while not kinds <= {m["type"] for m in seen}:
        seen.append(frames.next())
        assert len(seen) < limit, [m["type"] for m in seen]
    return seen


def test_websocket_pushes_ticks_bars_and_pnl(driven) -> None:
    d, client = driven
    with client.websocket_connect(f"/ws?token={TOKEN}") as ws:
        frames = Frames(ws.receive_text)
        first = frames.next()
        assert first["type"] == "snapshot" and first["data"]["epoch"]
        d.step(80)  # past 10:15: one closed hourly bar and one building
        seen = _until(frames, {"tick", "bar", "pnl"})
        while not any(m["type"] == "bar" and m["data"]["closed"] for m in seen):
            seen.append(frames.next())
        tick = next(m for m in seen if m["type"] == "tick")["data"]
        assert tick["symbol"] == "NIFTY" and tick["spot"] > 0
        bars = [m["data"] for m in seen if m["type"] == "bar"]
        rest = client.get("/api/bars", headers=AUTH).json()["bars"]
        closed = [b for b in bars if b["closed"]]
        assert closed and closed == [{"symbol": "NIFTY", "timeframe": "1h", **b} for b in rest if b["closed"]]
        pnl = next(m for m in seen if m["type"] == "pnl")["data"]
        assert set(pnl) >= {"account", "strategies", "day_pnl"}
        ticks = [m for m in seen if m["type"] == "tick"]
        assert len({t["data"]["ts"] for t in ticks}) == len(ticks)  # only when the spot moved
        for m in seen:  # every message as the OpenAPI components describe it
            WsMessage.model_validate(m)
            if m["type"] in WS_DATA:
                WS_DATA[m["type"]].model_validate(m["data"])
    components = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"WsFrame", "WsMessage", "TickData", "BarData", "PnLData"} <= set(components)
    assert components["WsFrame"]["items"] == {"$ref": "#/components/schemas/WsMessage"}
    assert "tick" in components["WsMessage"]["properties"]["type"]["enum"]


def test_websocket_resumes_from_a_seq(driven) -> None:
    d, client = driven
    with client.websocket_connect(f"/ws?token={TOKEN}") as ws:
        frames = Frames(ws.receive_text)
        snap = frames.next()
        epoch = snap["data"]["epoch"]
        d.until_open()
        seen = _until(frames, {"order", "fill"})
        last = seen[-1]["seq"]
    d.step(2)
    client.post("/api/trading/disable", headers=AUTH, json={"reason": "while away"})
    with client.websocket_connect(f"/ws?token={TOKEN}&since={last}&epoch={epoch}") as ws:
        frames = Frames(ws.receive_text)
        first = frames.next()
        assert first["type"] != "snapshot" and first["seq"] > last
        got = [first]
        while got[-1]["type"] != "kill_switch":
            got.append(frames.next())
        assert "while away" in got[-1]["data"]["message"]
        seqs = [m["seq"] for m in got]
        assert seqs == sorted(set(seqs))
    hub = d.app.state.hub
    replayed = hub.replay_after(last, epoch)
    assert replayed is not None and all(m["type"] not in ("positions", "pnl", "tick") for m in replayed)
    with client.websocket_connect(f"/ws?token={TOKEN}&since={last}&epoch=other") as ws:
        assert Frames(ws.receive_text).next()["type"] == "snapshot"  # another process's seq
    with client.websocket_connect(f"/ws?token={TOKEN}&since=99999999") as ws:
        assert Frames(ws.receive_text).next()["type"] == "snapshot"
    hub.evicted = last + 1  # as if the buffer had dropped what came after
    with client.websocket_connect(f"/ws?token={TOKEN}&since={last}&epoch={epoch}") as ws:
        assert Frames(ws.receive_text).next()["type"] == "snapshot"


@pytest.mark.parametrize("on_change", ["drain", "keep"])
def test_reload_removing_a_strategy_with_positions(case, tmp_path, on_change) -> None:
    """A strategy whose file goes while it holds positions is not cut off. ``drain`` (the
    default): no new entries (risk refuses them, STRATEGY_DRAINING, and the strategy hears it),
    its exits still run by its own rules (here its adjustments' closes and its 09:45 time exit),
    and it is unregistered at the first input once flat. ``keep``: it runs on as it was,
    entries too, until it is flat; then it goes the same way."""
    catalog, configs = case
    mine = tmp_path / "configs"
    shutil.copytree(configs, mine)
    cfg = json.loads((mine / f"{STRATEGY}.json").read_text())
    cfg["exit"]["exit_time"] = "09:45"  # flat soon after the reload: a short test
    cfg["adjustment"]["delta_drift_trigger"] = 0.03  # adjusts often: an exit and a new entry each time
    (mine / f"{STRATEGY}.json").write_text(json.dumps(cfg))
    d = DrivenService(catalog, mine, tmp_path, on_change=on_change)
    k = d.service.kernel
    with TestClient(d.app) as client:
        d.until_open()
        (mine / "OTHER.json").write_text(json.dumps({**cfg, "name": "OTHER"}))
        (mine / f"{STRATEGY}.json").unlink()
        reloaded_at = k.now()
        r = client.post("/api/strategies/reload", headers=AUTH)
        assert r.status_code == 200, r.text
        assert r.json() == {"added": ["OTHER"], "replaced": [], "removed": [STRATEGY], "unregistered": [],
                            "waiting": [STRATEGY], "on_change": on_change, "unchanged": []}  # fmt: skip
        names = [x["name"] for x in client.get("/api/strategies", headers=AUTH).json()]
        assert sorted(names) == ["OTHER", STRATEGY] and len(k.portfolio.positions(STRATEGY)) == 2
        assert (STRATEGY in k.runner.get_status()["draining"]) is (on_change == "drain")
        assert not k.runner.halt_reasons()  # not the halt path: nothing flattened by the reload
        again = client.post("/api/strategies/reload", headers=AUTH).json()  # nothing new: still waiting
        assert (again["removed"], again["waiting"], again["unregistered"]) == ([STRATEGY], [STRATEGY], [])
        for _ in range(60):
            d.step()
            if STRATEGY not in k.runner.strategies():
                break
        assert STRATEGY not in k.runner.strategies() and not k.portfolio.positions(STRATEGY)
        assert [x["name"] for x in client.get("/api/strategies", headers=AUTH).json()] == ["OTHER"]
    d.service.stop()
    late = [o for o in k.om.orders() if o.strategy == STRATEGY and o.created_ts is not None
            and o.created_ts > reloaded_at]  # fmt: skip
    exits = [o for o in late if o.tag.is_exit and o.state.value == "FILLED"]
    entries = [o for o in late if not o.tag.is_exit]
    assert exits and entries  # it kept managing its trade: closes, and the entries its adjustments asked for
    refused = [o for o in entries if o.state.value == "REJECTED" and "STRATEGY_DRAINING" in (o.reason or "")]
    if on_change == "drain":
        assert refused == entries, [(o.tag, o.state, o.created_ts, o.reason) for o in entries]  # every entry refused, and heard as a rejected order
    else:
        assert not refused and any(o.state.value == "FILLED" for o in entries)


def test_a_restart_while_draining_leaves_nothing_unmanaged(case, tmp_path, caplog) -> None:
    """The drained strategy's file is gone, so a restart does not load it again: what it
    still holds goes to the halt policy (flattened by default) instead of staying unmanaged."""
    catalog, configs = case
    mine = tmp_path / "configs"
    shutil.copytree(configs, mine)
    cfg = json.loads((mine / f"{STRATEGY}.json").read_text())
    d = DrivenService(catalog, mine, tmp_path)
    with TestClient(d.app) as client:
        d.until_open()
        (mine / "OTHER.json").write_text(json.dumps({**cfg, "name": "OTHER"}))
        (mine / f"{STRATEGY}.json").unlink()
        assert client.post("/api/strategies/reload", headers=AUTH).json()["waiting"] == [STRATEGY]
        d.step()
    d.service.stop()
    assert d.service.kernel.portfolio.positions(STRATEGY)  # still draining when it stopped
    again = DrivenService(catalog, mine, tmp_path, recover=None)
    assert list(again.service.kernel.runner.strategies()) == ["OTHER"]
    again.step(3)
    assert not again.service.kernel.portfolio.positions(STRATEGY)
    assert f"strategy '{STRATEGY}' was draining (removed by a hot reload) before the restart" in caplog.text
    again.service.stop()


def test_reload_from_the_store_table(case, tmp_path) -> None:
    """A service running the store's strategy_configurations rows reloads from them."""
    catalog, configs = case
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    svc = json.loads((configs / f"{STRATEGY}.json").read_text())
    store = Store(url)
    store.create_schema()
    store.upsert_strategy_configuration(STRATEGY, "dnss", ["NIFTY"], svc)
    rows, issues = store_configs(store)
    store.close()
    assert issues == [] and list(rows) == [STRATEGY]
    d = DrivenService(catalog, configs, tmp_path, strategies="db")
    d.service.strategy_source = "store"
    with TestClient(d.app) as client:
        d.until_open()
        table = d.service.node.store
        table.upsert_strategy_configuration("BAD", "dnss", ["NIFTY"], {**svc, "entry": {**svc["entry"], "quantity": -1}})
        r = client.post("/api/strategies/reload", headers=AUTH)
        assert r.status_code == 422, r.text
        assert [p["path"] for p in r.json()["problems"]] == ["strategy_configurations[BAD]: entry.quantity"]
        table.delete_strategy_configuration("BAD")
        changed = {**svc, "adjustment": {**svc["adjustment"], "max_adjustments_per_day": 3}}
        table.upsert_strategy_configuration(STRATEGY, "dnss", ["NIFTY"], changed)
        table.upsert_strategy_configuration("SVC2", "dnss", ["NIFTY"], svc)
        r = client.post("/api/strategies/reload", headers=AUTH)
        assert r.status_code == 200, r.text
        assert (r.json()["added"], r.json()["replaced"]) == (["SVC2"], [STRATEGY])
        assert d.service.kernel.runner.configs()[STRATEGY].adjustment.max_adjustments_per_day == 3
        table.upsert_strategy_configuration("SVC2", "dnss", ["NIFTY"], svc, is_active=False)
        r = client.post("/api/strategies/reload", headers=AUTH)
        assert r.json()["removed"] == ["SVC2"] and r.json()["unchanged"] == [STRATEGY]
    d.service.stop()


def test_serve_needs_one_strategy_source(case, tmp_path) -> None:
    from typer.testing import CliRunner

    from optrunner.cli_app import app

    catalog, configs = case
    with socket.socket() as sock:  # not 8000: another service may be listening there
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    base = ["serve", "--data", str(catalog), "--date", "2026-11-16", "--store", f"sqlite:///{tmp_path / 's.sqlite'}",
            "--port", port, "--token-file", str(tmp_path / "token")]  # fmt: skip
    r = CliRunner().invoke(app, base)
    assert r.exit_code != 0 and "give --config-dir" in r.output, r.output
    r = CliRunner().invoke(app, [*base, "--config-dir", str(configs), "--strategies", "db"])
    assert r.exit_code != 0 and "leave out --config-dir" in r.output, r.output
    r = CliRunner().invoke(app, [*base, "--strategies", "db"])  # no table yet
    assert r.exit_code != 0 and "strategy_configurations" in r.output, r.output


def test_redact_hides_secret_fields_and_url_passwords() -> None:
    from optrunner.api.views_trading import redact

    doc = {"market_config": {"db_path": "postgresql+psycopg://bob:hunter2@db:5432/x", "api_key": "k-123",
                             "symbol": "NIFTY"},
           "monitoring": {"alert_webhook": "https://hooks.example/T0/secret", "alert_email": "ops@example.com",
                          "telegram_bot_token": None},
           "legs": [{"access_key": "AK"}, {"strike": 100}]}  # fmt: skip
    out = redact(doc)
    assert out["market_config"] == {"db_path": "postgresql+psycopg://bob:***@db:5432/x", "api_key": "***",
                                    "symbol": "NIFTY"}  # fmt: skip
    assert out["monitoring"] == {"alert_webhook": "***", "alert_email": "ops@example.com", "telegram_bot_token": None}
    assert out["legs"] == [{"access_key": "***"}, {"strike": 100}]
