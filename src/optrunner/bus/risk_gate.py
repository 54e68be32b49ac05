"""The risk service: ``{broker}.signals.raw`` -> ``signals.validated`` | ``signals.rejected``.

Each strategies process already runs the kernel's pre-trade checks on its own intents (the
same code path as one process). This gate runs the *same* :class:`RiskEngine` again on every
order, against the whole account: its view is built from what every strategies process
trades through this broker (``orders.fills``, the answers on ``orders.updates``) and the
market each command was made at, read through the kernel's own :class:`KernelView`. So an
account-wide limit holds across processes, and the kill switch (``OPTRUNNER_KILL_SWITCH`` or
its HALTED state) stops every order at one place. It fails closed: a check that raises, or a
command it cannot read, rejects (the latter via the DLQ after retries).

Its state is rebuilt from the retained streams when it starts, so it can be killed at any
time: a command it had not acknowledged is delivered again and checked again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from optrunner.bus import messages as m
from optrunner.bus.gateway import command_key
from optrunner.bus.streams import FIELD, Delivery, GroupConsumer, MarketMarks, Outcome, StreamBus
from optrunner.core.clock import SimClock
from optrunner.core.orders import Fill, Order, OrderIntent
from optrunner.core.timeutil import to_ist
from optrunner.core.types import OrderState, Side, Tag
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution.brokers.base import BrokerEventKind
from optrunner.instruments import get_index
from optrunner.instruments.contracts import OptionContract
from optrunner.kernel_view import KernelView
from optrunner.portfolio import ChargeSchedule, Portfolio
from optrunner.risk import RiskEngine, StrategyLimits

log = logging.getLogger(__name__)
GROUP = "risk"
_TERMINAL = {BrokerEventKind.REJECT, BrokerEventKind.CANCELLED, BrokerEventKind.EXPIRED}


class _Orders:
    """The working orders the gate let through, as the view's ``om`` reads them."""

    def __init__(self) -> None:
        self.known: dict[str, Order] = {}  # every order seen (validated here, or submitted by the gateway)
        self.working: dict[str, Order] = {}
        self.finished: set[str] = set()
        self.filled: set[str] = set()  # client ids with a first fill (brokerage once per order)

    def add(self, order: Order) -> None:
        if order.client_id not in self.known:
            self.known[order.client_id] = order
            if order.client_id not in self.finished:
                self.working[order.client_id] = order

    def open_orders(self, strategy: str | None = None) -> list[Order]:
        return [o for o in self.working.values() if strategy is None or o.strategy == strategy]

    def is_halted(self, strategy: str) -> bool:
        return False  # halts are the strategies' kernels' (they refuse before sending)


class _NoHalts:
    def get_status(self) -> dict[str, Any]:
        return {"halted": []}


class AccountBook:
    """Positions, P&L and working orders of every strategy on this broker, from the streams.
    It has the attributes :class:`KernelView` reads, so the checks see what a kernel would."""

    def __init__(self, capital: float, charges: ChargeSchedule | None = None) -> None:
        self.portfolio = Portfolio(capital)
        self.om = _Orders()
        self.runner = _NoHalts()
        self.clock = SimClock()
        self.charges = charges or ChargeSchedule.load()
        self.latest: dict[str, ChainSnapshot] = {}
        self.opened: dict[tuple[str, OptionContract], datetime] = {}
        self.last_exit: dict[OptionContract, datetime] = {}
        self.day_start_net: dict[str, float] = {}
        self.day: date | None = None
        self.executions: set[str] = set()  # exec ids booked (each once)

    def at(self, ts: datetime) -> None:
        try:
            if ts <= self.clock.now():
                return
        except RuntimeError:
            pass
        self.clock.advance(ts)
        d = to_ist(ts).date()
        if d != self.day:
            self.day = d
            self.portfolio.start_day(d)
            self.day_start_net = {s: self.portfolio.summary(s).net for s in self.portfolio.strategies()}

    def market(self, snapshot: ChainSnapshot) -> None:
        self.at(snapshot.ts)
        self.latest[snapshot.symbol] = snapshot
        self.portfolio.mark(snapshot)

    def answer(self, ev: m.EventMsg) -> None:
        kind = BrokerEventKind(ev.kind)
        if ev.exec_id:  # a restarted gateway answers again with its whole trade book
            if ev.exec_id in self.executions:
                return
            self.executions.add(ev.exec_id)
        order = self.om.known.get(ev.client_id)
        if kind is BrokerEventKind.SETTLEMENT and ev.contract and ev.side:
            contract, side = OptionContract.from_id(ev.contract), Side(ev.side)
            exchange = get_index(contract.underlying).exchange
            charges = self.charges.settlement_charges(exchange, side, ev.quantity, ev.price, ev.ts)
            self._book(Fill(ev.exec_id, ev.client_id, ev.strategy, Tag.EXIT, contract, side, ev.quantity, ev.price,
                            ev.ts, charges, is_settlement=True))  # fmt: skip
        elif kind is BrokerEventKind.FILL and order is not None:
            exchange = get_index(order.contract.underlying).exchange
            first = ev.client_id not in self.om.filled
            self.om.filled.add(ev.client_id)
            charges = self.charges.charges_for_fill(exchange, order.side, ev.quantity, ev.price, ev.ts, first_fill_of_order=first)
            self._book(Fill(ev.exec_id, ev.client_id, order.strategy, order.tag, order.contract, order.side,
                            ev.quantity, ev.price, ev.ts, charges, order.leg))  # fmt: skip
            order.filled_qty += ev.quantity
            if order.filled_qty >= order.quantity:
                order.state = OrderState.FILLED
                self._finish(ev.client_id)
        elif kind in _TERMINAL:
            self._finish(ev.client_id)

    def _finish(self, client_id: str) -> None:
        self.om.working.pop(client_id, None)
        self.om.finished.add(client_id)

    def _book(self, fill: Fill) -> None:
        key = (fill.strategy, fill.contract)
        before = self.portfolio.position(*key)
        had = before.quantity if before is not None else 0
        self.portfolio.apply_fill(fill)
        after = self.portfolio.position(*key)
        now_qty = after.quantity if after is not None else 0
        if had == 0 and now_qty != 0:
            self.opened[key] = fill.ts
        if now_qty == 0:
            self.opened.pop(key, None)
            self.last_exit[fill.contract] = fill.ts
        self.day_start_net.setdefault(fill.strategy, 0.0)


