"""RoutingBroker on the real Redis: each request goes to its strategy's broker's topic, later
requests follow the order (also after a restart, found in the broker's book), the session
close goes to every broker, answers read by a shared XREAD reach the right StreamBroker, and a
live account's positions are its sole strategy's."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import msgspec
import pytest

from optrunner.bus import messages as m
from optrunner.bus.broker import StreamBroker
from optrunner.bus.routing import RoutingBroker
from optrunner.bus.streams import StreamBus, connect
from optrunner.bus.topics import Topics
from optrunner.core.clock import SimClock
from optrunner.core.orders import Order
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderState, OrderType, Right, Side, Tag
from optrunner.execution.brokers.base import BrokerEvent, BrokerEventKind, BrokerOrderStatus
from optrunner.instruments.contracts import OptionContract

pytestmark = pytest.mark.services
CE = OptionContract("NIFTY", date(2026, 12, 29), 24000.0, Right.CE)
T0 = datetime(2026, 12, 4, 9, 30, tzinfo=IST)
ROUTES = {"P1": "paper", "K1": "kite"}


@pytest.fixture
def buses(redis_url: str):
    ns = f"t-rb-{uuid.uuid4().hex[:6]}"
    client = connect(redis_url)
    b = {n: StreamBus(client, Topics(n, ns)) for n in ("paper", "kite")}
    yield b
    b["paper"].reset()


def routing(buses: dict[str, StreamBus], clock: SimClock) -> RoutingBroker:
    subs = {n: StreamBroker(bus, clock, name=n, origin="strategies", settle=False) for n, bus in buses.items()}
    return RoutingBroker(subs, ROUTES, "paper")


def order(cid: str, strategy: str) -> Order:
    return Order(cid, strategy, Tag.ENTRY, CE, Side.SELL, 65, OrderType.LIMIT, 100.0, created_ts=T0)


def raw(bus: StreamBus) -> list[m.Msg]:
    return [c for _, c in bus.read_all("signals.raw")]


def test_requests_go_to_their_strategys_broker_and_follow_the_order(buses):
    clock = SimClock(T0)
    rb = routing(buses, clock)
    assert rb.name == "paper+kite"
    rb.submit(order("P1-1", "P1"))
    rb.submit(order("K1-1", "K1"))
    rb.submit(order("X-1", "UNROUTED"))  # a strategy without a route: the default broker
    rb.cancel("K1-1")
    rb.modify("P1-1", 101.0)
    rb.end_of_day(T0.date())
    rb.flush()
    paper, kite = raw(buses["paper"]), raw(buses["kite"])
    assert [(type(c).__name__, getattr(c, "client_id", None) or c.order.client_id) for c in paper if not isinstance(c, m.SessionClose)] == [
        ("Submit", "P1-1"), ("Submit", "X-1"), ("Modify", "P1-1")]  # fmt: skip
    assert [type(c).__name__ for c in kite] == ["Submit", "Cancel", "SessionClose"]
    assert sum(isinstance(c, m.SessionClose) for c in paper) == 1
    assert rb.sent == 6 + 1  # the close is sent to both

    # a restart: the new process knows nothing of K1-1 but the kite gateway's book holds it
    status = BrokerOrderStatus("K1-1", OrderState.ACCEPTED, broker_id="B1", strategy="K1")
    buses["kite"].client.hset(Topics("kite", buses["kite"].topics.namespace).state_key("book:orders"),
                              "K1-1", m.encode(m.StatusMsg.of(status)))  # fmt: skip
    again = routing(buses, clock)
    again.cancel("K1-1")
    again.cancel("NOWHERE-1")  # in no book: the default broker answers it (not working)
    again.flush()
    assert [c.client_id for c in raw(buses["kite"])[3:]] == ["K1-1"]
    assert [c.client_id for c in raw(buses["paper"])[4:]] == ["NOWHERE-1"]
    assert again.order_status("K1-1").broker_id == "B1"


def test_answers_from_a_shared_read_reach_the_right_broker(buses):
    clock = SimClock(T0)
    rb = routing(buses, clock)
    rb.fed = True
    assert rb.fed and all(b.fed for b in rb.brokers.values())
    rb.submit(order("K1-1", "K1"))
    rb.submit(order("P1-1", "P1"))
    assert rb.events() == []  # nothing answered yet
    kite_origin, paper_origin = rb.brokers["kite"].origin, rb.brokers["paper"].origin
    ack = BrokerEvent(BrokerEventKind.ACK, "K1-1", T0, "B1")
    buses["kite"].publish("orders.updates", m.Answer(kite_origin, 1, [m.EventMsg.of(ack)]))
    buses["paper"].publish("orders.updates", m.Answer(paper_origin, 1, []))
    cursors = rb.answer_cursors
    assert set(cursors) == {buses[n].topics.key(t) for n in buses for t in ("orders.updates", "signals.rejected")}
    for key, entries in buses["kite"].client.xread(cursors) or ():
        rb.ingest(key.decode(), entries)
    got = rb.events()
    assert [(e.kind, e.client_id) for e in got] == [(BrokerEventKind.ACK, "K1-1")]


def test_a_live_accounts_positions_belong_to_its_only_strategy(buses):
    clock = SimClock(T0)
    rb = routing(buses, clock)
    kite_positions = Topics("kite", buses["kite"].topics.namespace).state_key("book:positions")
    paper_positions = Topics("paper", buses["paper"].topics.namespace).state_key("book:positions")
    buses["kite"].client.set(kite_positions, msgspec.msgpack.encode([("", CE.id, -65)]))
    buses["paper"].client.set(paper_positions, msgspec.msgpack.encode([("P1", CE.id, -130)]))
    assert sorted((p.strategy, p.quantity) for p in rb.positions()) == [("K1", -65), ("P1", -130)]
    shared = RoutingBroker(rb.brokers, {**ROUTES, "K2": "kite"}, "paper")  # two strategies on one account
    assert sorted((p.strategy, p.quantity) for p in shared.positions()) == [("", -65), ("P1", -130)]
