"""`optrunner serve` end to end, as a user runs it: a subprocess on 127.0.0.1 replaying a
synthetic day on the paper broker. Every endpoint with and without the token, a WebSocket
client, the emergency stop (checked flat in the store afterwards) and SIGTERM (exit 0
within 5 s). The token — made by the service in a 0600 file — must never be printed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from optrunner.live.recovery import RECOVERED, latest_checkpoint
from optrunner.store import Store
from service_cases import DAY, STRATEGY, Frames, make_case

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = check()
        except httpx.TransportError:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_serve_end_to_end(tmp_path) -> None:
    catalog, configs = make_case(tmp_path)
    port = free_port()
    token_file = tmp_path / "secret" / "api-token"
    store_url = f"sqlite:///{tmp_path / 'serve.sqlite'}"
    env = {k: v for k, v in os.environ.items() if k != "OPTRUNNER_API_TOKEN"}
    cmd = [sys.executable, "-m", "optrunner.cli", "serve", "--config-dir", str(configs), "--data", str(catalog),
           "--date", DAY.isoformat(), "--store", store_url, "--port", str(port), "--pace-ms", "30",
           "--token-file", str(token_file)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            health = wait_until(lambda: http.get("/api/health").json(), 60, "the service to answer")
            assert health["mode"] == "paper" and health["store_ok"] and health["kill_switch"] == "ACTIVE"
            assert (token_file.stat().st_mode & 0o777) == 0o600
            token = token_file.read_text().strip()
            auth = {"Authorization": f"Bearer {token}"}

            # without (or with a wrong) token: 401 everywhere but health and metrics
            reads = ["/integrated/trading/status", "/integrated/trading/positions", "/performance/stats",
                     "/api/strategies", "/api/orders", "/api/fills", "/api/alerts", "/spot/statistics", "/api/risk",
                     "/api/config", "/api/pnl", "/api/bars"]  # fmt: skip
            writes = ["/api/trading/disable", "/api/trading/enable", "/integrated/trading/stop",
                      f"/api/strategies/{STRATEGY}/disable", f"/api/strategies/{STRATEGY}/enable",
                      "/integrated/trading/start", "/integrated/trading/exit-position", "/api/strategies/reload"]  # fmt: skip
            for path in reads:
                assert http.get(path).status_code == 401, path
                assert http.get(path, headers={"Authorization": "Bearer nope-nope"}).status_code == 401, path
            for path in writes:
                assert http.post(path).status_code == 401, path
            assert http.get("/metrics").status_code == 200

            with connect(f"ws://127.0.0.1:{port}/ws?token={token}", open_timeout=10) as ws:
                frames = Frames(lambda: ws.recv(timeout=10))
                first = frames.next()
                assert first["type"] == "snapshot"
                nxt = frames.next()  # positions every second, orders and fills as they come
                assert nxt["seq"] > first["seq"] and nxt["type"] in {"order", "fill", "positions", "alert", "tick",
                                                                     "bar", "pnl"}  # fmt: skip
                kinds, last = set(), nxt["seq"]
                while not {"tick", "pnl", "positions"} <= kinds:
                    m = frames.next()
                    kinds.add(m["type"])
                    last = m["seq"]
            epoch = first["data"]["epoch"]

            r = http.post("/api/trading/disable", headers=auth, json={"reason": "e2e"})
            assert r.status_code == 200 and r.json()["state"] == "REDUCING"
            assert http.post("/api/trading/enable", headers=auth).json()["state"] == "ACTIVE"

            positions = wait_until(
                lambda: http.get("/integrated/trading/positions", headers=auth).json()["open_legs"], 30, "a position"
            )
            assert positions >= 1
            # the client comes back: the event messages it missed, no snapshot
            http.post("/api/trading/disable", headers=auth, json={"reason": "while the client was away"})
            http.post("/api/trading/enable", headers=auth)
            with connect(f"ws://127.0.0.1:{port}/ws?token={token}&since={last}&epoch={epoch}", open_timeout=10) as ws:
                frames = Frames(lambda: ws.recv(timeout=10))
                resumed = [frames.next()]
                assert resumed[0]["type"] != "snapshot" and resumed[0]["seq"] > last
                while "while the client was away" not in json.dumps(resumed[-1]):
                    resumed.append(frames.next())
                assert [m["seq"] for m in resumed] == sorted({m["seq"] for m in resumed})

            started = http.post("/integrated/trading/start", headers=auth,
                                json={"mode": "PAPER", "strategies": [STRATEGY]})  # fmt: skip
            assert started.status_code == 200 and started.json()["state"] == "ACTIVE", started.text
            live = http.post("/integrated/trading/start", headers=auth, json={"mode": "LIVE"})
            assert live.status_code == 409 and "--live" in live.json()["detail"]
            spot = http.get("/spot/statistics", headers=auth).json()
            assert spot["symbol"] == "NIFTY" and spot["spot"] > 0 and spot["current_bar"] is not None
            reload = http.post("/api/strategies/reload", headers=auth)
            assert reload.status_code == 200 and reload.json()["unchanged"] == [STRATEGY], reload.text
            risk = http.get("/api/risk", headers=auth).json()
            assert {"old": "ACTIVE", "new": "REDUCING", "source": "api", "reason": "while the client was away"} in [
                {k: h[k] for k in ("old", "new", "source", "reason")} for h in risk["history"]]
            assert token not in http.get("/api/config", headers=auth).text
            leg = http.get("/integrated/trading/positions", headers=auth).json()["positions"][0]
            out = http.post("/integrated/trading/exit-position", headers=auth, json={"position_id": leg["position_id"]})
            assert out.status_code in (200, 409), out.text  # 409: the strategy closed it a moment before
            if out.status_code == 200:
                assert out.json()["positions"] == [leg["position_id"]] and out.json()["orders"]
            positions = wait_until(
                lambda: http.get("/integrated/trading/positions", headers=auth).json()["open_legs"], 30, "a position"
            )
            for path in reads:
                r = http.get(path, headers=auth)
                assert r.status_code == 200, (path, r.text)
            assert http.get("/integrated/trading/status", headers=auth).json()["running"] is True
            assert http.post("/api/strategies/NOPE/disable", headers=auth).status_code == 404

            stop = http.post("/integrated/trading/stop", headers=auth)
            assert stop.status_code == 200, stop.text
            assert stop.json()["state"] == "HALTED" and stop.json()["flatten_orders"]
            wait_until(lambda: http.get("/integrated/trading/positions", headers=auth).json()["open_legs"] == 0,
                       10, "flat after the emergency stop")  # fmt: skip
            assert http.post(f"/api/strategies/{STRATEGY}/disable", headers=auth).json()["halted"] is True
            assert http.post(f"/api/strategies/{STRATEGY}/enable", headers=auth).json()["halted"] is False
            metrics = http.get("/metrics").text
            assert 'optrunner_kill_switch_state{state="HALTED"} 1.0' in metrics
            assert 'orders_placed_total{broker="paper",mode="paper"}' in metrics
            assert http.get("/api/health").json()["feed"]["state"] == "replaying"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert took < 5.0, f"SIGTERM took {took:.1f} s"
    assert token not in out and str(token_file) in out

    store = Store(store_url)
    try:  # the journal is intact and flat
        net: dict[str, int] = {}
        for f in store.load_fills():
            net[f.contract.id] = net.get(f.contract.id, 0) + f.signed_quantity
        assert net and all(q == 0 for q in net.values()), net
        checkpoint = latest_checkpoint(store)
        assert checkpoint is not None and checkpoint.payload["kernel"]["kill_switch"]["state"] == "HALTED"
        assert not store.load_orders(open_only=True)
    finally:
        store.close()
    assert Path(f"{tmp_path / 'serve.sqlite'}.paper-broker.json").exists()


def test_serve_after_kill_9_resumes_the_session_without_a_flag(tmp_path) -> None:
    catalog, configs = make_case(tmp_path)
    store_url = f"sqlite:///{tmp_path / 'serve.sqlite'}"
    env = {**os.environ, "OPTRUNNER_API_TOKEN": "kill-nine-token-0123456789"}
    auth = {"Authorization": f"Bearer {env['OPTRUNNER_API_TOKEN']}"}

    def serve(pace: str) -> tuple[subprocess.Popen, httpx.Client]:
        port = free_port()
        cmd = [sys.executable, "-m", "optrunner.cli", "serve", "--config-dir", str(configs), "--data", str(catalog),
               "--date", DAY.isoformat(), "--store", store_url, "--port", str(port), "--pace-ms", pace]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        wait_until(lambda: http.get("/api/health").status_code == 200, 60, "the service to answer")
        return proc, http

    proc, http = serve("30")
    try:
        wait_until(lambda: http.get("/integrated/trading/positions", headers=auth).json()["open_legs"], 30, "a position")
        proc.kill()  # SIGKILL: no shutdown, no flush beyond the last checkpoint
        proc.communicate(timeout=10)
    finally:
        http.close()
        if proc.poll() is None:
            proc.kill()
    proc, http = serve("0")
    try:
        wait_until(lambda: http.get("/api/health").json()["feed"]["state"] == "finished", 60, "the day to finish")
        status = http.get("/integrated/trading/status", headers=auth).json()
        assert status["open_legs"] == 0 and status["orders"] >= 2 and status["halted"] == {}
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        http.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "resuming the session" in out
    store = Store(store_url)
    try:
        assert any(e.kind == RECOVERED for e in store.journal())
        assert not store.load_orders(open_only=True)
    finally:
        store.close()


def test_serve_runs_and_reloads_the_store_table(tmp_path) -> None:
    catalog, configs = make_case(tmp_path)
    store_url = f"sqlite:///{tmp_path / 'serve.sqlite'}"
    store = Store(store_url)
    store.create_schema()
    store.upsert_strategy_configuration(STRATEGY, "dnss", ["NIFTY"], json.loads((configs / f"{STRATEGY}.json").read_text()))
    store.close()
    env = {**os.environ, "OPTRUNNER_API_TOKEN": "store-table-token-0123456789"}
    auth = {"Authorization": f"Bearer {env['OPTRUNNER_API_TOKEN']}"}
    port = free_port()
    base = [sys.executable, "-m", "optrunner.cli", "serve", "--data", str(catalog), "--date", DAY.isoformat(),
            "--store", store_url, "--port", str(port), "--pace-ms", "20"]  # fmt: skip
    proc = subprocess.Popen([*base, "--strategies", "db"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            wait_until(lambda: http.get("/api/health").status_code == 200, 60, "the service to answer")
            assert [s["name"] for s in http.get("/api/strategies", headers=auth).json()] == [STRATEGY]
            r = http.post("/api/strategies/reload", headers=auth)
            assert r.status_code == 200 and r.json()["unchanged"] == [STRATEGY], r.text
            assert http.post("/api/strategies/reload").status_code == 401
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
