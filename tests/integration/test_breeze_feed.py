"""ICICI Breeze market data against the fake Breeze: the daily login (API_Session ->
customerdetails -> a 0600 session, no secret in any error or log line), the security master
(unknown, expired and inconsistent rows refused), and the socket.io quote stream feeding a
LiveChain — bid/ask/ltp per strike, re-centring (leave + join), ping/pong, and reconnect +
resubscribe after the server drops every connection."""

from __future__ import annotations

import io
import logging
import stat
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from fakes.breeze_server import BreezeFake, create_app, master_row
from fakes.server_thread import ServerThread
from optrunner.cli import app
from optrunner.core.errors import UserError
from optrunner.core.timeutil import IST
from optrunner.core.types import Right
from optrunner.execution.brokers.breeze import auth
from optrunner.execution.brokers.breeze.config import breeze_settings
from optrunner.execution.brokers.breeze.feed import BreezeFeed, parse_quote
from optrunner.execution.brokers.breeze.symbols import (
    InstrumentMasterError,
    load_instruments,
    parse_master,
)
from optrunner.execution.brokers.live.chain import LiveChain
from optrunner.execution.brokers.live.master import InstrumentMasterCache
from optrunner.execution.brokers.live.secrets import Secret, install_log_redaction
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from optrunner.instruments.contracts import OptionContract
from waiting import wait

TODAY = datetime.now(IST).date()
EXPIRY = TODAY + timedelta(days=9)
STRIKES = [25000.0 + 50 * i for i in range(21)]
SPOT = "4.1!NIFTY 50"
API_SESSION = "53125831"



def token_of(strike: float, right: str) -> int:
    return 40000 + 2 * STRIKES.index(strike) + (right == "PE")


def rows() -> list[str]:
    out = [master_row(token_of(k, r), "NIFTY", EXPIRY, k, r, 75) for k in STRIKES for r in ("CE", "PE")]
    out.append(master_row(39999, "NIFTY", TODAY - timedelta(days=1), 25000.0, "CE", 75))  # expired
    out.append(master_row(39998, "NIFTY", EXPIRY, 30000.0, "CE", 75, exchange_code="NIFTY BANK"))  # disagrees
    out.append(master_row(39997, "RELIND", EXPIRY, 1300.0, "CE", 500, instrument="OPTSTK"))  # not an index
    return out


def env_of(fake: BreezeFake, server: ServerThread, tmp: Path) -> dict[str, str]:
    return {"OPTRUNNER_BREEZE_API_ROOT": server.url, "OPTRUNNER_BREEZE_WS_ROOT": server.ws_url,
            "OPTRUNNER_BREEZE_API_KEY": fake.api_key, "OPTRUNNER_BREEZE_SECRET_KEY": "breeze-secret-key-5f5f5f5f",
            "OPTRUNNER_BREEZE_INSTRUMENTS_URL": server.url + "/SecurityMaster.zip",
            "OPTRUNNER_TOKEN_DIR": str(tmp / "tokens"), "OPTRUNNER_SECRETS_FILE": str(tmp / "none.json"),
            "XDG_CONFIG_HOME": str(tmp / "xdg")}  # fmt: skip


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[BreezeFake, ServerThread, dict[str, str]]]:
    fake = BreezeFake(master_rows=rows())
    with ServerThread(create_app(fake)) as server:
        yield fake, server, env_of(fake, server, tmp_path)


def test_login_stores_the_session_0600_until_midnight_ist(served, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    fake, _, env = served
    settings = breeze_settings(environ=env, secrets_file=tmp_path / "none.json")
    store = TokenStore(tmp_path / "tokens")
    now = datetime(2026, 12, 7, 3, 30, tzinfo=UTC)  # 09:00 IST
    tok = auth.login(settings, store, api_session=API_SESSION, now=now)
    assert (tok.user_id, tok.access_token.value) == (fake.user_id, fake.session_key)
    assert tok.expires_at == datetime(2026, 12, 8, 0, 0, tzinfo=IST)  # "24 hours or midnight, whichever is earlier"
    path = store.path("breeze")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.load("breeze") == tok
    # refused: the API_Session and the secret key appear in no error and no log line
    install_log_redaction(logging.getLogger())
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UserError) as bad:
        auth.login(settings, store, api_session="99999999-wrong-session")
    assert "Invalid session." in str(bad.value) and "99999999-wrong-session" not in str(bad.value)
    wrong_key = breeze_settings(environ=env | {"OPTRUNNER_BREEZE_API_KEY": "not-the-app-key"},
                                secrets_file=tmp_path / "none.json")  # fmt: skip
    with pytest.raises(UserError, match="Public Key does not exist"):
        auth.login(wrong_key, store, api_session=API_SESSION)
    with pytest.raises(UserError, match="apiuser/login\\?api_key=breeze-app-key"):
        auth.login(settings, store, api_session=None)
    for secret in (fake.session_key, "breeze-secret-key-5f5f5f5f", "99999999-wrong-session"):
        assert secret not in caplog.text
    assert store.load("breeze") == tok  # a failed login keeps the good session


