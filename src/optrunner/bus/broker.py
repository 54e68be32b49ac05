"""The broker protocol over the bus: what a strategies service's kernel trades through.

The kernel's seam to a broker is already asynchronous (``submit`` returns at once; answers
are drained later from ``events()``), so a kernel needs no change to trade through other
processes: every request becomes a numbered command on ``{broker}.signals.raw`` (the risk
service checks it, the gateway executes it), and every answer comes back as an ``Answer``
on ``{broker}.orders.updates`` (or a ``Rejected`` on ``{broker}.signals.rejected``).

With ``settle`` (replays), ``events()`` waits until every command sent so far is answered,
so the kernel sees the answers exactly where it would have seen the in-process broker's:
a replay through the services makes the same orders and fills as ``optrunner run``. Without
it (a live feed) ``events()`` returns what has arrived. The gateway keeps its books in Redis
(order statuses, positions, trades), so ``order_status`` and reconciliation work, and so does
a restart's recovery (``TradingNode.recover``).

A live gateway also publishes its adapter's alerts, halts and resumes there (``Notice``): a
StreamBroker hands each one, once by its id, to its own ``on_alert``/``on_halt``/``on_resume``
hooks from ``events()``, as the adapter does in one process — so ``attach_kernel`` wires it to
a kernel the same way (``serve --live``'s wiring). A halt of a strategy this process does not
trade (``owns``) is another strategies process's to apply.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import msgspec

from optrunner.bus import messages as m
from optrunner.bus.streams import FIELD, StreamBus
from optrunner.core.clock import Clock
from optrunner.core.orders import Order
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution.brokers.base import (
    BrokerEvent,
    BrokerEventKind,
    BrokerOrderStatus,
    BrokerPosition,
    RejectReason,
)
from optrunner.execution.brokers.live.adapter import deliver_notice
from optrunner.instruments.contracts import OptionContract

log = logging.getLogger(__name__)

POLL_SECONDS = 0.001  # without settle, how often events() looks for answers
DEFAULT_SETTLE_TIMEOUT = 600.0  # a stopped gateway stalls the replay; it is logged meanwhile


class BookKeys:
    """Where a gateway keeps its broker's books in Redis (one set per broker)."""

    def __init__(self, bus: StreamBus) -> None:
        t = bus.topics
        self.statuses = t.state_key("book:orders")  # hash client_id -> StatusMsg
        self.positions = t.state_key("book:positions")  # msgpack [(strategy, contract, qty)]
        self.trades = t.state_key("book:trades")  # msgpack [EventMsg]


