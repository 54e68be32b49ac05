"""The Shoonya adapter against a fake NorenOMS server on 127.0.0.1 (tests/fakes/shoonya_server.py).

Same contract as the Dhan tests, in NorenOMS terms: QuickAuth with sha256 factors and a pyotp
TOTP, ``jData``/``jKey`` bodies, ``remarks`` as the client-id tag, string numbers, OPEN with
``fillshares`` as a partial fill, ``rejreason``, ``Session Expired`` answers, ``no data``
for an empty book.
"""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest

from fakes.rigs import CALL, EXPIRY, LOT, OLD, PUT, UNLISTED, Rig, open_rig
from fakes.server_thread import ServerThread
from fakes.shoonya_server import SESSION_EXPIRED, ShoonyaFake, sha256
from optrunner.core.clock import LiveClock
from optrunner.core.errors import UserError
from optrunner.core.orders import Order
from optrunner.core.types import OrderState, OrderType, Product, Side, Tag
from optrunner.execution.brokers.base import BrokerEventKind as K
from optrunner.execution.brokers.base import RejectReason
from optrunner.execution.brokers.live.adapter import tag_for
from optrunner.execution.brokers.live.errors import BadAnswer, NotSent
from optrunner.execution.brokers.live.secrets import install_log_redaction
from optrunner.execution.brokers.live.tokens import TokenStore
from optrunner.execution.brokers.shoonya import auth
from optrunner.execution.brokers.shoonya.config import shoonya_settings
from optrunner.instruments.contracts import OptionContract


def env_for(fake: ShoonyaFake, server: ServerThread, **over: str) -> dict[str, str]:
    env = {"OPTRUNNER_SHOONYA_API_ROOT": server.url, "OPTRUNNER_SHOONYA_WS_ROOT": server.ws_url,
           "OPTRUNNER_SHOONYA_USER_ID": fake.uid, "OPTRUNNER_SHOONYA_API_SECRET": fake.api_secret,
           "OPTRUNNER_SHOONYA_PASSWORD": fake.password, "OPTRUNNER_SHOONYA_TOTP_SECRET": fake.totp_secret,
           "OPTRUNNER_SHOONYA_VENDOR_CODE": fake.vendor_code, "OPTRUNNER_SHOONYA_TIMEOUT_SECONDS": "2.0",
           "OPTRUNNER_SHOONYA_INSTRUMENTS_URL": server.url + "/NFO_symbols.txt.zip"}  # fmt: skip
    env.update({f"OPTRUNNER_SHOONYA_{k.upper()}": v for k, v in over.items()})
    return env


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = open_rig("shoonya", tmp_path)
    yield r
    r.close()


def order(cid: str, contract: OptionContract = CALL, qty: int = LOT, kind: OrderType = OrderType.MARKET,
          limit: float | None = None, side: Side = Side.SELL) -> Order:  # fmt: skip
    return Order(cid, "straddle", Tag.ENTRY, contract, side, qty, kind, limit, product=Product.NRML)


def kinds(events: list) -> list[K]:
    return [e.kind for e in events]


def test_quick_auth_sends_the_documented_factors_and_stores_the_session_0600(rig: Rig) -> None:
    endpoint, j, key = rig.fake.requests[0]
    assert endpoint == "QuickAuth" and key == ""
    assert j["pwd"] == sha256(rig.fake.password) and j["appkey"] == sha256(f"{rig.fake.uid}|{rig.fake.api_secret}")
    assert j["vc"] == rig.fake.vendor_code and pyotp.TOTP(rig.fake.totp_secret).verify(j["factor2"], valid_window=1)
    assert rig.fake.password not in rig.fake.raw_bodies[0] and rig.fake.api_secret not in rig.fake.raw_bodies[0]
    p = rig.store.path("shoonya")
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    tok = rig.store.load("shoonya")
    assert tok is not None and tok.access_token.value in rig.fake.tokens and tok.valid()
    assert tok.expires_at - LiveClock().now() <= timedelta(days=1)


