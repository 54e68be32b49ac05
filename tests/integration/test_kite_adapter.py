"""The Kite adapter against a fake Kite on 127.0.0.1, through the official kiteconnect SDK's
real request code and our order manager: fills, partial fills, rejects, modify/cancel,
429 backoff, possibly-sent answers resolved by tag, session expiry, unparseable answers,
duplicate/late WebSocket updates, and no secret in any log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kite_cases import SYM, T0, intent, make_broker, make_om, start_fake, step

from fakes.kite_server import API_SECRET, FakeKite
from optrunner.core.clock import SimClock
from optrunner.core.types import OrderState, Side, Tag
from optrunner.execution.brokers.kite.feed import KiteTickerFeed
from optrunner.execution.brokers.live.adapter import tag_for
from optrunner.execution.brokers.live.secrets import install_log_redaction

TOKEN = "fake-access-token-000000000001"
S = OrderState


@pytest.fixture
def fake() -> Iterator[FakeKite]:
    f = start_fake()
    f.issue_token(TOKEN)
    f.set_price(SYM, 101.0, T0)
    yield f
    f.stop()


def places(fake: FakeKite) -> int:
    return sum(1 for m, p in fake.requests if m == "POST" and p == "/orders/regular")


def test_entry_and_exit_fill_with_the_brokers_trade_ids(fake: FakeKite, tmp_path: Path) -> None:
    clock = SimClock(T0)
    broker = make_broker(fake, tmp_path, TOKEN, clock)
    om = make_om(broker, clock)
    entry = om.place(intent(Side.SELL, 130, 100.0))
    om.drain()
    assert entry.state is S.FILLED and entry.filled_qty == 130 and entry.avg_price == 101.0
    form = fake.placed_forms[0]
    assert (form["tradingsymbol"], form["exchange"], form["transaction_type"], form["order_type"], form["product"],
            form["quantity"], form["price"]) == (SYM, "NFO", "SELL", "LIMIT", "NRML", "130", "100.0")  # fmt: skip
    assert form["tag"] == tag_for(entry.client_id) and len(form["tag"]) <= 20
    fake.set_price(SYM, 90.0)
    exit_ = om.place(intent(Side.BUY, 130, None, Tag.EXIT))
    om.drain()
    assert exit_.state is S.FILLED and exit_.avg_price == 90.0
    assert [p.quantity for p in broker.positions()] == []  # flat at the broker
    trades = broker.trades()
    assert [t.client_id for t in trades] == [entry.client_id, exit_.client_id]
    assert [t.exec_id for t in trades] == ["T00000001", "T00000002"]
    assert {o.client_id for o in broker.orders()} == {entry.client_id, exit_.client_id}
    assert broker.margins()["net"] == 1_000_000.0


def test_partial_fill_modify_cancel_and_reject(fake: FakeKite, tmp_path: Path) -> None:
    clock = SimClock(T0)
    broker = make_broker(fake, tmp_path, TOKEN, clock)
    om = make_om(broker, clock)
    fake.script("place", "partial")
    o = om.place(intent(Side.SELL, 130, 100.0))
    om.drain()
    assert (o.state, o.filled_qty) == (S.PARTIALLY_FILLED, 65)
    om.cancel(o.client_id)
    om.drain()
    assert (o.state, o.filled_qty) == (S.CANCELLED, 65)
    resting = om.place(intent(Side.BUY, 65, 95.0))  # below the market: rests
    om.drain()
    assert resting.state is S.ACCEPTED
    om.modify(resting.client_id, 101.0)
    om.drain()
    assert resting.state is S.FILLED and resting.limit_price == 101.0 and resting.avg_price == 101.0
    fake.script("place", "reject")
    r = om.place(intent(Side.SELL, 65, 100.0))
    om.drain()
    assert r.state is S.REJECTED and "Insufficient funds" in r.reason
    om.cancel(resting.client_id)  # already filled: the broker refuses, nothing changes
    om.drain()
    assert resting.state is S.FILLED


def test_429_is_backed_off_and_resent_under_the_same_tag(fake: FakeKite, tmp_path: Path) -> None:
    clock = SimClock(T0)
    broker = make_broker(fake, tmp_path, TOKEN, clock)
    om = make_om(broker, clock)
    fake.script("place", "429", "429")
    o = om.place(intent())
    om.drain()
    assert o.state is S.NEW and places(fake) == 1
    step(om, clock, 0.6)  # first backoff 0.5 s
    assert places(fake) == 2 and o.state is S.NEW
    step(om, clock, 1.1)
    assert o.state is S.FILLED and places(fake) == 3 and len(fake.orders) == 1
    assert om.counters["rate_limited"] == 2


@pytest.mark.parametrize("fault", ["500_after", "timeout_after"])
def test_possibly_sent_is_found_by_tag_and_not_resent(fake: FakeKite, tmp_path: Path, fault: str) -> None:
    clock = SimClock(T0)
    fake.delay_seconds = 3.0  # well past the client's timeout, which a loaded machine's normal answers stay under
    broker = make_broker(fake, tmp_path, TOKEN, clock, env={"OPTRUNNER_KITE_TIMEOUT_SECONDS": "1.5"})
    om = make_om(broker, clock)
    fake.script("place", fault)
    o = om.place(intent())
    om.drain()
    step(om, clock, 1.0, 3)
    assert o.state is S.FILLED and len(fake.orders) == 1 and places(fake) == 1
    assert broker.counters["possibly_sent"] == 1 and broker.counters["adopted_by_tag"] == 1


def test_5xx_before_the_order_is_resent_after_the_tag_lookup(fake: FakeKite, tmp_path: Path) -> None:
    clock = SimClock(T0)
    broker = make_broker(fake, tmp_path, TOKEN, clock)
    om = make_om(broker, clock)
    fake.script("place", "500")
    o = om.place(intent())
    om.drain()
    assert o.state is S.NEW and len(fake.orders) == 0
    step(om, clock, 1.0, 2)
    assert o.state is S.FILLED and len(fake.orders) == 1 and places(fake) == 2
    i = fake.requests.index(("POST", "/orders/regular"))
    assert ("GET", "/orders") in fake.requests[i + 1 :]  # looked up before the resend


def test_session_expiry_halts_new_orders_and_resumes_after_login(fake: FakeKite, tmp_path: Path) -> None:
    clock = SimClock(T0)
    broker = make_broker(fake, tmp_path, TOKEN, clock)
    halts: list[tuple[str | None, str]] = []
    alerts: list[tuple[str, str]] = []
    resumed: list[bool] = []
    broker.on_halt = lambda s, why: halts.append((s, why))
    broker.on_alert = lambda lvl, msg: alerts.append((lvl, msg))
    broker.on_resume = lambda: resumed.append(True)
    om = make_om(broker, clock)
    first = om.place(intent())
    om.drain()
    assert first.state is S.FILLED
    fake.script("place", "token")
    o = om.place(intent())
    om.drain()
    assert o.state is S.REJECTED and "log in again (optrunner broker login kite)" in o.reason
    assert halts == [(None, "kite session expired")] and alerts[0][0] == "critical"
    n = places(fake)
    o2 = om.place(intent())
    om.drain()
    assert o2.state is S.REJECTED and places(fake) == n  # nothing sent while expired
    new = fake.issue_token("fake-access-token-000000000099")
    broker.set_access_token(new)
    om.drain()  # hooks are delivered in the kernel's thread, by events()
    assert resumed == [True] and broker.session_ok
    o3 = om.place(intent())
    om.drain()
    assert o3.state is S.FILLED and first.state is S.FILLED  # earlier state kept


def test_an_answer_that_does_not_parse_halts_the_strategy(fake: FakeKite, tmp_path: Path) -> None:
    clock = SimClock(T0)
    broker = make_broker(fake, tmp_path, TOKEN, clock)
    halts: list[tuple[str | None, str]] = []
    broker.on_halt = lambda s, why: halts.append((s, why))
    om = make_om(broker, clock)
    fake.script("place", "garbled")
    o = om.place(intent())
    om.drain()
    assert halts == [("STRANGLE", "kite: unparseable broker answer")]
    assert o.state is S.SUBMITTED  # never resent blind: resolved through order_status
    assert broker.counters["bad_answers"] == 1


def test_websocket_updates_duplicated_and_late_are_applied_once(fake: FakeKite, tmp_path: Path) -> None:
    clock = SimClock(T0)
    broker = make_broker(fake, tmp_path, TOKEN, clock, poll=None)  # WebSocket updates only
    om = make_om(broker, clock)
    feed = KiteTickerFeed(fake.ws_root, "fakekitekey01", TOKEN, [], on_order=broker.on_order_message).start()
    try:
        assert feed.connected.wait(5)
        deadline = time.monotonic() + 5
        while fake.ws_clients == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        fake.script("ws", "dup_update", "dup_update", "dup_update")
        o = om.place(intent(Side.BUY, 65, 95.0))  # rests
        deadline = time.monotonic() + 5
        while o.state is not S.ACCEPTED and time.monotonic() < deadline:
            time.sleep(0.02)
            om.drain()
        assert o.state is S.ACCEPTED
        fake.script("ws", "late_update")
        om.modify(o.client_id, 102.0)  # the fake fills it at 101 after the modify
        deadline = time.monotonic() + 5
        while o.state is not S.FILLED and time.monotonic() < deadline:
            time.sleep(0.02)
            om.drain()
        time.sleep(0.2)
        om.drain()
    finally:
        feed.stop()
    assert o.state is S.FILLED and o.filled_qty == 65 and om.counters["fills"] == 1
    assert broker.counters["stale_updates"] >= 1 and broker.counters["updates_push"] >= 3


def test_no_secret_in_any_log_line(fake: FakeKite, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction(logging.getLogger())
    for f in logging.getLogger().filters:
        caplog.handler.addFilter(f)
    caplog.set_level(logging.DEBUG)
    clock = SimClock(T0)
    broker = make_broker(fake, tmp_path, TOKEN, clock)
    broker.kite.debug = True  # the SDK logs requests with their Authorization header
    om = make_om(broker, clock)
    for fault in ("429", "500", "token"):
        fake.script("place", fault)
        om.place(intent())
        om.drain()
        step(om, clock, 1.0, 2)
    text = caplog.text + "".join(str(a) for a in om.counters)
    assert "Authorization" in text or "token" in text.lower()  # the log did record requests
    for secret in (API_SECRET, TOKEN):
        assert secret not in text


def test_kernel_reconciliation_mismatch_halts_and_session_expiry_reduces(fake: FakeKite, tmp_path: Path) -> None:
    from optrunner.core.orders import OrderIntent
    from optrunner.core.types import OrderType
    from optrunner.execution.brokers.live.wiring import attach_kernel
    from optrunner.kernel import Kernel
    from optrunner.risk.kill_switch import TradingState

    clock = SimClock(T0)
    broker = make_broker(fake, tmp_path, TOKEN, clock)
    kernel = Kernel(broker, clock, capital=10_000_000.0, log_alerts=False)
    attach_kernel(broker, kernel)
    leg = OrderIntent("a", Tag.ENTRY, intent().contract, Side.SELL, 65, OrderType.LIMIT, 100.0)
    kernel.router.submit(leg)
    kernel.om.drain()
    assert kernel.portfolio.position("a", leg.contract).quantity == -65
    assert kernel.reconciler.run("start") == []  # the books agree
    # someone trades the same contract by hand on Kite's web terminal (no tag of ours)
    broker.kite.place_order(variety="regular", exchange="NFO", tradingsymbol=SYM, transaction_type="SELL",
                            quantity=65, product="NRML", order_type="MARKET")  # fmt: skip
    found = kernel.reconciler.run("periodic")
    assert {d.detail.split(":")[0] for d in found} >= {"the venue's account position differs from the sum of the strategies'"}
    assert any("unknown to the book" in d.detail for d in found)
    assert kernel.om.is_halted("a")
    assert any(a.source == "reconcile" and a.level == "critical" for a in kernel.alerts)
    # the session expires mid-day: new entries stop (kill switch REDUCING), a re-login resumes
    fake.script("place", "token")
    kernel.router.submit(OrderIntent("b", Tag.ENTRY, leg.contract, Side.SELL, 65, OrderType.LIMIT, 100.0))
    kernel.om.drain()
    assert kernel.risk.kill_switch.state is TradingState.REDUCING
    assert any(a.source == "broker:kite" and "log in again" in a.message for a in kernel.alerts)
    broker.set_access_token(fake.issue_token("fake-access-token-000000000077"))
    kernel.om.drain()
    assert kernel.risk.kill_switch.state is TradingState.ACTIVE


def test_kites_10_orders_per_second_are_queued_by_the_kernel(fake: FakeKite, tmp_path: Path) -> None:
    from optrunner.kernel import Kernel

    clock = SimClock(T0)
    broker = make_broker(fake, tmp_path, TOKEN, clock)
    kernel = Kernel(broker, clock, capital=10_000_000.0, log_alerts=False)
    with kernel.om.batch():
        for _ in range(25):
            kernel.router.submit(intent(Side.BUY, 65, 95.0))  # rests: the count is the requests
    kernel.om.drain()
    assert places(fake) == 10
    step(kernel.om, clock, 0.5)
    assert places(fake) == 15
    step(kernel.om, clock, 1.0, 2)
    assert places(fake) == 25


def test_a_restarted_adapter_continues_open_orders_and_notices_expiry_while_polling(
    fake: FakeKite, tmp_path: Path
) -> None:
    clock = SimClock(T0)
    broker = make_broker(fake, tmp_path, TOKEN, clock)
    om = make_om(broker, clock)
    resting = om.place(intent(Side.BUY, 65, 95.0))
    om.drain()
    assert resting.state is S.ACCEPTED
    # the process restarts: a new adapter is handed the order manager's open orders
    again = make_broker(fake, tmp_path, TOKEN, clock)
    again.resume_orders(om.open_orders())
    fake.set_price(SYM, 94.0)  # now it trades
    events = again.events()
    assert [(e.kind, e.client_id, e.quantity, e.price) for e in events] == [
        ("FILL", resting.client_id, 65, 94.0)]  # no second ACK; the fill once  # fmt: skip
    assert again.events() == []
    halts: list[tuple[str | None, str]] = []
    again.on_halt = lambda s, why: halts.append((s, why))
    fake.expire_sessions()
    again.poll()  # the next read of the books meets the expired session
    again.events()
    assert halts == [(None, "kite session expired")] and not again.session_ok
