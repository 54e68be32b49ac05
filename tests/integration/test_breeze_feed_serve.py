"""`optrunner serve --feed breeze`: a session on live ICICI Breeze data — the fake Breeze's
socket.io stream pushes quotes, the session logs in to the stream with the stored session,
joins the NIFTY index and ATM ± 20 strikes of the nearest expiry, and its node runs on the
chains it builds: with paper fills, and with orders at (fake) Kite — "Breeze data + Kite
orders". Breeze is data only: nothing but quotes is asked of it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feed_serve import market, serve_on_feed

from fakes.breeze_server import BreezeFake, create_app, master_row
from fakes.server_thread import ServerThread
from optrunner.core.clock import LiveClock
from optrunner.core.types import Right
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from optrunner.instruments.contracts import OptionContract
from service_cases import make_case

pytestmark = pytest.mark.slow
SPOT = "4.1!NIFTY 50"
EXPIRY = LiveClock().now().date() + timedelta(days=6)
STRIKES = [23000.0 + 50 * i for i in range(81)]


@contextmanager
def breeze_market(tmp: Path) -> Iterator[tuple[BreezeFake, dict[str, str]]]:
    """The fake Breeze with today's session stored, quoting spot and every joined option ten
    times a second; yields it and the environment that points serve at it."""
    rows = [master_row(50000 + 2 * i + j, "NIFTY", EXPIRY, k, r, 65)
            for i, k in enumerate(STRIKES) for j, r in enumerate(("CE", "PE"))]  # fmt: skip
    fake = BreezeFake(master_rows=rows)
    TokenStore(tmp / "tokens").save(SessionToken("breeze", Secret(fake.session_key),
                                                 datetime.now(UTC) + timedelta(hours=20), fake.user_id))  # fmt: skip

    def push() -> None:
        fake.push_quote(SPOT, 25010.0)
        for key in sorted(fake.subscribed - {SPOT}):
            fake.push_quote(key, 50.0, bid=49.5, bid_qty=650, ask=50.5, ask_qty=650, oi=100, volume=1000)

    with ServerThread(create_app(fake)) as server, market(push):
        yield fake, {"OPTRUNNER_BREEZE_API_ROOT": server.url, "OPTRUNNER_BREEZE_WS_ROOT": server.ws_url,
                     "OPTRUNNER_BREEZE_API_KEY": fake.api_key,
                     "OPTRUNNER_BREEZE_INSTRUMENTS_URL": server.url + "/SecurityMaster.zip"}  # fmt: skip


def joined_the_window(fake: BreezeFake) -> None:
    assert len(fake.subscribed) == 1 + 2 * 41  # the index and ATM +- 20 strikes, CE and PE
    assert fake.connects == 1 and fake.auths == [{"user": fake.user_id, "token": fake.session_key}]


def test_serve_paper_on_live_breeze_data(tmp_path: Path) -> None:
    _, configs = make_case(tmp_path)
    with breeze_market(tmp_path) as (fake, env):
        out = serve_on_feed(tmp_path, "breeze", configs, env, while_running=lambda _h: joined_the_window(fake))
    assert fake.session_key not in out
    assert "live breeze data" in out


def test_serve_breeze_data_with_kite_orders(tmp_path: Path) -> None:
    from kite_cases import settings_env

    from fakes.kite_server import FakeKite, instrument_csv

    _, configs = make_case(tmp_path)
    kite = FakeKite(instrument_csv([OptionContract("NIFTY", EXPIRY, k, r) for k in STRIKES
                                    for r in (Right.CE, Right.PE)])).start()  # fmt: skip
    access = "kite-access-token-breeze-data-0001"
    kite.issue_token(access)
    TokenStore(tmp_path / "tokens").save(SessionToken("kite", Secret(access), datetime.now(UTC) + timedelta(hours=20)))
    try:
        with breeze_market(tmp_path) as (fake, env):
            out = serve_on_feed(tmp_path, "breeze", configs, env | settings_env(kite, tmp_path),
                                "--live", "--broker", "kite", "--yes", expect=("live", "kite"),
                                while_running=lambda _h: joined_the_window(fake))  # fmt: skip
    finally:
        kite.stop()
    assert "optrunner serve: live (kite)" in out and "on live breeze data" in out
    assert fake.session_key not in out and access not in out
