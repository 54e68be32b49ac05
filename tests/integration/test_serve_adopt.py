"""`optrunner serve --live --adopt` end to end against the fake Dhan (issue 15): a position
opened by hand at the broker before the session refuses to go live (fail closed, saying to use
--adopt); --adopt without a strategy for a position no order of ours explains refuses too;
--adopt --adopt-strategy takes it into the book, journaled, and the day trades without any
reconciliation halt; a restart without --adopt finds the books matching and goes live."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from test_dhan_shoonya_serve import API_TOKEN, free_port, serve, start_fake, wait_finished
from test_kite_serve import day_contracts

from optrunner.core.types import Right
from optrunner.instruments.specs import get_index
from optrunner.live.node import RECONCILIATION
from optrunner.store import Store
from service_cases import DAY, STRATEGY, make_case

pytestmark = pytest.mark.slow


def test_serve_live_refuses_a_mismatch_and_adopts_deliberately(tmp_path: Path) -> None:
    catalog, configs = make_case(tmp_path)
    fake, server, env, secret = start_fake("dhan", catalog, tmp_path)
    contracts = day_contracts(catalog)
    far = min((c for c in contracts if c.right is Right.PE), key=lambda c: c.strike)  # the strategy never trades it
    security_id = str(40000 + contracts.index(far))
    lot = get_index("NIFTY").lot_size(far.expiry, DAY)
    try:
        body = {"dhanClientId": fake.client_id, "transactionType": "SELL", "exchangeSegment": "NSE_FNO",
                "productType": "MARGIN", "orderType": "LIMIT", "price": 12.5, "securityId": security_id,
                "quantity": lot}  # fmt: skip
        httpx.post(server.url + "/v2/orders", json=body,
                   headers={"access-token": fake.access_token, "client-id": fake.client_id}).raise_for_status()  # fmt: skip
        assert [p["netQty"] for p in fake.positions()] == [-lot]

        # 1. the book (empty) differs from the broker's: refused, nothing sent
        out, code = run_to_end(serve("dhan", tmp_path, env, configs, catalog, free_port()))
        assert code == 2, out
        assert f"{far.id}: book +0, broker {-lot:+d}" in out and "--adopt" in out and "not going live" in out
        assert len(fake.orders) == 1 and secret not in out

        # 2. --adopt, but no order of ours explains the position and no strategy is named: refused
        out, code = run_to_end(serve("dhan", tmp_path, env, configs, catalog, free_port(), "--adopt"))
        assert code == 2, out
        assert "no order of ours explains it" in out and "--adopt-strategy" in out and len(fake.orders) == 1

        # 3. adopted into SVC: journaled, the day trades, no reconciliation difference after it
        port = free_port()
        proc = serve("dhan", tmp_path, env, configs, catalog, port, "--adopt", "--adopt-strategy", STRATEGY)
        try:
            health = wait_finished(proc, port)
            assert health.get("feed", {}).get("state") == "finished", health
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10,
                              headers={"Authorization": f"Bearer {API_TOKEN}"}) as http:  # fmt: skip
                strategies = http.get("/api/strategies").json()
        finally:
            out = stop(proc)
        assert f"adopted from dhan: {STRATEGY} {far.id} {-lot:+d} @ 12.5" in out, out
        assert len(fake.orders) > 1  # the strategy traded its day
        assert [(s["name"], s["halted"]) for s in strategies] == [(STRATEGY, False)], strategies
        store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
        recs = [e.payload for e in store.journal() if e.kind == RECONCILIATION]
        store.close()
        assert [(r["strategy"], r["contract"], r["book"], r["venue"]) for r in recs] == [(STRATEGY, far.id, 0, -lot)], recs
        assert "--adopt" in recs[0]["detail"]

        # 4. a restart without --adopt: the recovered book holds the position, so it goes live
        port = free_port()
        proc = serve("dhan", tmp_path, env, configs, catalog, port)
        try:
            health = wait_finished(proc, port)
            assert health.get("feed", {}).get("state") == "finished", health
        finally:
            out = stop(proc)
        assert "differs" not in out and "not going live" not in out
    finally:
        server.stop()


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