class StreamBroker:
    """A :class:`~optrunner.execution.brokers.base.Broker` whose venue is a gateway service."""

    def __init__(
        self, bus: StreamBus, clock: Clock, *, name: str = "paper", origin: str = "strategies",
        config: Any = None, settle: bool = True, settle_timeout: float = DEFAULT_SETTLE_TIMEOUT,
    ) -> None:  # fmt: skip
        """``origin``: this process's name; a boot id is appended, so the numbering of one
        run never collides with the last one's (their dedupe keys differ)."""
        self.bus, self.client, self.clock = bus, bus.client, clock
        self.name = name
        self.config = config  # the venue's fill settings (freeze limits), as the gateway's
        self.origin = f"{origin}-{uuid.uuid4().hex[:8]}"
        self.settle, self.settle_timeout = settle, settle_timeout
        self.books = BookKeys(bus)
        self.market_ids: dict[tuple[str, datetime], str] = {}  # (symbol, ts) -> its market.chains entry
        self._seq = 0
        self._answers: dict[int, list[BrokerEvent]] = {}
        self._next = 1  # the next seq whose answer events() hands out
        self._keys = {bus.topics.key("orders.updates"): "", bus.topics.key("signals.rejected"): ""}
        for key in self._keys:  # answers to this boot's commands only: start after what is there
            last = self.client.xrevrange(key, count=1)
            self._keys[key] = last[0][0].decode() if last else "0-0"
        self.sent = 0
        self._polled = 0.0
        self._outbox: list[m.Command] = []  # one input's requests go out in one round trip
        self.fed = False  # True: the owner's input loop reads the answer streams and ingest()s them
        self.on_alert: Callable[[str, str], None] | None = None  # the live adapter's hooks (wiring.attach_kernel)
        self.on_halt: Callable[[str | None, str], None] | None = None
        self.on_resume: Callable[[], None] | None = None
        self.owns: Callable[[str], bool] = lambda _strategy: True  # does this process trade it?
        self._notices: list[m.Notice] = []  # read, not yet handed to the hooks
        self._notice_ids: set[str] = set()  # every notice id applied or pending (redeliveries)

    # --- requests --------------------------------------------------------------------------

    def _send(self, cmd_type: type[m.Command], **fields: Any) -> None:
        self._seq += 1
        self._outbox.append(cmd_type(origin=self.origin, seq=self._seq, **fields))
        self.sent += 1

    def flush(self) -> None:
        """Publish the buffered requests (pipelined). The kernel drains the broker after every
        input, and events() flushes first, so a request waits at most until its input ends."""
        if self._outbox:
            out, self._outbox = self._outbox, []
            self.bus.publish_many("signals.raw", out)

    def submit(self, order: Order) -> None:
        self._send(m.Submit, ts=self.clock.now(), order=m.OrderMsg.of(order))

    def cancel(self, client_id: str) -> None:
        self._send(m.Cancel, ts=self.clock.now(), client_id=client_id)

    def modify(self, client_id: str, limit_price: float) -> None:
        self._send(m.Modify, ts=self.clock.now(), client_id=client_id, limit_price=limit_price)

    def on_snapshot(self, snapshot: ChainSnapshot) -> None:
        market_id = self.market_ids.get((snapshot.symbol, snapshot.ts))
        if market_id is None:  # not from market.chains (a warm-up, a test): put it there
            market_id = self.bus.publish("market.chains", m.Chain.of(snapshot))
        self._send(m.MarketAt, ts=snapshot.ts, symbol=snapshot.symbol, market_id=market_id)

    def end_of_day(self, day: date) -> None:
        self._send(m.SessionClose, ts=self.clock.now(), day=day)

    # --- answers ---------------------------------------------------------------------------

    def events(self) -> list[BrokerEvent]:
        self.flush()
        out = self._answered()
        self._deliver()  # after the read: a notice comes before the answer of its command
        return out

    def _answered(self) -> list[BrokerEvent]:
        if self._next > self._seq:  # every request answered: nothing can come (a tick costs no round trip)
            return []
        if not self.settle and self.fed:
            return self._hand_out()
        if not self.settle:  # live: look at most every POLL_SECONDS (the kernel drains after every input)
            now = time.monotonic()
            if now - self._polled < POLL_SECONDS:
                return []
            self._polled = now
        deadline = time.monotonic() + self.settle_timeout
        warned = False
        while True:
            self._read(block_ms=None if not self.settle or self._settled() else 50)
            if not self.settle or self._settled():
                break
            if time.monotonic() > deadline and not warned:
                warned = True
                log.error("no answer from the %s gateway for %d request(s) in %.0fs (is it running?); still waiting",
                          self.name, self._seq - self._next + 1, self.settle_timeout)  # fmt: skip
        return self._hand_out()

    def _hand_out(self) -> list[BrokerEvent]:
        out: list[BrokerEvent] = []
        while self._next in self._answers:
            out.extend(self._answers.pop(self._next))
            self._next += 1
        return out

    def _settled(self) -> bool:
        return all(s in self._answers for s in range(self._next, self._seq + 1))

    @property
    def answer_cursors(self) -> dict[str, str]:
        """The answer streams and where this broker has read them to (for a shared XREAD)."""
        return dict(self._keys)

    def _read(self, block_ms: int | None) -> None:
        rows = self.client.xread(self._keys, count=1000, block=block_ms)
        for key, entries in rows or ():
            self.ingest(key.decode(), entries)

    def ingest(self, k: str, entries: list[Any]) -> None:
        """Take answers read from stream ``k`` (by :meth:`_read` or the owner's input loop)."""
        for entry_id, fields in entries:
            self._keys[k] = entry_id.decode()
            msg = m.decode(fields[FIELD])
            if isinstance(msg, m.Notice):  # for every process on this broker
                if msg.id not in self._notice_ids:
                    self._notice_ids.add(msg.id)
                    self._notices.append(msg)
                continue
            if getattr(msg, "origin", None) != self.origin:
                continue
            if isinstance(msg, m.Answer):
                self._answers[msg.seq] = [e.event() for e in msg.events]
            elif isinstance(msg, m.Rejected):
                self._answers[msg.seq] = [BrokerEvent(BrokerEventKind.REJECT, msg.client_id, msg.ts,
                                                      reject_reason=RejectReason.BROKER,
                                                      reason=f"RISK {msg.code}: {msg.reason}")]  # fmt: skip

    def _deliver(self) -> None:
        """The notices read so far, to the hooks in the kernel's thread; kept until the hooks
        are set (a recovering node drains before its service wires it)."""
        if self.on_alert is None or not self._notices:
            return
        notices, self._notices = self._notices, []
        for n in notices:
            if n.kind == "halt" and n.strategy and not self.owns(n.strategy):
                log.info("%s gateway halted %s, which another strategies process trades: %s", self.name, n.strategy, n.message)
                continue
            deliver_notice(self, n.kind, n.args())

    # --- the gateway's books ----------------------------------------------------------------

    def order_status(self, client_id: str) -> BrokerOrderStatus | None:
        raw = self.client.hget(self.books.statuses, client_id)
        return None if raw is None else m.decode_status(raw).status()

    def orders(self) -> list[BrokerOrderStatus]:
        return [m.decode_status(v).status() for v in self.client.hvals(self.books.statuses)]

    def positions(self) -> list[BrokerPosition]:
        raw = self.client.get(self.books.positions)
        rows = msgspec.msgpack.decode(raw) if raw else []
        return [BrokerPosition(s, OptionContract.from_id(c), q) for s, c, q in rows]

    def trades(self) -> list[BrokerEvent]:
        raw = self.client.get(self.books.trades)
        return [e.event() for e in msgspec.msgpack.decode(raw, type=list[m.EventMsg])] if raw else []
