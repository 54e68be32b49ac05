"""The Dhan adapter against a fake DhanHQ v2 server on 127.0.0.1 (tests/fakes/dhan_server.py).

Each test drives the adapter through the ``Broker`` protocol the order manager uses (submit,
cancel, modify, events, order_status) and checks what reached the fake and what came back:
status mapping with partial fills and the broker's reject reason, 429 -> RATE_LIMITED,
5xx/timeout -> looked up by correlationId before any resend (never a duplicate order),
expired token -> new orders halted until re-login, an unparseable answer -> halt, symbols
refusing unknown and expired contracts, and no secret in any log line.
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fakes.rigs import CALL, LOT, OLD, PUT, UNLISTED, Rig, open_rig
from optrunner.core.errors import UserError
from optrunner.core.orders import Order
from optrunner.core.types import OrderState, OrderType, Product, Side, Tag
from optrunner.execution.brokers.base import BrokerEventKind as K
from optrunner.execution.brokers.base import RejectReason
from optrunner.execution.brokers.dhan import auth
from optrunner.execution.brokers.dhan.adapter import load_instruments
from optrunner.execution.brokers.dhan.config import dhan_settings
from optrunner.execution.brokers.dhan.symbols import parse_scrip_master
from optrunner.execution.brokers.live.adapter import tag_for
from optrunner.execution.brokers.live.errors import BadAnswer, NotSent
from optrunner.execution.brokers.live.master import InstrumentMasterCache
from optrunner.execution.brokers.live.secrets import install_log_redaction
from optrunner.execution.brokers.live.tokens import TokenStore
from optrunner.instruments.contracts import OptionContract


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = open_rig("dhan", tmp_path)
    yield r
    r.close()


def order(cid: str, contract: OptionContract = CALL, qty: int = LOT, kind: OrderType = OrderType.MARKET,
          limit: float | None = None, side: Side = Side.SELL) -> Order:  # fmt: skip
    return Order(cid, "straddle", Tag.ENTRY, contract, side, qty, kind, limit, product=Product.NRML)


def kinds(events: list) -> list[K]:
    return [e.kind for e in events]


def test_market_order_fills_with_the_exchange_trade_id(rig: Rig) -> None:
    o = order("straddle-000001")
    rig.broker.submit(o)
    [body] = rig.fake.placed()
    assert body["correlationId"] == tag_for("straddle-000001", 25) and len(body["correlationId"]) == 25
    assert (body["exchangeSegment"], body["securityId"], body["productType"], body["orderType"]) == (
        "NSE_FNO", "35001", "MARGIN", "MARKET")
    assert (body["transactionType"], body["quantity"], body["dhanClientId"]) == ("SELL", LOT, rig.fake.client_id)
    evs = rig.broker.events()
    assert kinds(evs) == [K.ACK, K.FILL]
    fill = evs[1]
    assert (fill.client_id, fill.quantity, fill.price) == ("straddle-000001", LOT, 100.0)
    assert fill.exec_id == f"{fill.broker_id}/{rig.fake.trades[0]['exchangeTradeId']}"
    assert rig.broker.events() == []  # polled again: nothing new (de-duplicated)
    st = rig.broker.order_status("straddle-000001")
    assert st is not None and st.state is OrderState.FILLED and [f.exec_id for f in st.fills] == [fill.exec_id]


def test_limit_order_partial_fill_modify_and_cancel(rig: Rig) -> None:
    rig.broker.submit(order("straddle-000002", qty=2 * LOT, kind=OrderType.LIMIT, limit=120.5))
    assert kinds(rig.broker.events()) == [K.ACK]
    [oid] = rig.fake.orders
    assert rig.fake.orders[oid]["orderType"] == "LIMIT" and rig.fake.orders[oid]["price"] == 120.5
    rig.fake.fill(oid, LOT, 120.5)  # one lot of two
    evs = rig.broker.events()
    assert kinds(evs) == [K.FILL] and evs[0].quantity == LOT
    rig.broker.modify("straddle-000002", 118.0)
    assert rig.fake.orders[oid]["price"] == 118.0
    evs = rig.broker.events()
    assert kinds(evs) == [K.MODIFIED] and evs[0].price == 118.0
    rig.broker.cancel("straddle-000002")
    evs = rig.broker.events()
    assert kinds(evs) == [K.CANCELLED]
    st = rig.broker.order_status("straddle-000002")
    assert st is not None and (st.state, st.filled_qty, st.avg_price) == (OrderState.CANCELLED, LOT, 120.5)
    rig.broker.cancel("straddle-000002")  # Dhan refuses a cancel of a cancelled order
    [ev] = rig.broker.events()
    assert ev.kind is K.CANCEL_REJECTED and ev.reject_reason is RejectReason.NOT_WORKING and "DH-906" in ev.reason


def test_dhans_25_modifications_per_order_are_enforced_before_sending(rig: Rig) -> None:
    rig.broker.submit(order("straddle-000017", kind=OrderType.LIMIT, limit=90.0))
    rig.broker.events()
    for i in range(26):
        rig.broker.modify("straddle-000017", 90.0 + (i + 1) * 0.05)
    evs = rig.broker.events()
    puts = [m for m, p, _ in rig.fake.requests if m == "PUT"]
    rejected, modified = evs  # the refusal is immediate; the book's new limit comes with the poll
    assert len(puts) == 25 and (rejected.kind, modified.kind) == (K.MODIFY_REJECTED, K.MODIFIED)
    assert "25 modifications per order" in rejected.reason and modified.price == pytest.approx(91.25)


def test_rms_reject_carries_dhans_reason(rig: Rig) -> None:
    rig.fake.reject_next("RMS:Margin Exceeds, Required:1,20,000.00, Available:50,000.00")
    rig.broker.submit(order("straddle-000003"))
    [ev] = rig.broker.events()
    assert ev.kind is K.REJECT and ev.reject_reason is RejectReason.BROKER
    assert "Margin Exceeds, Required:1,20,000.00" in ev.reason


def test_429_is_a_rate_limited_reject_and_the_resend_places_one_order(rig: Rig) -> None:
    rig.fake.fault("POST /v2/orders", "429")
    rig.broker.submit(order("straddle-000004"))
    [ev] = rig.broker.events()
    assert ev.kind is K.REJECT and ev.reject_reason is RejectReason.RATE_LIMITED and "DH-904" in ev.reason
    assert rig.fake.orders == {}
    rig.broker.submit(order("straddle-000004"))  # the order manager resends after its backoff
    assert kinds(rig.broker.events()) == [K.ACK, K.FILL]
    assert len(rig.fake.orders) == 1 and rig.broker.api_errors == {"429": 1}  # counted for the metrics


@pytest.mark.parametrize("fault", ["500_after", "timeout_after"])
def test_lost_answer_is_found_by_correlation_id_never_resent(rig: Rig, fault: str) -> None:
    rig.fake.fault("POST /v2/orders", fault)
    rig.broker.submit(order("straddle-000005"))  # no exception: the order book showed it
    assert kinds(rig.broker.events()) == [K.ACK, K.FILL]
    assert len(rig.fake.placed()) == 1 and len(rig.fake.orders) == 1
    assert rig.broker.counters["adopted_by_tag"] == 1 and rig.broker.counters["possibly_sent"] == 1
    assert rig.broker.api_errors == {"500" if fault == "500_after" else "PossiblySent": 1}


def test_5xx_before_processing_is_not_sent_and_resent_once(rig: Rig) -> None:
    rig.fake.fault("POST /v2/orders", "500")
    with pytest.raises(NotSent, match="no order tagged"):
        rig.broker.submit(order("straddle-000006"))
    assert rig.fake.orders == {}
    rig.broker.submit(order("straddle-000006"))
    assert kinds(rig.broker.events()) == [K.ACK, K.FILL] and len(rig.fake.orders) == 1


def test_expired_token_halts_new_orders_until_relogin(rig: Rig) -> None:
    rig.fake.expire_token()
    rig.broker.submit(order("straddle-000007"))
    [ev] = rig.broker.events()
    assert ev.kind is K.REJECT and "session expired" in ev.reason and "optrunner broker login dhan" in ev.reason
    assert rig.halts == [(None, "dhan session expired")]
    assert any(level == "critical" and "new orders halted" in msg for level, msg in rig.alerts)
    sent = len(rig.fake.requests)
    rig.broker.submit(order("straddle-000008"))
    assert rig.fake.requests[sent:] == []  # refused locally: nothing reaches Dhan
    assert kinds(rig.broker.events()) == [K.REJECT]
    rig.broker.relogin(rig.renew_session())  # the user generates a new token and logs in again
    rig.broker.submit(order("straddle-000008"))
    assert kinds(rig.broker.events()) == [K.ACK, K.FILL]


def test_unparseable_answers_halt(rig: Rig) -> None:
    rig.fake.fault("POST /v2/orders", "garbage_after")
    with pytest.raises(BadAnswer):
        rig.broker.submit(order("straddle-000009"))
    rig.fake.fault("GET /v2/orders", "garbage")  # the poll that would resolve it reads garbage too
    rig.broker.events()  # halts and alerts are delivered in the caller's (the kernel's) thread
    assert rig.halts == [("straddle", "dhan: unparseable broker answer"), (None, "dhan: unparseable broker answer")]
    # an order book row with a status Dhan does not document is not guessed either
    rig.broker.submit(order("straddle-000010", kind=OrderType.LIMIT, limit=90.0))  # rests
    rig.broker.events()
    oid = rig.fake.by_correlation(tag_for("straddle-000010", 25))[0]["orderId"]
    rig.fake.set_status(oid, "HALF_DONE")
    rig.broker.events()
    assert len(rig.halts) == 3 and rig.broker.counters["bad_answers"] == 3


def test_symbols_refuse_unknown_and_expired_contracts_before_sending(rig: Rig) -> None:
    assert set(rig.broker.instruments) == {CALL, PUT, OLD}  # the disagreeing row was skipped
    rig.broker.submit(order("straddle-000010", contract=UNLISTED))
    rig.broker.submit(order("straddle-000011", contract=OLD))
    rig.broker.submit(order("straddle-000012", qty=50))
    evs = rig.broker.events()
    assert kinds(evs) == [K.REJECT] * 3 and rig.fake.placed() == []
    assert "not in Dhan's instrument master" in evs[0].reason
    assert f"expired on {OLD.expiry}" in evs[1].reason
    assert f"not a whole number of lots of {LOT}" in evs[2].reason


def test_books_for_reconciliation_map_back_to_client_ids(rig: Rig) -> None:
    rig.broker.submit(order("straddle-000013", contract=CALL))
    rig.broker.submit(order("straddle-000014", contract=PUT, side=Side.BUY, qty=2 * LOT))
    rig.broker.events()
    assert {(p.contract, p.quantity) for p in rig.broker.positions()} == {(CALL, -LOT), (PUT, 2 * LOT)}
    assert {o.client_id for o in rig.broker.orders()} == {"straddle-000013", "straddle-000014"}
    assert [t.client_id for t in rig.broker.trades()] == ["straddle-000013", "straddle-000014"]
    assert rig.broker.funds()["availabelBalance"] == 500000.0


def test_login_stores_the_token_0600_with_dhans_expiry_and_never_shows_it(rig: Rig, tmp_path: Path) -> None:
    p = rig.store.path("dhan")
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    tok = rig.store.load("dhan")
    assert tok is not None and tok.expires_at.year == 2099 and tok.user_id == rig.fake.client_id
    env = {"OPTRUNNER_DHAN_API_ROOT": rig.server.url + "/v2", "OPTRUNNER_DHAN_USER_ID": rig.fake.client_id,
           "OPTRUNNER_DHAN_ACCESS_TOKEN": "dhan-wrong-token-00000000"}  # fmt: skip
    with pytest.raises(UserError, match="refused the access token") as info:
        auth.login(dhan_settings(environ=env, secrets_file=tmp_path / "none.json"), TokenStore(tmp_path / "t2"))
    assert "dhan-wrong-token" not in str(info.value)


def test_no_secret_in_logs(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    rig.fake.fault("POST /v2/orders", "500_after")
    rig.broker.submit(order("straddle-000015"))
    rig.fake.expire_token()
    rig.broker.submit(order("straddle-000016"))
    evs = rig.broker.events()
    text = caplog.text + " ".join(e.reason for e in evs) + " ".join(m for _, m in rig.alerts)
    assert "session expired" in text
    secret = rig.fake.access_token.removeprefix("expired:")
    assert secret not in text
    assert any(h.get("access-token") == secret for h in rig.fake.seen_headers)  # it was in use, sent only to Dhan


def test_master_cache_downloads_once_a_day_and_skips_disagreeing_rows(rig: Rig, tmp_path: Path) -> None:
    url = rig.server.url + "/api-scrip-master.csv"
    cache = InstrumentMasterCache("dhan", lambda: httpx.get(url).content, tmp_path / "m")
    first = load_instruments(rig.broker.settings, cache)
    second = load_instruments(rig.broker.settings, cache)
    assert first == second and cache.downloads == 1
    assert first[CALL].security_id == "35001" and first[CALL].lot_size == LOT and first[CALL].segment == "NSE_FNO"
    assert parse_scrip_master(rig.fake.instruments_csv).skipped == 1