def test_wrong_totp_is_a_clear_error_without_credentials(rig: Rig) -> None:
    settings = shoonya_settings(environ=env_for(rig.fake, rig.server), secrets_file=rig.tmp / "none.json")
    with pytest.raises(UserError, match=r"Shoonya login failed.*Wrong Password Or TOTP") as info:
        auth.login(settings, TokenStore(rig.tmp / "t2"), otp="000000")
    assert rig.fake.password not in str(info.value) and rig.fake.api_secret not in str(info.value)


def test_market_order_body_and_fill(rig: Rig) -> None:
    rig.broker.submit(order("straddle-000001"))
    [j] = rig.fake.placed()
    assert (j["exch"], j["tsym"], j["prd"], j["prctyp"], j["trantype"], j["qty"]) == (
        "NFO", "NIFTY" + EXPIRY.strftime("%d%b%y").upper() + "C25950", "M", "MKT", "S", str(LOT))
    assert j["remarks"] == tag_for("straddle-000001", 25) and j["uid"] == rig.fake.uid
    raw = rig.fake.raw_bodies[-1]
    assert raw.startswith("jData={") and raw.endswith("&jKey=" + next(iter(rig.fake.tokens)))
    evs = rig.broker.events()
    assert kinds(evs) == [K.ACK, K.FILL]
    fill = evs[1]
    assert (fill.quantity, fill.price, fill.exec_id) == (LOT, 100.0, f"{fill.broker_id}/{rig.fake.trades[0]['flid']}")
    assert rig.broker.events() == []


def test_limit_partial_fill_modify_cancel(rig: Rig) -> None:
    rig.broker.submit(order("straddle-000002", qty=2 * LOT, kind=OrderType.LIMIT, limit=120.5))
    assert kinds(rig.broker.events()) == [K.ACK]
    [no] = rig.fake.orders
    assert rig.fake.orders[no]["prctyp"] == "LMT" and rig.fake.orders[no]["prc"] == "120.50"
    rig.fake.fill(no, LOT, 120.5)
    evs = rig.broker.events()
    assert kinds(evs) == [K.FILL] and evs[0].quantity == LOT
    assert rig.broker.order_status("straddle-000002").state is OrderState.PARTIALLY_FILLED  # type: ignore[union-attr]
    rig.broker.modify("straddle-000002", 118.0)
    assert rig.fake.orders[no]["prc"] == "118.00"
    evs = rig.broker.events()
    assert kinds(evs) == [K.MODIFIED] and evs[0].price == 118.0
    rig.broker.cancel("straddle-000002")
    assert kinds(rig.broker.events()) == [K.CANCELLED]
    st = rig.broker.order_status("straddle-000002")
    assert st is not None and (st.state, st.filled_qty, st.avg_price) == (OrderState.CANCELLED, LOT, 120.5)
    rig.broker.cancel("straddle-000002")
    [ev] = rig.broker.events()
    assert ev.kind is K.CANCEL_REJECTED and ev.reject_reason is RejectReason.NOT_WORKING and "not open" in ev.reason


def test_reject_carries_rejreason(rig: Rig) -> None:
    rig.fake.reject_next("RED:Margin Shortfall:INR 1,20,000.00 Available:INR 50,000.00")
    rig.broker.submit(order("straddle-000003"))
    [ev] = rig.broker.events()
    assert ev.kind is K.REJECT and ev.reject_reason is RejectReason.BROKER and "Margin Shortfall:INR 1,20,000.00" in ev.reason


def test_429_then_resend_places_one_order(rig: Rig) -> None:
    rig.fake.fault("PlaceOrder", "429")
    rig.broker.submit(order("straddle-000004"))
    [ev] = rig.broker.events()
    assert ev.kind is K.REJECT and ev.reject_reason is RejectReason.RATE_LIMITED
    rig.broker.submit(order("straddle-000004"))
    assert kinds(rig.broker.events()) == [K.ACK, K.FILL] and len(rig.fake.orders) == 1
    assert rig.broker.api_errors == {"429": 1}


@pytest.mark.parametrize("fault", ["500_after", "timeout_after"])
def test_lost_answer_is_found_by_remarks_never_resent(rig: Rig, fault: str) -> None:
    rig.fake.fault("PlaceOrder", fault)
    rig.broker.submit(order("straddle-000005"))
    assert kinds(rig.broker.events()) == [K.ACK, K.FILL]
    assert len(rig.fake.placed()) == 1 and len(rig.fake.orders) == 1
    assert rig.broker.counters["adopted_by_tag"] == 1
    assert rig.broker.api_errors == {"502" if fault == "500_after" else "PossiblySent": 1}


