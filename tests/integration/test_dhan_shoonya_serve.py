"""`optrunner serve --live --broker dhan|shoonya` end to end against their fakes: a replayed
synthetic day traded through the adapters' real HTTP code, the service's health and metrics
showing the live broker, the store's filled orders equal to the orders filled at the broker
(matched by correlationId / remarks), nothing sent twice, flat at the close, no secret printed —
and parity: the orders the live session sent (ids, contracts, sides, quantities, limits) are
the orders a backtest of the same day sends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from feed_serve import wait_finished
from test_kite_serve import day_contracts

from fakes import dhan_server, shoonya_server
from fakes.server_thread import ServerThread
from optrunner.backtest.commands import load_configs
from optrunner.backtest.engine import BacktestSpec, run_backtest
from optrunner.execution.brokers.live.adapter import tag_for
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from optrunner.instruments.specs import get_index
from optrunner.store import Store
from service_cases import DAY, make_case

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
API_TOKEN = "dhan-shoonya-serve-api-token-42"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_fake(name: str, catalog: Path, tmp: Path) -> tuple[object, ServerThread, dict[str, str], str]:
    """(fake, its server, the env for serve, the secret that must never be printed)."""
    spec = get_index("NIFTY")
    contracts = day_contracts(catalog)
    if name == "dhan":
        rows = [dhan_server.instrument_row(str(40000 + i), "NIFTY", c.expiry.isoformat(), c.strike, c.right.value,
                                           spec.lot_size(c.expiry, DAY)) for i, c in enumerate(contracts)]  # fmt: skip
        fake = dhan_server.DhanFake(instruments_csv=dhan_server.CSV_HEADER + "\n" + "\n".join(rows) + "\n")
        server = ServerThread(dhan_server.create_app(fake)).start()
        env = {"OPTRUNNER_DHAN_API_ROOT": server.url + "/v2", "OPTRUNNER_DHAN_USER_ID": fake.client_id,
               "OPTRUNNER_DHAN_INSTRUMENTS_URL": server.url + "/api-scrip-master.csv",
               "OPTRUNNER_DHAN_ORDER_WS_ROOT": server.ws_url + "/"}  # fmt: skip
        TokenStore(tmp / "tokens").save(SessionToken("dhan", Secret(fake.access_token), datetime.now(UTC) + timedelta(days=1),
                                                     fake.client_id))  # fmt: skip
        secret = fake.access_token
    else:
        rows = [shoonya_server.symbol_row(str(40000 + i), "NIFTY", c.expiry.isoformat(), c.strike, c.right.value,
                                          spec.lot_size(c.expiry, DAY)) for i, c in enumerate(contracts)]  # fmt: skip
        fake = shoonya_server.ShoonyaFake(instruments=rows)
        server = ServerThread(shoonya_server.create_app(fake)).start()
        key = "shoonya-session-key-0123456789abcdef"
        fake.tokens.add(key)
        env = {"OPTRUNNER_SHOONYA_API_ROOT": server.url, "OPTRUNNER_SHOONYA_USER_ID": fake.uid,
               "OPTRUNNER_SHOONYA_INSTRUMENTS_URL": server.url + "/NFO_symbols.txt.zip"}  # fmt: skip
        TokenStore(tmp / "tokens").save(SessionToken("shoonya", Secret(key), datetime.now(UTC) + timedelta(days=1),
                                                     fake.uid, extra={"actid": fake.uid}))  # fmt: skip
        secret = key
    fake.fill_at_limit = True  # type: ignore[attr-defined]
    return fake, server, env, secret


def serve(name: str, tmp: Path, broker_env: dict[str, str], configs: Path, catalog: Path, port: int,
          *extra: str) -> subprocess.Popen:  # fmt: skip
    """``optrunner serve --live --broker NAME`` on the replayed day, its store in ``tmp``."""
    env = os.environ | broker_env | {
        "OPTRUNNER_TOKEN_DIR": str(tmp / "tokens"), "XDG_CONFIG_HOME": str(tmp / "xdg"),
        "OPTRUNNER_SECRETS_FILE": str(tmp / "none.json"), "OPTRUNNER_API_TOKEN": API_TOKEN,
        "PYTHONPATH": str(ROOT / "src")}  # fmt: skip
    cmd = [sys.executable, "-m", "optrunner.cli", "serve", "--live", "--broker", name, "--yes", "--config-dir",
           str(configs), "--data", str(catalog), "--date", DAY.isoformat(), "--store", f"sqlite:///{tmp / 's.sqlite'}",
           "--port", str(port), "--reconcile-seconds", "300", *extra]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


@pytest.mark.parametrize("name", ["dhan", "shoonya"])
def test_serve_live_trades_a_replayed_day(tmp_path: Path, name: str) -> None:
    catalog, configs = make_case(tmp_path)
    fake, server, broker_env, secret = start_fake(name, catalog, tmp_path)
    port = free_port()
    proc = serve(name, tmp_path, broker_env, configs, catalog, port)
    try:
        health = wait_finished(proc, port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10,
                          headers={"Authorization": f"Bearer {API_TOKEN}"}) as http:  # fmt: skip
            assert health.get("feed", {}).get("state") == "finished", health
            assert (health["mode"], health["broker"], health["broker_ok"]) == ("live", name, True)
            metrics = http.get("/metrics").text
        assert f'orders_placed_total{{broker="{name}",mode="live"}}' in metrics
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0, out
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    ours = {o.client_id: o for o in store.load_orders()}
    store.close()
    filled = {cid for cid, o in ours.items() if str(o.state) == "FILLED"}
    if name == "dhan":
        at_broker = {o["correlationId"]: o for o in fake.orders.values()}  # type: ignore[attr-defined]
        done = {t for t, o in at_broker.items() if o["orderStatus"] == "TRADED"}
        net = [p["netQty"] for p in fake.positions()]  # type: ignore[attr-defined]
    else:
        at_broker = {o["remarks"]: o for o in fake.orders.values()}  # type: ignore[attr-defined]
        done = {t for t, o in at_broker.items() if o["status"] == "COMPLETE"}
        net = [int(p["netqty"]) for p in fake.positions()]  # type: ignore[attr-defined]
    assert len(filled) >= 4  # the strategy entered, adjusted and exited
    assert {tag_for(cid, 25) for cid in filled} == done
    assert len(at_broker) == len(fake.orders)  # type: ignore[attr-defined]  # one broker order per tag
    assert set(net) == {0}  # flat at the broker at the close
    assert secret not in out
    if name == "dhan":  # the session listened to Dhan's Live Order Update WebSocket
        assert fake.ws_logins and fake.ws_logins[0]["LoginReq"]["ClientId"] == fake.client_id  # type: ignore[attr-defined]
    # parity: the live session sent the orders the backtest of the same day sends
    cfgs, _ = load_configs([configs])
    backtest = run_backtest(BacktestSpec(cfgs, catalog, DAY, DAY)).recorder.orders
    key = lambda o: (o.client_id, o.contract.id, str(o.side), o.quantity, o.limit_price)  # noqa: E731
    assert sorted(key(o) for o in ours.values() if o.client_id in filled) == sorted(map(key, backtest.values()))
