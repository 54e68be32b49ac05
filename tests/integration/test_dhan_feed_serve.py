"""`optrunner serve --feed dhan` (paper fills, and ``--live --broker dhan`` orders) on live Dhan data — the fake Dhan's Live
Market Feed pushes binary ticker (index) and full (options) packets, the session subscribes the
index and ATM ± 20 strikes of the nearest expiry and trades on the chains it builds (paper
fills); the access token, which rides in the feed's URL, is never printed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from feed_serve import market, serve_on_feed

from fakes import dhan_packets as P
from fakes.dhan_server import CSV_HEADER, DhanFake, create_app, instrument_row
from fakes.server_thread import ServerThread
from optrunner.core.clock import LiveClock
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from service_cases import make_case

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", ["paper", "live"])
def test_serve_on_live_dhan_data(tmp_path: Path, mode: str) -> None:
    _, configs = make_case(tmp_path)
    expiry = LiveClock().now().date() + timedelta(days=6)
    rows = [instrument_row(str(50000 + 2 * i + j), "NIFTY", expiry.isoformat(), 23000.0 + 50 * i, r, 65)
            for i in range(81) for j, r in enumerate(("CE", "PE"))]  # fmt: skip
    fake = DhanFake(instruments_csv=CSV_HEADER + "\n" + "\n".join(rows) + "\n")
    TokenStore(tmp_path / "tokens").save(SessionToken("dhan", Secret(fake.access_token),
                                                      datetime.now(UTC) + timedelta(hours=20), fake.client_id))  # fmt: skip

    def push() -> None:  # spot and every subscribed option, one message
        frame = P.ticker(P.IDX_I, 13, 25010.0)
        for seg, sid in sorted(fake.feed_subscribed):
            if seg == "NSE_FNO":
                frame += P.full(P.NSE_FNO, int(sid), 50.0, 49.5, 50.5, bid_qty=650, ask_qty=650, oi=100)
        if fake._feed_sockets:
            fake.push_feed(frame)

    def running(health: dict[str, Any]) -> None:
        if mode == "live":  # orders on Dhan: its order-update socket logged in besides the market feed
            assert [m["LoginReq"]["MsgCode"] for m in fake.ws_logins] == [42]
        subs = dict(fake.feed_subscribed)
        assert subs.pop(("IDX_I", "13")) == 15  # the index in ticker mode
        assert len(subs) == 2 * 41 and set(subs.values()) == {21}  # ATM +- 20 strikes, CE and PE, full mode
        assert fake.feed_connects == 1
        assert all(len(m["InstrumentList"]) <= 100 for m in fake.feed_requests)

    with ServerThread(create_app(fake)) as server, market(push):
        env = {"OPTRUNNER_DHAN_API_ROOT": server.url + "/v2", "OPTRUNNER_DHAN_WS_ROOT": server.ws_url + "/",
               "OPTRUNNER_DHAN_USER_ID": fake.client_id,
               "OPTRUNNER_DHAN_INSTRUMENTS_URL": server.url + "/api-scrip-master.csv",
               "OPTRUNNER_DHAN_ORDER_WS_ROOT": server.ws_url + "/"}  # fmt: skip
        live = ("--live", "--broker", "dhan", "--yes") if mode == "live" else ()
        expect = ("paper", "paper") if mode == "paper" else ("live", "dhan")
        out = serve_on_feed(tmp_path, "dhan", configs, env, *live, expect=expect, while_running=running)
    assert "live dhan data" in out
    assert fake.access_token not in out
