"""`optrunner serve --live --adopt` end to end against the fake Dhan and the fake Kite (issue 15): a position
opened by hand at the broker before the session refuses to go live (fail closed, saying to use
--adopt); --adopt without a strategy for a position no order of ours explains refuses too;
--adopt --adopt-strategy takes it into the book, journaled, and the day trades without any
reconciliation halt; a restart without --adopt finds the books matching and goes live."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from feed_serve import wait_finished
from test_dhan_shoonya_serve import API_TOKEN, free_port, serve, start_fake
from test_kite_serve import ACCESS, day_contracts
from test_kite_serve import API_TOKEN as KITE_API_TOKEN
from test_kite_serve import serve as serve_kite

from optrunner.core.types import Right
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.specs import get_index
from optrunner.instruments.symbology import format_symbol
from optrunner.live.node import RECONCILIATION
from optrunner.store import Store
from service_cases import DAY, STRATEGY, make_case

pytestmark = pytest.mark.slow


@dataclass
class Broker:
    """One fake broker behind ``serve --live``: how to start the service on it, its order
    count, the secret that must never be printed, how to stop it."""

    name: str
    serve: Callable[..., subprocess.Popen]
    orders: Callable[[], int]
    secret: str
    stop: Callable[[], None]
    api_token: str = API_TOKEN


def open_broker(name: str, tmp: Path, catalog: Path, far: OptionContract, lot: int) -> Broker:
    """The fake with a position opened by hand before the session: ``far`` sold at 12.5."""
    contracts = day_contracts(catalog)
    if name == "kite":
        from fakes.kite_server import API_KEY, FakeKite, instrument_csv

        kite = FakeKite(instrument_csv(contracts, lot)).start()
        kite.issue_token(ACCESS)
        kite.fill_at_limit = True
        TokenStore(tmp / "tokens").save(SessionToken("kite", Secret(ACCESS), datetime.now(UTC) + timedelta(hours=20)))
        form = {"exchange": "NFO", "tradingsymbol": format_symbol(far, "kite"), "transaction_type": "SELL",
                "quantity": str(lot), "product": "NRML", "order_type": "LIMIT", "price": "12.5", "validity": "DAY"}  # fmt: skip
        httpx.post(kite.api_root + "/orders/regular", data=form,
                   headers={"X-Kite-Version": "3", "Authorization": f"token {API_KEY}:{ACCESS}"}).raise_for_status()  # fmt: skip
        assert kite.net_position(format_symbol(far, "kite")) == -lot
        return Broker(name, lambda configs, port, *extra: serve_kite(tmp, kite, configs, catalog, port,
                                                                     "--reconcile-seconds", "300", *extra),
                      lambda: len(kite.orders), ACCESS, kite.stop, KITE_API_TOKEN)  # fmt: skip
    fake, server, env, secret = start_fake("dhan", catalog, tmp)
    body = {"dhanClientId": fake.client_id, "transactionType": "SELL", "exchangeSegment": "NSE_FNO",
            "productType": "MARGIN", "orderType": "LIMIT", "price": 12.5,
            "securityId": str(40000 + contracts.index(far)), "quantity": lot}  # fmt: skip
    httpx.post(server.url + "/v2/orders", json=body,
               headers={"access-token": fake.access_token, "client-id": fake.client_id}).raise_for_status()  # fmt: skip
    assert [p["netQty"] for p in fake.positions()] == [-lot]
    return Broker(name, lambda configs, port, *extra: serve("dhan", tmp, env, configs, catalog, port, *extra),
                  lambda: len(fake.orders), secret, server.stop)  # fmt: skip


@pytest.mark.parametrize("name", ["dhan", "kite"])
def test_serve_live_refuses_a_mismatch_and_adopts_deliberately(tmp_path: Path, name: str) -> None:
    catalog, configs = make_case(tmp_path)
    far = min((c for c in day_contracts(catalog) if c.right is Right.PE), key=lambda c: c.strike)  # never traded
    lot = get_index("NIFTY").lot_size(far.expiry, DAY)
    b = open_broker(name, tmp_path, catalog, far, lot)
    try:
        # 1. the book (empty) differs from the broker's: refused, nothing sent
        out, code = run_to_end(b.serve(configs, free_port()))
        assert code == 2, out
        assert f"{far.id}: book +0, broker {-lot:+d}" in out and "--adopt" in out and "not going live" in out
        assert b.orders() == 1 and b.secret not in out

        # 2. --adopt, but no order of ours explains the position and no strategy is named: refused
        out, code = run_to_end(b.serve(configs, free_port(), "--adopt"))
        assert code == 2, out
        assert "no order of ours explains it" in out and "--adopt-strategy" in out and b.orders() == 1

        # 3. adopted into SVC: journaled, the day trades, no reconciliation difference after it
        port = free_port()
        proc = b.serve(configs, port, "--adopt", "--adopt-strategy", STRATEGY)
        try:
            health = wait_finished(proc, port)
            assert health.get("feed", {}).get("state") == "finished", health
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10,
                              headers={"Authorization": f"Bearer {b.api_token}"}) as http:  # fmt: skip
                strategies = http.get("/api/strategies").json()
        finally:
            out = stop(proc)
        assert f"adopted from {name}: {STRATEGY} {far.id} {-lot:+d} @ 12.5" in out, out
        assert b.orders() > 1 and b.secret not in out  # the strategy traded its day
        assert [(s["name"], s["halted"]) for s in strategies] == [(STRATEGY, False)], strategies
        store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
        recs = [e.payload for e in store.journal() if e.kind == RECONCILIATION]
        store.close()
        assert [(r["strategy"], r["contract"], r["book"], r["venue"]) for r in recs] == [(STRATEGY, far.id, 0, -lot)], recs
        assert "--adopt" in recs[0]["detail"]

        # 4. a restart without --adopt: the recovered book holds the position, so it goes live
        port = free_port()
        proc = b.serve(configs, port)
        try:
            health = wait_finished(proc, port)
            assert health.get("feed", {}).get("state") == "finished", health
        finally:
            out = stop(proc)
        assert "differs" not in out and "not going live" not in out
    finally:
        b.stop()


def run_to_end(proc) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    out, _ = proc.communicate(timeout=60)
    return out, proc.returncode


def stop(proc) -> str:  # type: ignore[no-untyped-def]
    """SIGTERM: the service exits 0 (its journal flushed); returns what it printed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=20)
    except Exception:
        proc.kill()
        raise
    assert proc.returncode == 0, out
    return out
