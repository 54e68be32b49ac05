"""`optrunner serve --live --broker kite` end to end against the fake Kite: a replayed synthetic
day traded through the real SDK, the service's API and metrics showing it live, the store's
orders equal to the orders at the broker (matched by tag) and to the backtest's orders for the
same day (parity), no secret printed; and a session that expired is refused before anything
starts. The fake fills a limit order at its limit (it has no replayed quotes), so fill prices
differ from the backtest's; this strategy's decisions depend on the market, not on its fills."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from feed_serve import wait_finished
from kite_cases import settings_env

from fakes.kite_server import API_SECRET, FakeKite, free_port, instrument_csv
from optrunner.core.types import Right
from optrunner.data.catalog import Catalog
from optrunner.execution.brokers.live.adapter import tag_for
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.symbology import format_symbol
from optrunner.store import Store
from service_cases import DAY, make_case

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
API_TOKEN = "kite-serve-test-token-0123456789"
ACCESS = "fake-access-token-000000000555"


def day_contracts(catalog: Path) -> list[OptionContract]:
    seen: set[OptionContract] = set()
    for snap in Catalog(catalog).snapshots("NIFTY", DAY, DAY):
        for e, k, c in zip(snap.expiry.astype("datetime64[D]").astype(object), snap.strike, snap.is_call, strict=True):
            seen.add(OptionContract("NIFTY", e, float(k), Right.CE if c else Right.PE))
    return sorted(seen)


def serve(tmp: Path, fake: FakeKite, configs: Path, catalog: Path, port: int, *extra: str) -> subprocess.Popen:
    env = os.environ | settings_env(fake, tmp) | {
        "OPTRUNNER_TOKEN_DIR": str(tmp / "tokens"), "XDG_CONFIG_HOME": str(tmp / "xdg"), "OPTRUNNER_API_TOKEN": API_TOKEN,
        "PYTHONPATH": str(ROOT / "src")}  # fmt: skip
    cmd = [sys.executable, "-m", "optrunner.cli", "serve", "--live", "--broker", "kite", "--yes", "--config-dir",
           str(configs), "--data", str(catalog), "--date", DAY.isoformat(), "--store", f"sqlite:///{tmp / 's.sqlite'}",
           "--port", str(port), *extra]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def test_serve_live_kite_trades_a_replayed_day(tmp_path: Path) -> None:
    catalog, configs = make_case(tmp_path)
    fake = FakeKite(instrument_csv(day_contracts(catalog))).start()
    fake.fill_at_limit = True
    fake.issue_token(ACCESS)
    TokenStore(tmp_path / "tokens").save(SessionToken("kite", Secret(ACCESS), datetime.now(UTC) + timedelta(hours=20)))
    port = free_port()
    proc = serve(tmp_path, fake, configs, catalog, port, "--reconcile-seconds", "300")
    try:
        health = wait_finished(proc, port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10,
                          headers={"Authorization": f"Bearer {API_TOKEN}"}) as http:  # fmt: skip
            assert health.get("feed", {}).get("state") == "finished", health
            assert (health["mode"], health["broker"], health["broker_ok"]) == ("live", "kite", True)
            orders = http.get("/api/orders").json()
            metrics = http.get("/metrics").text
        assert 'orders_placed_total{broker="kite",mode="live"}' in metrics
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0, out
    finally:
        if proc.poll() is None:
            proc.kill()
        fake.stop()
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    ours = {o.client_id: o for o in store.load_orders()}
    store.close()
    filled = {cid for cid, o in ours.items() if str(o.state) == "FILLED"}
    at_kite = {o.form["tag"]: o for o in fake.orders.values()}
    assert len(filled) >= 4 and len(orders) >= 4  # the strategy entered, adjusted and exited
    assert {tag_for(cid) for cid in filled} == {t for t, o in at_kite.items() if o.status == "COMPLETE"}
    assert len(at_kite) == len(fake.orders)  # one broker order per tag: nothing sent twice
    net = {o.form["tradingsymbol"]: fake.net_position(o.form["tradingsymbol"]) for o in fake.orders.values()}
    assert set(net.values()) == {0}  # the day ended flat at the broker
    assert ACCESS not in out and API_SECRET not in out and "kite" in out and np.isfinite(len(out))
    # parity: the orders Kite received are the backtest's orders for the same day (same ids, legs, sizes)
    from optrunner.backtest.engine import BacktestSpec, run_backtest
    from optrunner.config import load_config_file

    bt = run_backtest(BacktestSpec([load_config_file(configs / "SVC.json")], catalog, DAY, DAY))
    want = {o.client_id: (o.contract.id, str(o.side), o.quantity) for o in bt.kernel.om.orders()}
    sent = {cid: (o.contract.id, str(o.side), o.quantity) for cid, o in ours.items()}
    assert sent == want
    at_broker = {o.form["tag"]: (o.form["tradingsymbol"], o.form["transaction_type"], int(o.form["quantity"]))
                 for o in fake.orders.values()}  # fmt: skip
    assert at_broker == {tag_for(o.client_id): (format_symbol(o.contract, "kite"), str(o.side), o.quantity)
                         for o in bt.kernel.om.orders()}  # fmt: skip


def test_serve_live_refuses_an_expired_session(tmp_path: Path) -> None:
    catalog, configs = make_case(tmp_path)
    fake = FakeKite(instrument_csv([])).start()
    try:
        TokenStore(tmp_path / "tokens").save(SessionToken("kite", Secret(ACCESS), datetime(2026, 1, 2, 0, 30, tzinfo=UTC)))
        proc = serve(tmp_path, fake, configs, catalog, free_port())
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 2, out
        assert "the kite session expired at 2026-01-02 06:00 IST" in out and "optrunner broker login kite" in out
        assert not fake.orders and ACCESS not in out
    finally:
        fake.stop()


def test_serve_paper_on_live_kite_data(tmp_path: Path) -> None:
    import threading

    from feed_serve import serve_on_feed
    from kite_cases import CONTRACTS

    from fakes.kite_server import full_packet, index_packet, tick_frame

    _, configs = make_case(tmp_path)
    fake = FakeKite(instrument_csv(CONTRACTS)).start()
    fake.issue_token(ACCESS)
    TokenStore(tmp_path / "tokens").save(SessionToken("kite", Secret(ACCESS), datetime.now(UTC) + timedelta(hours=20)))
    stop = threading.Event()

    def ticker() -> None:  # the market: spot and every subscribed option, ten times a second
        while not stop.wait(0.1):
            pk = [index_packet(256265, 24010.0, int(time.time()))]
            pk += [full_packet(t, 50.0, 49.5, 50.5, oi=100) for t in sorted(fake.subscribed - {256265})]
            fake.send_ticks(tick_frame(pk))

    def check(_health: object) -> None:
        assert len(fake.subscribed) == 1 + 2 * 41 and set(fake.modes.values()) == {"full"}  # ATM +- 20 strikes

    threading.Thread(target=ticker, daemon=True).start()
    try:
        out = serve_on_feed(tmp_path, "kite", configs, settings_env(fake, tmp_path), while_running=check)
    finally:
        stop.set()
        fake.stop()
    assert ACCESS not in out
