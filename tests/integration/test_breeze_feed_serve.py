"""`optrunner serve --feed breeze`: a paper session on live ICICI Breeze data — the fake
Breeze's socket.io stream pushes quotes, the session logs in to the stream with the stored
session, joins the NIFTY index and ATM ± 20 strikes of the nearest expiry, and its node trades
(paper fills) on the chains it builds. Breeze is data only: no order socket is opened."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feed_serve import serve_on_feed

from fakes.breeze_server import BreezeFake, create_app, master_row
from fakes.server_thread import ServerThread
from optrunner.core.clock import LiveClock
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from service_cases import make_case

pytestmark = pytest.mark.slow
SPOT = "4.1!NIFTY 50"


def test_serve_paper_on_live_breeze_data(tmp_path: Path) -> None:
    _, configs = make_case(tmp_path)
    expiry = LiveClock().now().date() + timedelta(days=6)
    rows = [master_row(50000 + 2 * i + j, "NIFTY", expiry, 23000.0 + 50 * i, r, 65)
            for i in range(81) for j, r in enumerate(("CE", "PE"))]  # fmt: skip
    fake = BreezeFake(master_rows=rows)
    TokenStore(tmp_path / "tokens").save(SessionToken("breeze", Secret(fake.session_key),
                                                      datetime.now(UTC) + timedelta(hours=20), fake.user_id))  # fmt: skip
    stop = threading.Event()
    with ServerThread(create_app(fake)) as server:

        def market() -> None:  # spot and every subscribed option, ten times a second
            while not stop.wait(0.1):
                fake.push_quote(SPOT, 25010.0)
                for key in sorted(fake.subscribed - {SPOT}):
                    fake.push_quote(key, 50.0, bid=49.5, bid_qty=650, ask=50.5, ask_qty=650, oi=100, volume=1000)

        def check(_health: object) -> None:
            assert len(fake.subscribed) == 1 + 2 * 41  # the index and ATM +- 20 strikes, CE and PE
            assert fake.connects == 1 and fake.auths == [{"user": fake.user_id, "token": fake.session_key}]

        threading.Thread(target=market, daemon=True).start()
        env = {"OPTRUNNER_BREEZE_API_ROOT": server.url, "OPTRUNNER_BREEZE_WS_ROOT": server.ws_url,
               "OPTRUNNER_BREEZE_API_KEY": fake.api_key,
               "OPTRUNNER_BREEZE_INSTRUMENTS_URL": server.url + "/SecurityMaster.zip"}  # fmt: skip
        try:
            out = serve_on_feed(tmp_path, "breeze", configs, env, while_running=check)
        finally:
            stop.set()
    assert fake.session_key not in out
    assert "live breeze data" in out
