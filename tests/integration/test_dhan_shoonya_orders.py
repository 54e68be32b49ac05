"""Dhan and Shoonya through our order manager, each against its fake broker on 127.0.0.1.

The order manager's own paths decide here — its rate-limit backoff and resend under the same
client id, its "ambiguous, resolve through order_status" path, its journal of transitions —
with the adapter's real HTTP code underneath. Plus the crash case: an order sent, the process
dies before reading any answer, and a new adapter on the same tag file finds the order by
client id (Dhan ``correlationId``, Shoonya ``remarks``) with its fills.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from fakes.rigs import CALL, LOT, Rig, open_rig, reopen_broker
from optrunner.core.clock import SimClock
from optrunner.core.orders import OrderIntent
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderState, OrderType, Side, Tag
from optrunner.execution.brokers.base import BrokerEventKind as K
from optrunner.execution.order_manager import OrderManager
from optrunner.execution.policy import ExecutionPolicy
from optrunner.execution.rate_limit import ExponentialBackoff

S = OrderState
POLICY = ExecutionPolicy(market_as_limit=False)


@pytest.fixture(params=["dhan", "shoonya"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Rig, SimClock]]:
    clock = SimClock(datetime.now(IST).replace(microsecond=0))
    r = open_rig(request.param, tmp_path, clock)
    yield r, clock
    r.close()


def manager(rig: Rig, clock: SimClock) -> OrderManager:
    return OrderManager(rig.broker, clock, default_policy=POLICY, backoff=ExponentialBackoff(initial=0.5, max_delay=2.0),
                        ack_query_seconds=1.0, ack_timeout_seconds=10.0)  # fmt: skip


def intent(side: Side = Side.SELL, qty: int = LOT, price: float | None = None, tag: Tag = Tag.ENTRY) -> OrderIntent:
    kind = OrderType.LIMIT if price is not None else OrderType.MARKET
    return OrderIntent("STRANGLE", tag, CALL, side, qty, kind, price)


def step(om: OrderManager, clock: SimClock, seconds: float = 1.0, times: int = 1) -> None:
    for _ in range(times):
        clock.advance(clock.now() + timedelta(seconds=seconds))
        om.check_timers()
        om.drain()


def test_entry_rests_then_fills_and_exit_fills(rig: tuple[Rig, SimClock]) -> None:
    r, clock = rig
    om = manager(r, clock)
    entry = om.place(intent(Side.SELL, 2 * LOT, 100.0))
    om.drain()
    assert entry.state is S.ACCEPTED and entry.broker_id == r.order_ids()[0]
    r.fake.fill(entry.broker_id, LOT, 100.0)
    step(om, clock)
    assert entry.state is S.PARTIALLY_FILLED and entry.filled_qty == LOT
    r.fake.fill(entry.broker_id, LOT, 100.5)
    step(om, clock)
    assert entry.state is S.FILLED and entry.avg_price == pytest.approx(100.25)
    exit_ = om.place(intent(Side.BUY, 2 * LOT, None, Tag.EXIT))
    om.drain()
    assert exit_.state is S.FILLED and exit_.avg_price == 100.0
    assert om.counters["fills"] == 3 and r.places() == 2
    assert {(p.contract, p.quantity) for p in r.broker.positions()} == set()  # flat at the broker too


def test_429_is_backed_off_and_resent_under_the_same_client_id(rig: tuple[Rig, SimClock]) -> None:
    r, clock = rig
    om = manager(r, clock)
    r.place_fault("429", times=2)
    o = om.place(intent())
    om.drain()
    assert o.state is S.NEW and om.counters["rate_limited"] == 1
    step(om, clock, 0.5, times=8)
    assert o.state is S.FILLED and om.counters["rate_limited"] == 2
    assert r.places() == 3 and len(r.order_ids()) == 1  # two refused with 429, one booked


@pytest.mark.parametrize("fault", ["500_after", "timeout_after"])
def test_possibly_sent_is_resolved_by_client_id_never_duplicated(rig: tuple[Rig, SimClock], fault: str) -> None:
    r, clock = rig
    om = manager(r, clock)
    r.place_fault(fault)
    o = om.place(intent())
    om.drain()
    step(om, clock, times=3)
    assert o.state is S.FILLED and len(r.order_ids()) == 1 and r.places() == 1
    assert r.broker.counters["adopted_by_tag"] == 1


def test_5xx_before_the_order_is_resent_after_the_lookup(rig: tuple[Rig, SimClock]) -> None:
    r, clock = rig
    om = manager(r, clock)
    r.place_fault("500")
    o = om.place(intent())
    om.drain()
    assert o.state is S.NEW and om.counters["unreachable"] == 1 and r.order_ids() == []
    step(om, clock, 0.5, times=4)
    assert o.state is S.FILLED and len(r.order_ids()) == 1


def test_session_expiry_rejects_new_orders_and_they_flow_after_login(rig: tuple[Rig, SimClock]) -> None:
    r, clock = rig
    om = manager(r, clock)
    first = om.place(intent())
    om.drain()
    r.expire_session()
    o = om.place(intent())
    om.drain()
    assert first.state is S.FILLED and o.state is S.REJECTED and "session expired" in o.reason
    assert r.halts == [(None, f"{r.name} session expired")] and r.alerts[0][0] == "critical"
    r.broker.relogin(r.renew_session())  # type: ignore[attr-defined]
    o2 = om.place(intent())
    om.drain()
    assert o2.state is S.FILLED and r.alerts[-1][0] == "info"


def test_a_login_in_another_terminal_resumes_the_running_session(rig: tuple[Rig, SimClock]) -> None:
    r, clock = rig
    r.broker.token_store, r.broker.relogin_check_seconds = r.store, 0.0  # type: ignore[attr-defined]
    om = manager(r, clock)
    r.expire_session()
    o = om.place(intent())
    om.drain()
    step(om, clock)
    assert o.state is S.REJECTED and not r.broker.session_ok  # the stored token is the expired one
    r.renew_session()  # `optrunner broker login <broker>` writes the token store; nobody calls relogin
    step(om, clock)
    assert r.broker.session_ok and r.alerts[-1] == ("info", f"{r.name} session restored; orders flow again")
    o2 = om.place(intent())
    om.drain()
    assert o2.state is S.FILLED and len(r.order_ids()) == 1


def test_crash_between_submit_and_ack_recovery_finds_the_order_by_client_id(rig: tuple[Rig, SimClock]) -> None:
    r, clock = rig
    om = manager(r, clock)
    o = om.place(intent(Side.SELL, LOT, 100.0))  # sent; no answer read before the "crash"
    assert o.state is S.SUBMITTED
    r.fake.fill(r.order_ids()[0], LOT, 100.0)  # it filled while we were down
    after = reopen_broker(r, clock)
    st = after.order_status(o.client_id)
    assert st is not None and st.state is S.FILLED and st.broker_id == r.order_ids()[0]
    assert [(f.quantity, f.price) for f in st.fills] == [(LOT, 100.0)]
    after.resume_orders([o])  # the restarted order manager's open orders
    evs = after.events()
    assert [e.kind for e in evs] == [K.ACK, K.FILL] and r.places() == 1
    assert [t.client_id for t in after.trades()] == [o.client_id]  # the tag file maps the broker's tag back
    after.close()  # type: ignore[attr-defined]


def test_an_unparseable_place_answer_halts_the_strategy(rig: tuple[Rig, SimClock]) -> None:
    r, clock = rig
    om = manager(r, clock)
    r.place_fault("garbage_after")
    o = om.place(intent())
    om.drain()
    assert r.halts == [("STRANGLE", f"{r.name}: unparseable broker answer")]
    assert om.counters["ambiguous"] == 1  # never resent on a guess...
    step(om, clock, times=2)  # ...the next poll / order_status finds it by client id: the fill is not lost
    assert o.state is S.FILLED and len(r.order_ids()) == 1


def hand_trade(r: Rig) -> None:
    """Someone sells the same contract by hand on the broker's own terminal (no tag of ours)."""
    import httpx

    if r.name == "dhan":
        body = {"dhanClientId": r.fake.client_id, "transactionType": "SELL", "exchangeSegment": "NSE_FNO",
                "productType": "MARGIN", "orderType": "MARKET", "securityId": "35001", "quantity": LOT}  # fmt: skip
        httpx.post(r.server.url + "/v2/orders", json=body,
                   headers={"access-token": r.fake.access_token, "client-id": r.fake.client_id}).raise_for_status()  # fmt: skip
    else:
        from optrunner.execution.brokers.shoonya.auth import body as noren_body

        j = {"uid": r.fake.uid, "actid": r.fake.uid, "exch": "NFO", "tsym": r.broker.instruments[CALL].trading_symbol,  # type: ignore[attr-defined]
             "qty": str(LOT), "prd": "M", "trantype": "S", "prctyp": "MKT", "ret": "DAY", "remarks": ""}  # fmt: skip
        httpx.post(r.server.url + "/PlaceOrder", content=noren_body(j, r.broker._key)).raise_for_status()  # type: ignore[attr-defined]


