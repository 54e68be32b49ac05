"""The Noren WebSocket against the fake Shoonya: login message, touchline subscription of
ATM ± N strikes, re-centring, reconnect + resubscribe, staleness, and pushed order updates
(duplicated and late) applied once alongside polling."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from fakes.server_thread import ServerThread
from fakes.shoonya_server import ShoonyaFake, create_app, symbol_row
from optrunner.core.clock import LiveClock
from optrunner.core.orders import Order
from optrunner.core.types import OrderType, Right, Side, Tag
from optrunner.execution.brokers.base import BrokerEventKind as K
from optrunner.execution.brokers.live.chain import LiveChain
from optrunner.execution.brokers.live.tokens import TokenStore
from optrunner.execution.brokers.shoonya import auth
from optrunner.execution.brokers.shoonya.adapter import ShoonyaBroker
from optrunner.execution.brokers.shoonya.config import shoonya_settings
from optrunner.execution.brokers.shoonya.feed import ChainInstruments, ShoonyaFeed
from optrunner.execution.brokers.shoonya.symbols import parse_symbols
from optrunner.instruments.contracts import OptionContract
from waiting import wait

EXPIRY = LiveClock().now().date() + timedelta(days=9)
STRIKES = [25000.0 + 50 * i for i in range(21)]
SPOT = "NSE|26000"



@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[ShoonyaFake, ShoonyaBroker, LiveChain, ShoonyaFeed]]:
    rows, token = [], 40000
    for k in STRIKES:
        for r in ("CE", "PE"):
            token += 1
            rows.append(symbol_row(str(token), "NIFTY", EXPIRY.isoformat(), k, r, 75))
    fake = ShoonyaFake(instruments=rows)
    fake.quotes[SPOT] = {"lp": "25500.00"}
    for row in rows:
        tok = row.split(",")[1]
        fake.quotes[f"NFO|{tok}"] = {"lp": "100.00", "bp1": "99.50", "sp1": "100.50", "bq1": "750", "sq1": "600",
                                     "v": "12000", "oi": "450000"}  # fmt: skip
    with ServerThread(create_app(fake)) as server:
        env = {"OPTRUNNER_SHOONYA_API_ROOT": server.url, "OPTRUNNER_SHOONYA_WS_ROOT": server.ws_url + "/NorenWSTP/",
               "OPTRUNNER_SHOONYA_USER_ID": fake.uid, "OPTRUNNER_SHOONYA_API_SECRET": fake.api_secret,
               "OPTRUNNER_SHOONYA_PASSWORD": fake.password, "OPTRUNNER_SHOONYA_TOTP_SECRET": fake.totp_secret,
               "OPTRUNNER_SHOONYA_VENDOR_CODE": fake.vendor_code}  # fmt: skip
        settings = shoonya_settings(environ=env, secrets_file=tmp_path / "none.json")
        tok = auth.login(settings, TokenStore(tmp_path / "tokens"))
        text = "Exchange,Token,LotSize,Symbol,TradingSymbol,Expiry,Instrument,OptionType,StrikePrice,TickSize,\n"
        inst = parse_symbols(text + "\n".join(rows) + "\n").instruments
        broker = ShoonyaBroker(settings, tok, inst, LiveClock(), tag_file=tmp_path / "tags.txt", poll_seconds=None)
        chain = LiveChain("NIFTY", EXPIRY, ChainInstruments(inst), width=3)  # type: ignore[arg-type]
        feed = ShoonyaFeed(settings.ws_root + "/", fake.uid, broker.actid, tok.access_token, [chain],
                           on_order=broker.on_order_update, stale_seconds=0.4).start()  # fmt: skip
        yield fake, broker, chain, feed
        feed.stop()
        broker.close()


def test_touchline_chain_recentres_reconnects_and_goes_stale(setup) -> None:  # type: ignore[no-untyped-def]
    fake, _, chain, feed = setup
    assert wait(lambda: SPOT in fake.subscribed and len(fake.subscribed) == 1 + 14)  # ATM 25500 +- 3 strikes
    assert wait(lambda: (s := chain.snapshot()) is not None and len(s.strike) == 14)
    ce = OptionContract("NIFTY", EXPIRY, 25500.0, Right.CE)
    q = chain.snapshot().quote_for(ce)  # type: ignore[union-attr]
    assert (q["bid"], q["ask"], q["ltp"]) == (99.5, 100.5, 100.0)
    key = f"NFO|{ChainInstruments(setup[1].instruments).by_contract[ce].token}"
    fake.push_quote(key, bp1="101.00")  # a tf with one changed field keeps the others
    assert wait(lambda: chain.snapshot().quote_for(ce)["bid"] == 101.0)  # type: ignore[union-attr]
    assert chain.snapshot().quote_for(ce)["ask"] == 100.5  # type: ignore[union-attr]
    fake.push_quote(SPOT, lp="25700.00")  # 4 strikes up: the window moves to 25550..25850
    assert wait(lambda: 25350.0 not in set(chain.strike) and 25850.0 in set(chain.strike))
    assert wait(lambda: len(fake.subscribed) == 15)
    fake.drop_connections()
    assert wait(lambda: feed.connects == 2 and len(fake.subscribed) == 15)  # logged in and resubscribed
    assert fake.ws_connects == 2
    assert wait(lambda: feed.stale(), 2.0)
    fake.push_quote(SPOT, lp="25705.00")
    assert wait(lambda: not feed.stale())


def test_pushed_order_updates_duplicated_and_late_count_once(setup) -> None:  # type: ignore[no-untyped-def]
    fake, broker, _, _ = setup
    assert wait(lambda: len(fake._order_sockets) == 1)
    ce = OptionContract("NIFTY", EXPIRY, 25500.0, Right.CE)
    broker.submit(Order("STRANGLE-000001", "STRANGLE", Tag.ENTRY, ce, Side.SELL, 150, OrderType.LIMIT, 100.0))
    [no] = fake.orders
    opened = copy.deepcopy(fake.orders[no])
    fake.push_order(fake.orders[no])
    assert wait(lambda: broker.counters["updates_push"] == 1)
    assert [e.kind for e in broker.events()] == [K.ACK]
    fake.fill(no, 75, 100.0)
    fake.duplicate_updates = True
    fake.push_order(fake.orders[no])  # twice
    assert wait(lambda: broker.counters["updates_push"] == 3)
    evs = broker.events()
    assert [(e.kind, e.quantity) for e in evs] == [(K.FILL, 75)]
    fake.push_order(opened)  # a late update (twice): OPEN with nothing filled, after the fill
    assert wait(lambda: broker.counters["stale_updates"] == 2)
    broker.poll()  # and the polled book says the same as the pushes: nothing new
    assert broker.events() == []
    fake.duplicate_updates = False
    opened["status"] = "SOMETHING_ELSE"  # an update that does not parse halts, never guessed
    halts: list[tuple[str | None, str]] = []
    broker.on_halt = lambda s, why: halts.append((s, why))
    fake.push_order(opened)
    assert wait(lambda: broker.counters["bad_answers"] == 1)
    broker.events()
    assert halts == [(None, "shoonya: unparseable broker answer")]
