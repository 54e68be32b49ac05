"""`optrunner serve --feed shoonya`: a paper session on live Shoonya data — the Noren WebSocket
of the fake Shoonya pushes touchline quotes, the session subscribes the index and ATM ± 20
strikes of the nearest expiry and trades on the chains it builds (paper fills)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from feed_serve import market, serve_on_feed

from fakes.server_thread import ServerThread
from fakes.shoonya_server import ShoonyaFake, create_app, symbol_row
from optrunner.core.clock import LiveClock
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from service_cases import make_case

pytestmark = pytest.mark.slow
SPOT = "NSE|26000"
KEY = "shoonya-session-key-feed-0123456789"


def test_serve_paper_on_live_shoonya_data(tmp_path: Path) -> None:
    _, configs = make_case(tmp_path)
    expiry = LiveClock().now().date() + timedelta(days=6)
    rows = [symbol_row(str(50000 + 2 * i + j), "NIFTY", expiry.isoformat(), 23000.0 + 50 * i, r, 65)
            for i in range(81) for j, r in enumerate(("CE", "PE"))]  # fmt: skip
    fake = ShoonyaFake(instruments=rows)
    fake.tokens.add(KEY)
    TokenStore(tmp_path / "tokens").save(SessionToken("shoonya", Secret(KEY), datetime.now(UTC) + timedelta(hours=20),
                                                      fake.uid, extra={"actid": fake.uid}))  # fmt: skip

    def push() -> None:  # spot and every subscribed option
        fake.push_quote(SPOT, lp="25010.00")
        for key in sorted(fake.subscribed - {SPOT}):
            fake.push_quote(key, lp="50.00", bp1="49.50", sp1="50.50", bq1="650", sq1="650", oi="100")

    def running(health: dict[str, Any]) -> None:
        assert len(fake.subscribed) == 1 + 2 * 41  # the index and ATM +- 20 strikes, CE and PE
        assert fake.ws_connects == 1 and len(fake._order_sockets) == 1

    with ServerThread(create_app(fake)) as server, market(push):
        env = {"OPTRUNNER_SHOONYA_API_ROOT": server.url, "OPTRUNNER_SHOONYA_WS_ROOT": server.ws_url + "/NorenWSTP/",
               "OPTRUNNER_SHOONYA_USER_ID": fake.uid,
               "OPTRUNNER_SHOONYA_INSTRUMENTS_URL": server.url + "/NFO_symbols.txt.zip"}  # fmt: skip
        out = serve_on_feed(tmp_path, "shoonya", configs, env, while_running=running)
    assert KEY not in out