def test_kernel_reconciliation_mismatch_halts_and_session_expiry_reduces(rig: tuple[Rig, SimClock]) -> None:
    from optrunner.execution.brokers.live.wiring import attach_kernel
    from optrunner.kernel import Kernel
    from optrunner.risk.kill_switch import TradingState

    r, clock = rig
    r.fake.fill_at_limit = True
    r.broker.token_store, r.broker.relogin_check_seconds = r.store, 0.0  # type: ignore[attr-defined]
    kernel = Kernel(r.broker, clock, capital=10_000_000.0, log_alerts=False)
    attach_kernel(r.broker, kernel)
    leg = OrderIntent("a", Tag.ENTRY, CALL, Side.SELL, LOT, OrderType.LIMIT, 100.0)
    kernel.router.submit(leg)
    kernel.om.drain()
    assert kernel.portfolio.position("a", CALL).quantity == -LOT
    assert kernel.reconciler.run("start") == []  # the books agree
    hand_trade(r)
    found = kernel.reconciler.run("periodic")
    assert any(d.detail == "the venue's account position differs from the sum of the strategies'" for d in found)
    assert any("unknown to the book" in d.detail for d in found)
    assert kernel.om.is_halted("a")
    assert any(a.source == "reconcile" and a.level == "critical" for a in kernel.alerts)
    # the session expires mid-day: new entries stop (kill switch REDUCING); a login elsewhere resumes
    r.expire_session()
    kernel.router.submit(OrderIntent("b", Tag.ENTRY, CALL, Side.SELL, LOT, OrderType.LIMIT, 100.0))
    kernel.om.drain()
    assert kernel.risk.kill_switch.state is TradingState.REDUCING
    assert any(a.source == f"broker:{r.name}" and "log in again" in a.message for a in kernel.alerts)
    r.renew_session()
    kernel.om.drain()
    assert kernel.risk.kill_switch.state is TradingState.ACTIVE


