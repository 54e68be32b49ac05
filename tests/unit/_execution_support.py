"""Shared fixtures for the execution tests: a small NIFTY chain, a harness, a scripted broker.

Market facts used (MARKET_FACTS.md): NIFTY contracts expiring from Jan 2026 have a lot of
65, the freeze limit is 1,800 units, the tick is 0.05. 2026-01-05 is a Monday trading day;
2026-01-13 (Tuesday) is a weekly NIFTY expiry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from optrunner.core.clock import SimClock
from optrunner.core.orders import Order, OrderIntent
from optrunner.core.timeutil import ist
from optrunner.core.types import LegRole, OrderType, Right, Side, Tag
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution import ExecutionPolicy, MemoryJournal, OrderManager, Router, TokenBucket
from optrunner.execution.brokers import (
    BrokerEvent,
    BrokerEventKind,
    BrokerOrderStatus,
    SimConfig,
    SimulatedExchange,
)
from optrunner.instruments.contracts import OptionContract

NAN = math.nan
EXPIRY = date(2026, 1, 13)
DAY = date(2026, 1, 5)
T0 = ist(DAY, time(10, 0))
LOT = 65

# (strike, right) -> (bid, ask, ltp, bid_qty, ask_qty); NaN sizes mean unlimited
DEFAULT_QUOTES: dict[tuple[float, str], tuple[float, float, float, float, float]] = {
    (24800.0, "CE"): (300.0, 301.0, 300.5, NAN, NAN),
    (25000.0, "CE"): (150.0, 151.0, 150.5, NAN, NAN),
    (25200.0, "CE"): (60.0, 61.0, 60.5, NAN, NAN),
    (24800.0, "PE"): (50.0, 51.0, 50.5, NAN, NAN),
    (25000.0, "PE"): (140.0, 141.0, 140.5, NAN, NAN),
    (25200.0, "PE"): (290.0, 291.0, 290.5, NAN, NAN),
}


def contract(strike: float = 25000.0, right: str = "CE", expiry: date = EXPIRY) -> OptionContract:
    return OptionContract("NIFTY", expiry, strike, Right(right))


def chain(
    ts: datetime = T0,
    spot: float = 25010.0,
    quotes: dict[tuple[float, str], tuple[float, float, float, float, float]] | None = None,
    expiry: date = EXPIRY,
    **overrides: tuple[float, float, float, float, float],
) -> ChainSnapshot:
    """A NIFTY chain; ``overrides`` like ``c25000=(bid, ask, ltp, bid_qty, ask_qty)`` / ``p24800=...``."""
    rows = dict(DEFAULT_QUOTES if quotes is None else quotes)
    for key, q in overrides.items():
        rows[(float(key[1:]), "CE" if key[0] == "c" else "PE")] = q
    keys = sorted(rows)
    cols = {
        "strike": [k[0] for k in keys],
        "right": [k[1] for k in keys],
        "expiry": [expiry] * len(keys),
    }
    for n, name in enumerate(("bid", "ask", "ltp", "bid_qty", "ask_qty")):
        cols[name] = [rows[k][n] for k in keys]
    return ChainSnapshot.from_columns("NIFTY", ts, spot, cols)


def intent(
    side: Side = Side.SELL,
    quantity: int = LOT,
    strike: float = 25000.0,
    right: str = "CE",
    *,
    strategy: str = "s",
    tag: Tag = Tag.ENTRY,
    role: LegRole = LegRole.MAIN,
    order_type: OrderType = OrderType.MARKET,
    limit: float | None = None,
    trigger: float | None = None,
    leg: str = "",
    expiry: date = EXPIRY,
) -> OrderIntent:
    return OrderIntent(
        strategy, tag, contract(strike, right, expiry), side, quantity, order_type=order_type,
        limit_price=limit, trigger_price=trigger, role=role, leg=leg,
    )  # fmt: skip


@dataclass
class Harness:
    """Clock + simulated exchange + order manager + router, wired like the kernel wires them."""

    sim: SimConfig = field(default_factory=SimConfig)
    policy: ExecutionPolicy = field(default_factory=ExecutionPolicy)
    exchange_cls: type[SimulatedExchange] = SimulatedExchange
    rate_limit: TokenBucket | None = None

    def __post_init__(self) -> None:
        self.clock = SimClock(T0)
        self.exchange = self.exchange_cls(self.clock, self.sim)
        self.journal = MemoryJournal()
        self.om = OrderManager(
            self.exchange, self.clock, journal=self.journal, default_policy=self.policy, rate_limit=self.rate_limit
        )
        self.router = Router(self.om)
        self.events: list[object] = []
        self.om.add_listener(self.events.append)
        self.feed(chain())

    def feed(self, snap: ChainSnapshot) -> None:
        self.clock.advance(snap.ts)
        self.exchange.on_snapshot(snap)
        self.om.on_snapshot(snap)
        self.om.check_timers()

    def at(self, seconds: float, **overrides: tuple[float, float, float, float, float]) -> None:
        """Feed the default chain (with ``overrides``) ``seconds`` after T0."""
        self.feed(chain(T0 + timedelta(seconds=seconds), **overrides))

    def place(self, i: OrderIntent, policy: ExecutionPolicy | None = None) -> Order:
        o = self.om.place(i, policy)
        self.om.drain()
        return o


class ScriptedBroker:
    """A broker whose answers the test writes by hand (for sequences no real exchange emits)."""

    name = "scripted"

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.modified: list[tuple[str, float]] = []
        self.outbox: list[BrokerEvent] = []
        self.status: dict[str, BrokerOrderStatus | None] = {}
        self.raise_on_submit: list[BaseException] = []
        self.status_calls: list[str] = []
        self.n = 0

    def submit(self, order: Order) -> None:
        if self.raise_on_submit:
            raise self.raise_on_submit.pop(0)
        self.submitted.append(order.client_id)

    def cancel(self, client_id: str) -> None:
        self.cancelled.append(client_id)

    def modify(self, client_id: str, limit_price: float) -> None:
        self.modified.append((client_id, limit_price))

    def order_status(self, client_id: str) -> BrokerOrderStatus | None:
        self.status_calls.append(client_id)
        return self.status.get(client_id)

    def events(self) -> list[BrokerEvent]:
        out, self.outbox = self.outbox, []
        return out

    def answer(self, kind: BrokerEventKind, client_id: str, **kw: object) -> None:
        self.outbox.append(BrokerEvent(kind, client_id, self.clock.now(), **kw))  # type: ignore[arg-type]

    def fill(self, client_id: str, quantity: int, price: float) -> None:
        self.n += 1
        self.answer(BrokerEventKind.FILL, client_id, quantity=quantity, price=price, exec_id=f"X{self.n}")
