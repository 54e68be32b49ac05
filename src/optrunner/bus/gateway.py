"""The order gateway: validated commands -> one broker, answers -> ``{broker}.orders.*``.

It applies each command once (dedupe on ``origin:seq``) and in order, on the broker clock
the sender's kernel was at, and publishes in one transaction with the acknowledgement: the
command's ``Answer`` (every broker event it caused), each execution on ``orders.fills``, a
new order on ``orders.submitted``, and the broker's books (order statuses, positions,
trades) for ``StreamBroker.order_status`` and reconciliation.

After a crash a command may come again (it was not acknowledged). The broker's book is
durable (the paper broker writes it on every change; a live broker *is* the book, and its
adapter finds an order by the tag our client id was sent under), so an order it already
holds is not sent twice: the gateway answers again from the book instead (its status and
executions, which the order manager applies once each by exec id). Events the crash cut off
are answered the same way: a redelivered command's answer carries the whole trade book.

A live broker (Kite, Dhan, Shoonya) executes on its own market: "the market moved" commands
only ask it for what it said since (their answers carry its fills of resting orders), and it
is not shown snapshots. Its books are read over HTTP, so they are copied to Redis only after
a command that changed something, not after every command.

A live broker's alerts, halts and resumes (its session expired, an answer did not parse, an
order was cancelled at the broker) are heard through the adapter's hooks, which it calls
from ``events()`` — so always while a command is handled — and published as ``Notice``s on
``orders.updates`` with that command's answer, just before it: every strategies process on
this broker reads them, and the sender has them when its answer arrives. A notice's id is the
command's key and its place in the answer, the same if the command is handled again.

Once a live broker's session has expired its books cannot be read until the next login: a
command is still answered (the adapter rejects orders with "log in again" and raises the
alert), and the books in Redis stay as last read. An order is not looked up before it is sent
then: with no session the broker takes none, so it cannot be sent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from optrunner.bus import messages as m
from optrunner.bus.broker import BookKeys
from optrunner.bus.streams import Delivery, GroupConsumer, MarketMarks, Outcome, StreamBus
from optrunner.core.clock import SimClock
from optrunner.core.types import OrderState
from optrunner.execution.brokers.base import BrokerEvent, BrokerEventKind, RejectReason
from optrunner.execution.brokers.live.errors import SessionExpired

log = logging.getLogger(__name__)
GROUP = "gateway"
_EXECUTIONS = (BrokerEventKind.FILL, BrokerEventKind.SETTLEMENT)
T = TypeVar("T")


def command_key(msg: Any) -> str | None:
    return f"{msg.origin}:{msg.seq}" if isinstance(msg, m.Command) else None


class Gateway:
    """Executes ``{broker}.signals.validated`` on ``broker`` (paper: a :class:`PaperBroker`)."""

    def __init__(self, bus: StreamBus, broker: Any, clock: SimClock, *, consumer: str = "gateway-1") -> None:
        self.bus, self.broker, self.clock = bus, broker, clock
        self.books = BookKeys(bus)
        self.consumer = GroupConsumer(bus, ["signals.validated"], GROUP, consumer, dedupe=command_key)
        self.commands = 0
        self._carry: list[BrokerEvent] = []  # answers of the warm-up, handed out with the next command
        self.marks = MarketMarks(bus, GROUP)
        self.market_driven = hasattr(broker, "on_snapshot")  # paper; a live broker has its own market
        self._books_written = False
        self._trade_msgs: list[m.EventMsg] = []  # the trade book as last written (see _trade_book)
        self._trade_last: BrokerEvent | None = None
        self._expired = False  # the broker's books could not be read (its session expired)
        self._heard: list[tuple[str, tuple[Any, ...]]] = []  # the adapter's notices, for the next answer
        if hasattr(broker, "on_halt"):  # a live adapter (the paper broker raises none)
            broker.on_alert = lambda level, message: self._heard.append(("alert", (level, message)))
            broker.on_halt = lambda strategy, reason: self._heard.append(("halt", (strategy, reason)))
            broker.on_resume = lambda: self._heard.append(("resume", ()))
        self.warm_up()

    def warm_up(self) -> None:
        """After a restart: show the broker again the last snapshot it executed on per symbol.
        Its book is durable but its current market is not; without this a resting order's
        next request would meet an empty chain. A snapshot seen already executes nothing."""
        for chain in self.marks.load() if self.market_driven else ():
            snap = chain.snapshot()
            if snap.ts > self._now():
                self.clock.advance(snap.ts)
            self.broker.on_snapshot(snap)
        self._carry = self.broker.events()

    def run_once(self, block_ms: int | None = 100) -> int:
        return self.consumer.run_once(self.handle, block_ms=block_ms)

    def handle(self, d: Delivery) -> Outcome:
        cmd = d.msg
        if not isinstance(cmd, m.Command):
            raise TypeError(f"the gateway executes commands, not {type(cmd).__name__}")
        ts = m.ist(getattr(cmd, "ts", None))
        if ts is not None and ts > self._now():
            self.clock.advance(ts)
        out = Outcome()
        touched: set[str] = set()
        events: list[BrokerEvent]
        if isinstance(cmd, m.Submit):
            cid = cmd.order.client_id
            touched.add(cid)
            if self._book(lambda: self.broker.order_status(cid), None) is None:
                self.broker.submit(cmd.order.order())
                out.publish.append(("orders.submitted", m.Submitted(cmd.ts, cmd.order)))
                events = self.broker.events()
            else:  # sent before a crash (or re-sent by a restarted kernel): answer from the book
                log.warning("order %s is already at the broker: answered from its book, not sent again", cid)
                events = self.broker.events() + self._from_book(cid)
        elif isinstance(cmd, m.Cancel):
            self.broker.cancel(cmd.client_id)
            events = self.broker.events()
        elif isinstance(cmd, m.Modify):
            self.broker.modify(cmd.client_id, cmd.limit_price)
            events = self.broker.events()
        elif isinstance(cmd, m.MarketAt):
            if self.market_driven:
                chain = self.bus.entry("market.chains", cmd.market_id)
                if not isinstance(chain, m.Chain):
                    raise LookupError(f"market.chains entry {cmd.market_id} ({cmd.symbol} {cmd.ts}) is gone (trimmed?)")
                self.broker.on_snapshot(chain.snapshot())
                self.marks.note(cmd.symbol, cmd.market_id)
            events = self.broker.events()
        elif isinstance(cmd, m.SessionClose):
            if hasattr(self.broker, "end_of_day"):  # a live broker's session is closed by the exchange
                self.broker.end_of_day(cmd.day)
            events = self.broker.events()
        else:
            raise TypeError(f"unknown command {type(cmd).__name__}")
        if self._carry:
            events, self._carry = self._carry + events, []
        if d.redelivered:  # the first attempt's answers may be lost with the crash
            seen = {e.exec_id for e in events if e.exec_id}
            events += [e for e in self._book(self.broker.trades, []) if e.exec_id not in seen]
        touched.update(e.client_id for e in events if e.client_id)
        heard, self._heard = self._heard, []
        out.publish.extend(("orders.updates", m.Notice.of(f"{cmd.origin}:{cmd.seq}:{i}", m.utc_now(), kind, *args))
                           for i, (kind, args) in enumerate(heard))  # fmt: skip
        out.publish.append(("orders.updates", m.Answer(cmd.origin, cmd.seq, [m.EventMsg.of(e) for e in events])))
        out.publish.extend(("orders.fills", m.FillMsg(m.EventMsg.of(e))) for e in events if e.kind in _EXECUTIONS)
        out.apply = self._books_writer(touched, changed=bool(events) or d.redelivered)
        self.commands += 1
        return out

    def _now(self) -> datetime:
        try:
            return self.clock.now()
        except RuntimeError:  # before the first command
            return datetime.min.replace(tzinfo=UTC)

    def _book(self, read: Callable[[], T], expired: T) -> T:
        """``read()`` of the broker's books; ``expired`` when its session has expired."""
        try:
            return read()
        except SessionExpired as exc:
            (log.debug if self._expired else log.warning)(
                "the broker's books cannot be read (%s): its session expired; Redis keeps their last copy", exc)
            self._expired = True  # said once (a login takes a gateway restart)
            return expired

    def _from_book(self, client_id: str) -> list[BrokerEvent]:
        st = self.broker.order_status(client_id)
        if st.state is OrderState.REJECTED:
            return [BrokerEvent(BrokerEventKind.REJECT, client_id, self.clock.now(), reject_reason=RejectReason.BROKER, reason=st.reason)]
        ack = BrokerEvent(BrokerEventKind.ACK, client_id, self.clock.now(), st.broker_id)
        return [ack, *st.fills]

    def _books_writer(self, touched: set[str], *, changed: bool) -> Any:
        """The books as they are after this command. Paper: every time (a local read); a live
        broker: only when the command changed something (each read is an HTTP request)."""
        refresh = self.market_driven or changed or not self._books_written
        books = self._book(lambda: self._read_books(touched, refresh), None)  # None: Redis keeps the last
        statuses, positions, trades = books or ({}, b"", b"")
        refresh = refresh and books is not None
        self._books_written = self._books_written or refresh

        def write(pipe: Any) -> None:
            if statuses:
                pipe.hset(self.books.statuses, mapping=statuses)
            if refresh:
                pipe.set(self.books.positions, positions)
                pipe.set(self.books.trades, trades)
            self.marks.write(pipe)

        return write

    def _read_books(self, touched: set[str], refresh: bool) -> tuple[dict[str, bytes], bytes, bytes]:
        statuses = {}
        for cid in touched:
            st = self.broker.order_status(cid)
            if st is not None:
                statuses[cid] = m.encode(m.StatusMsg.of(st))
        if not refresh:
            return statuses, b"", b""
        positions = msgspec.msgpack.encode([(p.strategy, p.contract.id, p.quantity) for p in self.broker.positions()])
        return statuses, positions, self._trade_book()

    def _trade_book(self) -> bytes:
        """The broker's trade book, encoded. A paper broker's book grows all session and was
        converted whole after every command (O(trades) each: 0.65 ms per command by 1,000
        trades, benchmarks/bench_bus.py); its executions are the same objects from one call
        to the next, so only the new ones are converted. A new session's book, or a live
        broker's (new objects from every HTTP read), is converted whole."""
        trades = self.broker.trades()
        n = len(self._trade_msgs)
        if not (n and len(trades) >= n and trades[n - 1] is self._trade_last):
            self._trade_msgs, n = [], 0
        self._trade_msgs.extend(m.EventMsg.of(e) for e in trades[n:])
        self._trade_last = trades[-1] if trades else None
        return msgspec.msgpack.encode(self._trade_msgs)
