"""`optrunner serve` on a live feed and with `--on-stop flatten`, as a user runs them: two
subprocesses — `optrunner feed serve` replaying a synthetic day over the feed protocol and
`optrunner serve --feed ws://...` trading it on the paper broker — then SIGTERM, which
flattens every position before exit 0 (checked in the store, not only in the API)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from test_service_e2e import free_port, wait_until

from optrunner.live.recovery import latest_checkpoint
from optrunner.store import Store
from service_cases import DAY, STRATEGY, TOKEN, make_case

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _start(cmd: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OPTRUNNER_API_TOKEN": TOKEN}
    return subprocess.Popen([sys.executable, "-m", "optrunner.cli", *cmd], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip


def _stop(proc: subprocess.Popen) -> tuple[int, str, float]:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    return proc.returncode, out, time.monotonic() - started


def _net_by_contract(store_url: str) -> dict[str, int]:
    store = Store(store_url)
    try:
        net: dict[str, int] = {}
        for f in store.load_fills():
            net[f.contract.id] = net.get(f.contract.id, 0) + f.signed_quantity
        return net
    finally:
        store.close()


def test_serve_trades_a_live_feed_and_flattens_on_sigterm(tmp_path) -> None:
    catalog, configs = make_case(tmp_path)
    feed_port, port = free_port(), free_port()
    store_url = f"sqlite:///{tmp_path / 'feed.sqlite'}"
    # 10 market minutes a second: the 09:20 entry comes about half a second after the subscription
    feed = _start(["feed", "serve", "--data", str(catalog), "--symbol", "NIFTY", "--date", DAY.isoformat(),
                   "--speed", "600", "--port", str(feed_port)])  # fmt: skip
    serve = None
    try:
        time.sleep(0.5)  # the client retries a refused connection anyway; this only saves a backoff
        serve = _start(["serve", "--config-dir", str(configs), "--feed", f"ws://127.0.0.1:{feed_port}",
                        "--store", store_url, "--port", str(port), "--on-stop", "flatten"])  # fmt: skip
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            wait_until(lambda: http.get("/api/health").status_code == 200, 60, "the service to answer")
            positions = wait_until(lambda: http.get("/integrated/trading/positions", headers=AUTH).json()["open_legs"],
                                   30, "a position from the feed's chains")  # fmt: skip
            assert positions >= 2  # the strangle's two short legs
            fills = http.get("/api/fills", headers=AUTH).json()
            assert fills and all(f["strategy"] == STRATEGY for f in fills)
            status = http.get("/integrated/trading/status", headers=AUTH).json()
            assert status["session_day"] == DAY.isoformat() and status["feed_state"] == "replaying"
            health = http.get("/api/health").json()
            assert health["feed"]["inputs"] > 0 and health["feed"]["last_tick_age_seconds"] < 5
            assert "websocket_connected 1.0" in http.get("/metrics").text
            feed.kill()  # the feed goes away: the metric says so, the session carries on (stale)
            feed.communicate()
            wait_until(lambda: "websocket_connected 0.0" in http.get("/metrics").text, 10, "the feed seen down")
            assert http.get("/api/health").json()["feed"]["state"] == "replaying"
        code, out, took = _stop(serve)
    finally:
        for proc in (serve, feed):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert code == 0, out
    assert took < 5.0, f"SIGTERM took {took:.1f} s"
    assert "Traceback" not in out and TOKEN not in out
    assert "flatten order(s) sent, 0 leg(s) still open" in out, out
    net = _net_by_contract(store_url)
    assert net and all(q == 0 for q in net.values()), net  # the store's fills: every leg bought back
    store = Store(store_url)
    try:
        assert not store.load_orders(open_only=True)
        checkpoint = latest_checkpoint(store)
        assert checkpoint is not None and checkpoint.payload["kernel"]["safety"]["pending"] == {}
    finally:
        store.close()


def test_sigterm_keeps_positions_by_default(tmp_path) -> None:
    catalog, configs = make_case(tmp_path)
    port = free_port()
    store_url = f"sqlite:///{tmp_path / 'keep.sqlite'}"
    serve = _start(["serve", "--config-dir", str(configs), "--data", str(catalog), "--date", DAY.isoformat(),
                    "--store", store_url, "--port", str(port), "--pace-ms", "20"])  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            wait_until(lambda: http.get("/api/health").status_code == 200, 60, "the service to answer")
            wait_until(lambda: http.get("/integrated/trading/positions", headers=AUTH).json()["open_legs"],
                       30, "a position")  # fmt: skip
        code, out, _ = _stop(serve)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.communicate()
    assert code == 0, out
    assert "flatten order" not in out
    net = _net_by_contract(store_url)
    assert any(q != 0 for q in net.values()), net  # still holding: a restart resumes the session


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--feed", "http://127.0.0.1:1"], "is not a feed address"),
        (["--feed", "ws://127.0.0.1:1", "--data", "x", "--date", "2026-01-05"], "either --data"),
        ([], "either --data"),
        (["--data", "x"], "--data needs --date"),
        (["--feed", "ws://127.0.0.1:1", "--date", "2026-01-05"], "--date goes with --data"),
    ],
)
def test_serve_source_options_are_checked(tmp_path, args: list[str], message: str) -> None:
    configs = tmp_path / "configs"
    configs.mkdir()
    r = subprocess.run([sys.executable, "-m", "optrunner.cli", "serve", "--config-dir", str(configs), *args],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and message in r.stderr + r.stdout, r.stderr + r.stdout
    assert "Traceback" not in r.stderr