def test_5xx_before_processing_is_not_sent_and_resent_once(rig: Rig) -> None:
    rig.fake.fault("PlaceOrder", "500")
    with pytest.raises(NotSent):
        rig.broker.submit(order("straddle-000006"))
    rig.broker.submit(order("straddle-000006"))
    assert kinds(rig.broker.events()) == [K.ACK, K.FILL] and len(rig.fake.orders) == 1


def test_session_expired_halts_new_orders_until_relogin(rig: Rig) -> None:
    rig.fake.expire_sessions()
    rig.broker.submit(order("straddle-000007"))
    [ev] = rig.broker.events()
    assert ev.kind is K.REJECT and "session expired" in ev.reason and SESSION_EXPIRED.split(":")[0] in ev.reason
    assert rig.halts == [(None, "shoonya session expired")]
    sent = len(rig.fake.requests)
    rig.broker.submit(order("straddle-000008"))
    assert rig.fake.requests[sent:] == [] and kinds(rig.broker.events()) == [K.REJECT]
    rig.broker.relogin(rig.renew_session())
    rig.broker.submit(order("straddle-000008"))
    assert kinds(rig.broker.events()) == [K.ACK, K.FILL]


def test_unparseable_answers_halt(rig: Rig) -> None:
    rig.fake.fault("PlaceOrder", "garbage_after")
    with pytest.raises(BadAnswer):
        rig.broker.submit(order("straddle-000009"))
    rig.broker.events()  # halts and alerts are delivered in the caller's (the kernel's) thread
    assert rig.halts == [("straddle", "shoonya: unparseable broker answer")]
    rig.broker.submit(order("straddle-000010", kind=OrderType.LIMIT, limit=90.0))  # rests
    rig.broker.events()
    [no] = [o["norenordno"] for o in rig.fake.by_remarks(tag_for("straddle-000010", 25))]
    rig.fake.orders[no]["status"] = "HALF_DONE"
    rig.broker.events()
    assert rig.halts[-1] == (None, "shoonya: unparseable broker answer")


def test_symbols_refuse_unknown_expired_and_odd_lots(rig: Rig) -> None:
    assert set(rig.broker.instruments) == {CALL, PUT, OLD}
    rig.broker.submit(order("straddle-000010", contract=UNLISTED))
    rig.broker.submit(order("straddle-000011", contract=OLD))
    rig.broker.submit(order("straddle-000012", qty=50))
    evs = rig.broker.events()
    assert kinds(evs) == [K.REJECT] * 3 and rig.fake.placed() == []
    assert "not in Shoonya's NFO symbols" in evs[0].reason and "expired on" in evs[1].reason
    assert f"lots of {LOT}" in evs[2].reason


def test_empty_books_and_books_for_reconciliation(rig: Rig) -> None:
    assert rig.broker.orders() == [] and rig.broker.trades() == [] and rig.broker.positions() == []
    rig.broker.submit(order("straddle-000013", contract=CALL))
    rig.broker.submit(order("straddle-000014", contract=PUT, side=Side.BUY, qty=2 * LOT))
    rig.broker.events()
    assert {(p.contract, p.quantity) for p in rig.broker.positions()} == {(CALL, -LOT), (PUT, 2 * LOT)}
    assert {o.client_id for o in rig.broker.orders()} == {"straddle-000013", "straddle-000014"}
    assert sorted(t.client_id for t in rig.broker.trades()) == ["straddle-000013", "straddle-000014"]
    assert rig.broker.limits()["cash"] == "500000.00"


def test_no_secret_in_logs(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    key = next(iter(rig.fake.tokens))
    rig.fake.fault("PlaceOrder", "500_after")
    rig.broker.submit(order("straddle-000015"))
    rig.fake.expire_sessions()
    rig.broker.submit(order("straddle-000016"))
    evs = rig.broker.events()
    text = caplog.text + json.dumps([e.reason for e in evs]) + json.dumps(rig.alerts)
    assert "session expired" in text
    for secret in (key, rig.fake.password, rig.fake.api_secret, rig.fake.totp_secret):
        assert secret not in text