def test_10_orders_per_second_are_queued_by_the_kernel(rig: tuple[Rig, SimClock]) -> None:
    from optrunner.kernel import Kernel

    r, clock = rig
    kernel = Kernel(r.broker, clock, capital=10_000_000.0, log_alerts=False)
    with kernel.om.batch():
        for _ in range(25):
            kernel.router.submit(intent(Side.BUY, LOT, 95.0))  # rests at the fake: the count is the requests
    kernel.om.drain()
    assert r.places() == 10
    step(kernel.om, clock, 0.5)
    assert r.places() == 15
    step(kernel.om, clock, 1.0)
    assert r.places() == 25


def test_dhan_order_alerts_trigger_a_read_of_the_books(tmp_path: Path) -> None:
    """A pushed Live Order Update alert about our order makes the next events() read the books
    (the polling interval here is an hour); an alert about someone else's order does not."""
    from optrunner.core.orders import Order

    clock = SimClock(datetime.now(IST).replace(microsecond=0))
    r = open_rig("dhan", tmp_path, clock)
    try:
        b = r.broker
        b.poll_seconds = 3600.0
        feed = b.start_order_updates(r.server.ws_url + "/")  # type: ignore[attr-defined]
        deadline = time.monotonic() + 5
        while not r.fake._sockets and time.monotonic() < deadline:
            time.sleep(0.02)
        assert r.fake._sockets and r.fake.ws_logins[0]["LoginReq"]["MsgCode"] == 42
        b.submit(Order("STRANGLE-000001", "STRANGLE", Tag.ENTRY, CALL, Side.SELL, 2 * LOT, OrderType.LIMIT, 100.0))
        b._last_poll = time.monotonic()  # type: ignore[attr-defined]  # the hourly poll just ran
        [oid] = r.order_ids()
        r.fake.fill(oid, LOT, 100.0)
        assert b.events() == []  # no poll due, no alert yet: nothing known
        r.fake.push_alert(oid)
        deadline = time.monotonic() + 5
        while b.counters["order_alerts"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [(e.kind, e.quantity) for e in b.events()] == [(K.ACK, 0), (K.FILL, LOT)]
        assert b.events() == []  # the alert is used once
        hand_trade(r)  # someone else's order (no tag of ours): its alert reads nothing
        other = next(o for o in r.order_ids() if o != oid)
        r.fake.push_alert(other)
        deadline = time.monotonic() + 5
        while feed.alerts < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert feed.alerts == 2 and b.counters["order_alerts"] == 1 and b.events() == []
    finally:
        r.close()
