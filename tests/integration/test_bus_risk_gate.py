"""The risk service's gate in process, against the real Redis: it checks every order with
the kernel's RiskEngine on an account-wide view built from the streams, fails closed, and
sends poison commands to its DLQ."""

from __future__ import annotations

import uuid
from datetime import datetime

import numpy as np
import pytest

from optrunner.bus import messages as m
from optrunner.bus.gateway import Gateway
from optrunner.bus.risk_gate import RiskGate
from optrunner.bus.streams import StreamBus, connect
from optrunner.bus.topics import Topics
from optrunner.core.clock import SimClock
from optrunner.core.orders import Order
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderType, Side, Tag
from optrunner.data.snapshot import FLOAT_COLUMNS, ChainSnapshot
from optrunner.execution.brokers.simulated import SimulatedExchange
from optrunner.instruments.contracts import OptionContract
from optrunner.risk import RiskEngine
from optrunner.risk.kill_switch import TradingState

TS = datetime(2026, 1, 12, 10, 0, tzinfo=IST)


@pytest.fixture
def bus(redis_url: str):
    b = StreamBus(connect(redis_url), Topics("paper", f"t-risk-{uuid.uuid4().hex[:8]}"))
    yield b
    b.reset()


def chain() -> ChainSnapshot:
    strikes = np.repeat(np.arange(24500, 25550, 50.0), 2)
    n = len(strikes)
    cols = {c: np.full(n, 100.0) for c in FLOAT_COLUMNS}
    cols["bid"], cols["ask"] = np.full(n, 99.5), np.full(n, 100.5)
    return ChainSnapshot.from_columns("NIFTY", TS, 25010.0, {
        "strike": strikes, "is_call": np.tile([True, False], n // 2), "expiry": np.datetime64("2026-01-13"), **cols})  # fmt: skip


def sell(strategy: str, strike: int, n: int) -> m.OrderMsg:
    c = OptionContract.from_id(f"NIFTY:20260113:{strike}:CE")
    return m.OrderMsg.of(Order(f"{strategy}-{n:06d}", strategy, Tag.ENTRY, c, Side.SELL, 65, OrderType.MARKET, created_ts=TS))


def drain(*services) -> None:
    for _ in range(3):
        for s in services:
            s.run_once(block_ms=None)


def test_an_account_wide_limit_holds_across_two_strategies_processes(bus: StreamBus) -> None:
    market = bus.publish("market.chains", m.Chain.of(chain()))
    gate = RiskGate(bus, RiskEngine(), 1e7)
    clock = SimClock()
    gateway = Gateway(bus, SimulatedExchange(clock), clock)
    bus.publish_many("signals.raw", [m.MarketAt("A-1", 1, TS, "NIFTY", market), m.Submit("A-1", 2, TS, sell("A", 25000, 1))])
    drain(gate, gateway)
    [(_, answer)] = [(i, a) for i, a in bus.read_all("orders.updates") if a.seq == 2]
    assert [e.kind for e in answer.events] == ["ACK", "FILL"]  # process A's short call is on
    # process B (another strategy, its own kernel: it cannot see A's position) shorts a call too
    bus.publish("signals.raw", m.Submit("B-1", 1, TS, sell("B", 25100, 1)))
    drain(gate, gateway)
    [(_, refused)] = bus.read_all("signals.rejected")
    # A's short (sold at the 99.5 bid, marked at 100) blocks a second short call on NIFTY
    assert (refused.origin, refused.seq, refused.code) == ("B-1", 1, "PYRAMID_NOT_PROFITABLE")
    assert "NIFTY:20260113:25000:CE is not in profit" in refused.reason
    assert [x.order.client_id for _, x in bus.read_all("orders.submitted")] == ["A-000001"]


def test_a_halted_kill_switch_stops_every_order_at_the_gate(bus: StreamBus) -> None:
    market = bus.publish("market.chains", m.Chain.of(chain()))
    engine = RiskEngine()
    engine.kill_switch.set(TradingState.HALTED, source="test", reason="operator")
    gate = RiskGate(bus, engine, 1e7)
    bus.publish_many("signals.raw", [m.MarketAt("A-1", 1, TS, "NIFTY", market), m.Submit("A-1", 2, TS, sell("A", 25000, 1))])
    drain(gate)
    assert [type(x).__name__ for _, x in bus.read_all("signals.validated")] == ["MarketAt"]
    [(_, refused)] = bus.read_all("signals.rejected")
    assert refused.code == "KILL_SWITCH_HALTED"


def test_a_poison_command_goes_to_the_risk_dlq_and_the_rest_flows(bus: StreamBus) -> None:
    gate = RiskGate(bus, RiskEngine(), 1e7)
    missing = m.MarketAt("A-1", 1, TS, "NIFTY", "1-0")  # names a market.chains entry that is not there
    bus.publish("signals.raw", missing)
    bus.publish("signals.raw", m.Cancel("A-1", 2, TS, "A-000001"))
    for _ in range(4):
        gate.run_once(block_ms=None)
    [(_, letter)] = bus.read_all("risk.dlq")
    assert letter.failures == 3 and "is gone" in letter.error and m.decode(letter.payload) == missing
    assert [x for _, x in bus.read_all("signals.validated")] == [m.Cancel("A-1", 2, TS, "A-000001")]