def test_cli_login_prints_no_secret(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake, _, env = served
    run = CliRunner().invoke(app, ["broker", "login", "breeze", "--session-token", API_SESSION], env=env | {"COLUMNS": "200"})
    assert run.exit_code == 0, run.output
    assert f"breeze: logged in as {fake.user_id}" in run.output and "00:00 IST" in run.output
    assert API_SESSION not in run.output and fake.session_key not in run.output
    assert stat.S_IMODE((tmp_path / "tokens" / "breeze.json").stat().st_mode) == 0o600
    bad = CliRunner().invoke(app, ["broker", "login", "breeze", "--session-token", "77777777"], env=env)
    assert bad.exit_code == 2 and "Invalid session." in bad.output and "77777777" not in bad.output
    otp = CliRunner().invoke(app, ["broker", "login", "breeze", "--otp", "123456"], env=env)
    assert otp.exit_code == 2 and "--otp does not apply to breeze" in otp.output


def test_security_master_refuses_unknown_expired_and_inconsistent_rows(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, env = served
    settings = breeze_settings(environ=env, secrets_file=tmp_path / "none.json")
    url = env["OPTRUNNER_BREEZE_INSTRUMENTS_URL"]
    cache = InstrumentMasterCache("breeze", lambda: httpx.get(url).content, tmp_path / "masters", ext="zip")
    inst = load_instruments(settings, cache)
    assert len(inst.by_contract) == 2 * len(STRIKES) and inst.skipped == 1  # the row naming NIFTY BANK
    ce = OptionContract("NIFTY", EXPIRY, 25500.0, Right.CE)
    got = inst.require(ce)
    assert (got.token, got.stream_key, got.lot_size) == (token_of(25500.0, "CE"), f"4.1!{token_of(25500.0, 'CE')}", 75)
    for refused in (OptionContract("NIFTY", TODAY - timedelta(days=1), 25000.0, Right.CE),  # expired
                    OptionContract("NIFTY", EXPIRY, 30000.0, Right.CE)):  # fmt: skip
        with pytest.raises(KeyError, match="not in Breeze's security master"):
            inst.require(refused)
    assert inst.expiries("NIFTY", TODAY) == [EXPIRY] and inst.expiries("BANKNIFTY", TODAY) == []
    with pytest.raises(InstrumentMasterError, match="not a valid zip"):
        parse_master(b"PK not really", TODAY)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("FONSEScripMaster.txt", '"Token","ShortName"\n"1","NIFTY"\n')
    with pytest.raises(InstrumentMasterError, match="lacks column"):
        parse_master(buf.getvalue(), TODAY)


def test_parse_quote_reads_the_sdk_field_order() -> None:
    from fakes.breeze_server import quote_list

    key, q = parse_quote(quote_list("4.1!40021", 101.5, bid=101.0, bid_qty=750, ask=102.0, ask_qty=600, oi=4500,
                                    volume=12000))  # type: ignore[misc]  # fmt: skip
    assert key == "4.1!40021"
    assert q == {"ltp": 101.5, "bid": 101.0, "bid_qty": 750.0, "ask": 102.0, "ask_qty": 600.0, "oi": 4500.0,
                 "volume": 12000.0}  # fmt: skip
    _, idx = parse_quote(quote_list(SPOT, 25510.0, volume=0))  # type: ignore[misc]
    assert idx["ltp"] == 25510.0 and idx["bid"] != idx["bid"]  # an index has no bid: NaN
    assert parse_quote(["4.2!40021", 1760000000, []]) is None  # market depth: not read
    assert parse_quote(["4.1!40021", 1.0]) is None  # a short list: not a quote


@pytest.fixture
def feed(served, tmp_path: Path) -> Iterator[tuple[BreezeFake, LiveChain, BreezeFeed]]:  # type: ignore[no-untyped-def]
    fake, _, env = served
    fake.push_quote(SPOT, 25510.0)
    for k in STRIKES:
        for r in ("CE", "PE"):
            t = token_of(k, r)
            fake.push_quote(f"4.1!{t}", 100.0 + t % 100, bid=99.5 + t % 100, bid_qty=750, ask=100.5 + t % 100,
                            ask_qty=600, oi=450000, volume=12000)  # fmt: skip
    settings = breeze_settings(environ=env, secrets_file=tmp_path / "none.json")
    tok = auth.login(settings, TokenStore(tmp_path / "tokens"), api_session=API_SESSION)
    inst = parse_master(fake.master_zip(), TODAY)
    chain = LiveChain("NIFTY", EXPIRY, inst, width=3)
    f = BreezeFeed(settings.ws_root, tok.user_id, tok.access_token, inst, [chain], stale_seconds=0.4).start()
    yield fake, chain, f
    f.stop()


def test_quote_stream_builds_the_chain_recentres_and_reconnects(feed, caplog) -> None:  # type: ignore[no-untyped-def]
    fake, chain, f = feed
    assert wait(lambda: SPOT in fake.subscribed and len(fake.subscribed) == 1 + 14)  # ATM 25500 +- 3 strikes
    assert fake.auths[0] == {"user": fake.user_id, "token": fake.session_key}
    assert wait(lambda: (s := chain.snapshot()) is not None and len(s.strike) == 14 and s.spot == 25510.0
                and not (s.bid != s.bid).any())  # fmt: skip
    snap = chain.snapshot()
    for k in (25350.0, 25500.0, 25650.0):
        for r in (Right.CE, Right.PE):
            t = token_of(k, r.value)
            q = snap.quote_for(OptionContract("NIFTY", EXPIRY, k, r))  # type: ignore[union-attr]
            assert (q["bid"], q["ask"], q["ltp"]) == (99.5 + t % 100, 100.5 + t % 100, 100.0 + t % 100), (k, r)
    assert wait(lambda: fake.pongs >= 1 and f.pongs >= 1)  # the server's ping was answered
    ce = OptionContract("NIFTY", EXPIRY, 25500.0, Right.CE)
    fake.push_quote(f"4.1!{token_of(25500.0, 'CE')}", 120.0, bid=119.0, ask=121.0)  # bid/ask qty absent: kept
    assert wait(lambda: chain.snapshot().quote_for(ce)["bid"] == 119.0)  # type: ignore[union-attr]
    assert chain.snapshot().quote_for(ce)["ltp"] == 120.0  # type: ignore[union-attr]
    fake.push_quote(SPOT, 25710.0)  # 4 strikes up: the window moves to 25550..25850
    assert wait(lambda: 25350.0 not in set(chain.strike) and 25850.0 in set(chain.strike))
    assert wait(lambda: len(fake.subscribed) == 15 and f"4.1!{token_of(25850.0, 'PE')}" in fake.subscribed)
    assert fake.leaves and f"4.1!{token_of(25350.0, 'CE')}" in fake.leaves[-1]
    for ws in list(fake._sockets):  # a payload of another shape: ignored, counted, logged once
        fake._call(ws.send_text('42["stock",["4.1!40021",1.0,2.0]]'), ws)
    assert wait(lambda: f.errors == 1)
    assert "a stock event of 3 fields" in caplog.text
    fake.drop_connections()
    assert wait(lambda: f.connects == 2 and fake.connects == 2 and len(fake.subscribed) == 15)  # resubscribed
    assert wait(lambda: f.stale(), 2.0)
    fake.push_quote(SPOT, 25705.0)
    assert wait(lambda: not f.stale())


def test_a_refused_stream_session_keeps_retrying_without_the_token_in_logs(served, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    fake, server, _ = served
    install_log_redaction(logging.getLogger())
    caplog.set_level(logging.WARNING)
    inst = parse_master(fake.master_zip(), TODAY)
    stale = SessionToken("breeze", Secret("breeze-stale-session-0000"), datetime.now(UTC) + timedelta(hours=1), fake.user_id)
    f = BreezeFeed(server.ws_url, stale.user_id, stale.access_token, inst, [LiveChain("NIFTY", EXPIRY, inst, width=3)],
                   max_backoff=0.2).start()  # fmt: skip
    try:
        assert wait(lambda: f.errors >= 2)
        assert fake.connects == 0 and not f.connected.is_set()
    finally:
        f.stop()
    assert "refused the session" in caplog.text and "breeze-stale-session-0000" not in caplog.text
