"""A live gateway's notices on the strategies side (StreamBroker + kernel, the real Redis): a
notice published again (a gateway that died before acknowledging the command answers it
again) is applied once; a halt reaches only the kernel that trades the strategy; notices read
before the kernel is wired wait for it. (The gateway end, against the fake Kite:
tests/integration/test_bus_notices.py.)"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from optrunner.bus import messages as m
from optrunner.bus.broker import StreamBroker
from optrunner.bus.strategies import wire_kernel
from optrunner.bus.streams import StreamBus, connect
from optrunner.bus.topics import Topics
from optrunner.core.clock import SimClock
from optrunner.core.orders import OrderIntent
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderType, Right, Side, Tag
from optrunner.instruments.contracts import OptionContract
from optrunner.kernel import Kernel
from optrunner.risk.kill_switch import TradingState

pytestmark = pytest.mark.services
T0 = datetime(2026, 12, 4, 9, 30, tzinfo=IST)
CE = OptionContract("NIFTY", date(2026, 12, 29), 24000.0, Right.CE)
EXPIRED = "kite session expired (place A-1: TokenException (403)): log in again (optrunner broker login kite)"
NOW = datetime(2026, 12, 4, 4, 0, tzinfo=UTC)


@pytest.fixture
def bus(redis_url: str):
    b = StreamBus(connect(redis_url), Topics("kite", f"t-notices-{uuid.uuid4().hex[:6]}"))
    yield b
    b.reset()


def kernel_on(bus: StreamBus) -> tuple[StreamBroker, Kernel]:
    """A kernel behind a StreamBroker whose answers its owner reads (the live strategies service)."""
    clock = SimClock(T0)
    broker = StreamBroker(bus, clock, name="kite", settle=False)
    broker.fed = True
    return broker, Kernel(broker, clock, capital=10_000_000.0, log_alerts=False)


def deliver(bus: StreamBus, broker: StreamBroker, kernel: Kernel) -> None:
    """The service's input loop: its shared XREAD hands the answers over, the kernel drains."""
    for key, entries in bus.client.xread(broker.answer_cursors) or ():
        broker.ingest(key.decode(), entries)
    kernel.om.drain()


def from_broker(kernel: Kernel) -> list[tuple[str, str]]:
    return [(a.level, a.message) for a in kernel.alerts if a.source == "broker:kite"]


def test_a_notice_published_again_is_applied_once(bus: StreamBus) -> None:
    broker, kernel = kernel_on(bus)
    wire_kernel(broker, kernel)
    answer = [m.Notice.of("strategies-1:7:0", NOW, "alert", "critical", EXPIRED),
              m.Notice.of("strategies-1:7:1", NOW, "halt", None, "kite session expired")]  # fmt: skip
    bus.publish_many("orders.updates", answer + answer)  # the command answered twice
    deliver(bus, broker, kernel)
    bus.publish_many("orders.updates", answer)  # and once more, read later
    deliver(bus, broker, kernel)
    assert from_broker(kernel) == [("critical", EXPIRED)]
    switch = kernel.risk.kill_switch
    assert switch.state is TradingState.REDUCING
    assert [(c.source, c.reason) for c in switch.history] == [("broker:kite", "kite session expired")]
    restored = [m.Notice.of("strategies-1:9:0", NOW, "alert", "info", "kite session restored; orders flow again"),
                m.Notice.of("strategies-1:9:1", NOW, "resume")]  # fmt: skip
    bus.publish_many("orders.updates", restored + restored)
    deliver(bus, broker, kernel)
    assert from_broker(kernel) == [("critical", EXPIRED), ("info", "kite session restored; orders flow again")]
    assert switch.state is TradingState.ACTIVE and len(switch.history) == 2


def test_a_halt_reaches_the_kernel_that_trades_the_strategy_only(bus: StreamBus) -> None:
    broker, kernel = kernel_on(bus)
    wire_kernel(broker, kernel)
    (order,) = kernel.router.submit(OrderIntent("A", Tag.ENTRY, CE, Side.SELL, 65, OrderType.LIMIT, 100.0))
    kernel.om.drain()  # A's order is out; its answer has not come yet
    assert order.client_id in [c.order.client_id for _, c in bus.read_all("signals.raw") if isinstance(c, m.Submit)]
    bus.publish_many("orders.updates", [
        m.Notice.of("strategies-1:3:0", NOW, "halt", "A", "kite: order A-000001 cancelled at the broker"),
        m.Notice.of("strategies-2:5:0", NOW, "halt", "B", "kite: order B-000001 cancelled at the broker"),
    ])  # fmt: skip
    deliver(bus, broker, kernel)
    assert kernel.om.halted() == {"A": "kite: order A-000001 cancelled at the broker"}  # B: another process's
    assert not any("B" in a.message for a in kernel.alerts)


def test_notices_read_before_the_kernel_is_wired_wait_for_it(bus: StreamBus) -> None:
    broker, kernel = kernel_on(bus)
    bus.publish("orders.updates", m.Notice.of("strategies-1:2:0", NOW, "alert", "critical", EXPIRED))
    deliver(bus, broker, kernel)  # a recovering node drains before its service wires it
    assert from_broker(kernel) == []
    wire_kernel(broker, kernel)
    kernel.om.drain()
    assert from_broker(kernel) == [("critical", EXPIRED)]


def test_a_notice_survives_the_wire_whole() -> None:
    for notice in (m.Notice.of("o:1:0", NOW, "alert", "warning", "x"), m.Notice.of("o:1:1", NOW, "halt", None, "y"),
                   m.Notice.of("o:1:2", NOW, "halt", "S", "z"), m.Notice.of("o:1:3", NOW, "resume")):  # fmt: skip
        again = m.decode(m.encode(notice))
        assert again == notice
    assert [n.args() for n in (m.Notice.of("o:1:0", NOW, "alert", "warning", "x"),
                               m.Notice.of("o:1:1", NOW, "halt", None, "y"), m.Notice.of("o:1:3", NOW, "resume"))] == [
        ("warning", "x"), (None, "y"), ()]  # fmt: skip
    with pytest.raises(ValueError, match="unknown notice kind 'stop'"):
        m.Notice.of("o:1:4", NOW, "stop")