class RiskGate:
    """One member of the ``risk`` group. Commands of one broker stay in order: run one member
    per broker (a second one only takes over the pending entries of a dead one)."""

    def __init__(self, bus: StreamBus, engine: RiskEngine, capital: float, *, configs: Sequence[Any] = (),
                 consumer: str = "risk-1", charges: ChargeSchedule | None = None) -> None:  # fmt: skip
        self.bus, self.engine = bus, engine
        for config in configs:
            engine.set_limits(config.name, StrategyLimits.from_config(getattr(config, "risk_management", None)))
        if engine.account.capital is None:
            engine.account.capital = capital
        self.book = AccountBook(capital, charges)
        self.view = KernelView(self.book)  # type: ignore[arg-type]
        self.consumer = GroupConsumer(bus, ["signals.raw"], GROUP, consumer, dedupe=command_key)
        # the whole retained day, so the book is rebuilt on a restart: each order (submitted)
        # before its answers (the gateway commits both in one transaction, submitted first)
        self._cursors = {bus.topics.key("orders.submitted"): "0-0", bus.topics.key("orders.updates"): "0-0"}
        self.checked = 0
        self.marks = MarketMarks(bus, GROUP)
        for chain in self.marks.load():  # after a restart: the market the last checks saw
            self.book.market(chain.snapshot())

    def run_once(self, block_ms: int | None = 100) -> int:
        return self.consumer.run_once(self.handle, block_ms=block_ms)

    def catch_up(self) -> None:
        """Apply every answer published since the last call (fills, rejects, cancels)."""
        for key in self._cursors:
            while True:
                rows = self.bus.client.xread({key: self._cursors[key]}, count=1000)
                if not rows:
                    break
                for entry_id, fields in rows[0][1]:
                    self._cursors[key] = entry_id.decode()
                    msg = m.decode(fields[FIELD])
                    if isinstance(msg, m.Submitted):
                        self.book.om.add(msg.order.order())
                    elif isinstance(msg, m.Answer):
                        for ev in msg.events:
                            self.book.answer(ev)

    def handle(self, d: Delivery) -> Outcome:
        cmd = d.msg
        if not isinstance(cmd, m.Command):
            raise TypeError(f"the risk gate checks commands, not {type(cmd).__name__}")
        self.catch_up()
        self.book.at(cmd.ts)  # type: ignore[attr-defined]
        if isinstance(cmd, m.MarketAt):
            chain = self.bus.entry("market.chains", cmd.market_id)
            if not isinstance(chain, m.Chain):
                raise LookupError(f"market.chains entry {cmd.market_id} ({cmd.symbol} {cmd.ts}) is gone (trimmed?)")
            self.book.market(chain.snapshot())
            self.engine.account.update(self.book.portfolio.day_pnl, cmd.ts)
            self.marks.note(cmd.symbol, cmd.market_id)
            return Outcome([("signals.validated", cmd)], apply=self.marks.write)
        elif isinstance(cmd, m.Submit):
            order = cmd.order.order()
            intent = OrderIntent(order.strategy, order.tag, order.contract, order.side, order.quantity,
                                 order.order_type, order.limit_price, order.trigger_price, order.product,
                                 leg=order.leg, client_id=order.client_id)  # fmt: skip
            if order.client_id not in self.book.om.known:  # a re-sent order is the gateway's to dedupe
                decision = self.engine.check(intent, self.view)
                self.checked += 1
                if not decision.ok:
                    log.warning("risk refused %s (%s): %s %s", order.client_id, order.strategy, decision.code, decision.message)
                    return Outcome([("signals.rejected", m.Rejected(cmd.origin, cmd.seq, cmd.ts, order.client_id,
                                                                     order.strategy, decision.code, decision.message))])  # fmt: skip
                self.book.om.add(order)
        return Outcome([("signals.validated", cmd)])
