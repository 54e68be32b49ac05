"""The order manager: intents become orders with deterministic ids, driven through the state
machine, journaled before every action, and never lost or duplicated.

Rules it enforces (see DESIGN.md "The kernel" and REFERENCE_SYSTEMS §2.2-6 for the bug the
id rules fix):

* A client id is consumed only once the broker has accepted it. A retry of an accepted id
  returns the existing order; a rejected (or never-delivered) one is reopened and resent
  under the same id; a submitted one with no answer is *not* resent: the broker is asked
  (``order_status``), and if it still cannot say after ``ack_timeout_seconds`` the order is
  flagged unknown and its strategy halted with a critical alert.
* Journal first: each transition is recorded, then ``journal.flush()`` runs before any
  request reaches the broker and before any fill or update reaches a listener. Work is
  grouped so one flush covers a whole batch (``batch()``, or one drained batch of answers).
* Single-threaded and deterministic: broker answers are read from its outbox by ``drain()``;
  time comes from the injected clock; nothing sleeps (rate limits queue, see rate_limit.py).
* After a restart (docs/recovery.md) the orders journaled after the restored state are
  "possibly sent": when the replayed decisions submit one of those client ids again, the
  broker is asked first and an order it already holds is adopted from its answer, not resent.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from typing import Any

from optrunner.core.clock import Clock
from optrunner.core.events import AlertEvent, FillEvent, OrderUpdateEvent
from optrunner.core.orders import ChargeBreakdown, Fill, Order, OrderIntent
from optrunner.core.saved_once import SavedOnce
from optrunner.core.types import OrderState, OrderType, Side, Tag
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution.answers import AnswerHandling
from optrunner.execution.brokers.base import Broker
from optrunner.execution.ids import ClientIds
from optrunner.execution.journal import Journal, NullJournal
from optrunner.execution.policy import ExecutionPolicy, marketable_limit_price
from optrunner.execution.rate_limit import ExponentialBackoff, TokenBucket
from optrunner.execution.records import (
    TERMINAL_STATES,
    OrderRecord,
    copy_order,
)
from optrunner.execution.requests import RequestHandling
from optrunner.execution.restarts import RestartHandling
from optrunner.execution.states import (
    LEGAL_TRANSITIONS,
    IllegalTransition,
    InvalidOrder,
    StrategyHalted,
    validate_intent,
)
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.specs import get_index

log = logging.getLogger(__name__)

S = OrderState
# Hot-path constants: an enum member looked up on its class costs ~75 ns in Python 3.11.
_NEW = S.NEW
_MARKET, _LIMIT = OrderType.MARKET, OrderType.LIMIT
_CREATED = {t: f"created: {t}" for t in Tag}  # the creation reason of an intent without one
_UNPRICED = object()
ChargeFn = Callable[[Order, int, float, datetime, bool], ChargeBreakdown]
SettlementChargeFn = Callable[[OptionContract, Side, int, float, datetime], ChargeBreakdown]
Listener = Callable[[OrderUpdateEvent | FillEvent | AlertEvent], None]
ZERO_CHARGES = ChargeBreakdown()


def zero_charges(*_: Any) -> ChargeBreakdown:
    return ZERO_CHARGES


class OrderManager(RestartHandling, RequestHandling, AnswerHandling):
    """Owns every order of one broker connection (one rate limit, one outbox)."""

    def __init__(
        self,
        broker: Broker,
        clock: Clock,
        *,
        journal: Journal | None = None,
        charge_fn: ChargeFn = zero_charges,
        settlement_charge_fn: SettlementChargeFn = zero_charges,
        default_policy: ExecutionPolicy | None = None,
        rate_limit: TokenBucket | None = None,
        backoff: ExponentialBackoff | None = None,
        ack_query_seconds: float = 1.0,
        ack_timeout_seconds: float = 10.0,
    ) -> None:
        if not 0 < ack_query_seconds <= ack_timeout_seconds:
            raise ValueError(
                f"need 0 < ack_query_seconds ({ack_query_seconds}) <= ack_timeout_seconds ({ack_timeout_seconds})"
            )
        self._broker = broker
        self._broker_batch = getattr(broker, "batch", None) or nullcontext  # requests sent together
        self._clock = clock
        self._journal = journal or NullJournal()
        self._charge_fn = charge_fn
        self._settlement_charge_fn = settlement_charge_fn
        self.default_policy = default_policy or ExecutionPolicy()
        self._limiter = rate_limit
        self._backoff = backoff or ExponentialBackoff()
        self._ack_query = timedelta(seconds=ack_query_seconds)
        self._ack_timeout = timedelta(seconds=ack_timeout_seconds)
        self.ids = ClientIds()
        self._recs: dict[str, OrderRecord] = {}
        self._open: dict[str, OrderRecord] = {}
        self._halted: dict[str, str] = {}
        self._settled: set[str] = set()
        self._queue: list[tuple[datetime, int, str, str, float | None]] = []  # (not_before, seq, kind, id, price)
        self._seq = 0
        self._quotes: dict[str, tuple[ChainSnapshot, dict[OptionContract, tuple[Any, ...]]]] = {}
        self._listeners: list[Listener] = []
        self._halt_listeners: list[Callable[[str, str], None]] = []
        self._inbox: deque[Any] = deque()
        # What listeners will receive once the journal is flushed: order snapshots and fills are
        # wrapped in their events only when published (a container fewer per update alive until
        # then: at 1,000 orders per tick the garbage collector's full passes were a sixth of
        # the time).
        self._publish: deque[Order | Fill | AlertEvent] = deque()
        self._possibly_sent: dict[str, Order] = {}  # client id -> as journaled before a restart
        self._finished: SavedOnce[str, OrderRecord] | None = None  # see track_finished
        self._known_underlyings: set[str] = set()  # passed get_index in _validate
        self._dirty = False
        self._in_commit = False
        self._draining = False
        self._batch_depth = 0
        self.counters: Counter[str] = Counter()  # metrics, not state

    # --- wiring -----------------------------------------------------------------------

    @property
    def broker(self) -> Broker:
        return self._broker

    def now(self) -> datetime:
        return self._clock.now()

    def add_listener(self, fn: Listener) -> None:
        """``fn`` receives OrderUpdateEvent / FillEvent / AlertEvent, after they are journaled."""
        self._listeners.append(fn)

    def on_snapshot(self, snapshot: ChainSnapshot) -> None:
        """Latest quotes for marketable-limit pricing and repricing."""
        self._quotes[snapshot.symbol] = (snapshot, {})

    def quote(self, contract: OptionContract) -> tuple[float, float, float] | None:
        """(bid, ask, ltp) of ``contract`` from the latest snapshot given, or None."""
        q = self._quote(contract)
        return None if q is None else (q[0], q[1], q[2])

    def _quote(self, contract: OptionContract) -> tuple[Any, ...] | None:
        """(bid, ask, ltp, marketable prices by (side, percent)), cached per snapshot."""
        entry = self._quotes.get(contract.underlying)
        if entry is None:
            return None
        snap, seen = entry
        q = seen.get(contract)
        if q is None:
            i = snap.index_of(contract)
            q = seen[contract] = () if i is None else (float(snap.bid[i]), float(snap.ask[i]), float(snap.ltp[i]), {})
        return q or None

    def marketable_price(self, contract: OptionContract, side: Side, percent: float) -> float | None:
        q = self._quote(contract)
        if q is None:
            return None
        prices, key = q[3], (side, percent)
        price = prices.get(key, _UNPRICED)
        if price is _UNPRICED:
            tick = get_index(contract.underlying).tick_size
            price = prices[key] = marketable_limit_price(side, q[0], q[1], q[2], percent, tick)
        return price

    # --- queries ----------------------------------------------------------------------

    def get(self, client_id: str) -> Order | None:
        rec = self._recs.get(client_id)
        return None if rec is None else rec.order

    def orders(self, strategy: str | None = None) -> list[Order]:
        return [r.order for r in self._recs.values() if strategy is None or r.order.strategy == strategy]

    def open_orders(self, strategy: str | None = None) -> list[Order]:
        return [r.order for r in self._open.values() if strategy is None or r.order.strategy == strategy]

    def cancelling(self) -> set[str]:
        """Open orders whose cancel we asked for (a restarted live adapter must not take their
        CANCELLED for a cancel at the broker we never asked for)."""
        return {cid for cid, r in self._open.items() if r.cancel_wanted}

    def is_unknown(self, client_id: str) -> bool:
        rec = self._recs.get(client_id)
        return bool(rec and rec.unknown)

    def unknown_orders(self) -> list[Order]:
        return [r.order for r in self._open.values() if r.unknown]

    def unpublished_qty(self, strategy: str, contract: OptionContract) -> int:
        """Signed units of ``strategy``'s fills in ``contract`` journaled but not yet given to
        listeners (the portfolio): a listener reacting mid-batch sees a book that lags by these."""
        return sum(i.signed_quantity for i in self._publish
                   if type(i) is Fill and i.strategy == strategy and i.contract == contract)  # fmt: skip

    def is_halted(self, strategy: str) -> bool:
        return strategy in self._halted

    def halted(self) -> dict[str, str]:
        return dict(self._halted)

    # --- halting ------------------------------------------------------------------------

    def on_halt(self, fn: Callable[[str, str], None]) -> None:
        """``fn(strategy, reason)`` runs when a strategy is first halted here (an unknown order,
        a failed unwind...), so the kernel can take it through its one halt path: the runner
        stops it and its positions are flattened by policy (issue 11, defect 4)."""
        self._halt_listeners.append(fn)

    @property
    def busy(self) -> bool:
        """True while answers are being applied: the portfolio may lag the order book."""
        return self._draining or self._in_commit

    def halt(self, strategy: str, reason: str, level: str = "critical") -> None:
        """Stop new entries for ``strategy`` (exits and unwinds still go) and alert."""
        first = strategy not in self._halted
        self._halted.setdefault(strategy, reason)
        self.alert(level, f"strategy {strategy} halted: {reason}")
        if first:
            for fn in self._halt_listeners:
                fn(strategy, reason)

    def resume(self, strategy: str) -> None:
        """Operator action after the cause of a halt has been resolved."""
        if self._halted.pop(strategy, None) is not None:
            self.alert("info", f"strategy {strategy} resumed")

    def alert(self, level: str, message: str) -> None:
        (log.critical if level == "critical" else log.warning)("%s", message)
        self._publish.append(AlertEvent(self._clock.now(), level, f"execution:{self._broker.name}", message))
        self._maybe_commit()

    # --- placing ------------------------------------------------------------------------

    def place(
        self,
        intent: OrderIntent,
        policy: ExecutionPolicy | None = None,
        *,
        client_id: str | None = None,
        quantity: int | None = None,
        parent_id: str | None = None,
        basket_id: str | None = None,
    ) -> Order:
        """Create and send the order for ``intent`` (or return / resume the one with its id).

        ``client_id`` defaults to ``intent.client_id``; when both are None a new id is issued
        and written back to ``intent.client_id`` so that retrying the intent is idempotent.
        ``quantity``/``parent_id`` are used by the router for freeze-quantity slices.
        """
        qty = intent.quantity if quantity is None else quantity
        cid = client_id or intent.client_id
        if cid is not None and cid in self._recs:
            return self._retry(self._recs[cid], intent, qty)
        if self._halted:
            self.check_allowed(intent)
        self._validate(intent, qty)
        if cid is None:
            cid = intent.client_id = self.ids.next(intent.strategy)
        elif not self.ids.was_issued(cid, intent.strategy):
            raise InvalidOrder(f"client id {cid!r} was not issued by this order manager for {intent.strategy!r}")
        now = self._clock.now()
        order = Order(  # positional (Order's field order): a third faster than keywords
            cid, intent.strategy, intent.tag, intent.contract, intent.side, qty, intent.order_type,
            intent.limit_price, intent.trigger_price, intent.product, _NEW, 0, 0.0, None,
            parent_id, basket_id, intent.leg, now, now, intent.reason,
        )  # fmt: skip
        pol = policy or self.default_policy
        rec = OrderRecord(order, pol, pol.market_as_limit and intent.order_type is _MARKET)
        self._recs[cid] = rec
        self._open[cid] = rec
        self._ranked(cid)
        self._journal.record_transition(order, None, _NEW, now, _created_reason(intent))
        self._dirty = True
        self._publish.append(copy_order(order))  # updated_ts is now: the event's time
        self._enqueue_submit(rec, now)
        self._maybe_commit()
        return order

    def reject_intent(self, intent: OrderIntent, reason: str, policy: ExecutionPolicy | None = None) -> Order:
        """Record an intent refused before it could be sent (a risk check, an invalid quantity).

        It becomes an order NEW -> REJECTED under a fresh id, journaled and published like any
        other, so the strategy hears about it and the refusal is on record.
        """
        cid = intent.client_id = self.ids.next(intent.strategy)
        now = self._clock.now()
        order = Order(
            client_id=cid, strategy=intent.strategy, tag=intent.tag, contract=intent.contract,
            side=intent.side, quantity=intent.quantity, order_type=intent.order_type,
            limit_price=intent.limit_price, trigger_price=intent.trigger_price, product=intent.product,
            leg=intent.leg, created_ts=now, updated_ts=now, reason=intent.reason,
        )  # fmt: skip
        pol = policy or self.default_policy
        rec = OrderRecord(order, pol, False)
        self._recs[cid] = rec
        self._open[cid] = rec
        self._ranked(cid)
        self._journal.record_transition(order, None, _NEW, now, _created_reason(intent))
        self._publish.append(copy_order(order))
        order.reason = reason  # the REJECTED update carries why
        self._transition(rec, S.REJECTED, reason)
        self._maybe_commit()
        return order

    def _validate(self, intent: OrderIntent, qty: int) -> None:
        """Raise :class:`InvalidOrder` unless ``intent`` can become an order of ``qty`` units.

        The usual intent (a market or priced limit order on an index seen before) is passed by
        a few inline tests; anything else gets the full check, which names every problem.
        """
        t = intent.order_type
        if (
            type(qty) is int and qty > 0 and intent.contract.underlying in self._known_underlyings
            and (t is _MARKET or (t is _LIMIT and type(intent.limit_price) is float and intent.limit_price > 0))
        ):  # fmt: skip
            return
        validate_intent(intent, qty)
        self._known_underlyings.add(intent.contract.underlying)

    def _retry(self, rec: OrderRecord, intent: OrderIntent, qty: int) -> Order:
        o = rec.order
        if (o.strategy, o.contract, o.side, o.quantity) != (intent.strategy, intent.contract, intent.side, qty):
            raise InvalidOrder(
                f"client id {o.client_id} is {o.side} {o.quantity} {o.contract.id} for {o.strategy}; "
                f"the retry asks for {intent.side} {qty} {intent.contract.id} for {intent.strategy}"
            )
        if o.state is S.REJECTED:  # not consumed: reopen under the same id
            self.check_allowed(intent)
            if intent.order_type is not OrderType.MARKET:
                o.limit_price, o.trigger_price = intent.limit_price, intent.trigger_price
            rec.attempts = rec.reprices = 0
            self._transition(rec, S.NEW, "retry of a rejected order, same client id")
            self._enqueue_submit(rec, self._clock.now())
            self._maybe_commit()
        elif o.state is S.SUBMITTED:  # answer pending or lost: ask, never resend
            self._query_status(rec, self._clock.now())
            self._maybe_commit()
        return o

    def check_allowed(self, intent: OrderIntent) -> None:
        """Raise :class:`StrategyHalted` unless ``intent`` may be sent now."""
        if intent.strategy in self._halted and not intent.tag.is_exit:
            raise StrategyHalted(
                f"strategy {intent.strategy} is halted ({self._halted[intent.strategy]}); "
                f"only exits may be sent, not {intent.tag}"
            )

    def cancel(self, client_id: str, reason: str = "requested") -> bool:
        """Ask for ``client_id`` to be cancelled; False when it is already done."""
        rec = self._rec(client_id)
        o = rec.order
        if o.state.is_terminal:
            return False
        if o.state is S.NEW:  # never reached the broker: cancel locally
            rec.queued = False
            self._transition(rec, S.CANCELLED, f"cancelled before sending: {reason}")
        elif not rec.cancel_wanted:
            rec.cancel_wanted = True
            self._transition(rec, o.state, f"cancel requested: {reason}")
            self._enqueue("cancel", client_id, None, self._clock.now())
        self._maybe_commit()
        return True

    def modify(self, client_id: str, limit_price: float, reason: str = "requested") -> None:
        rec = self._rec(client_id)
        o = rec.order
        if o.state not in (S.ACCEPTED, S.PARTIALLY_FILLED) or o.order_type is not OrderType.LIMIT:
            raise InvalidOrder(f"order {client_id} ({o.state}, {o.order_type}) cannot be modified")
        rec.modify_pending = True
        self._transition(rec, o.state, f"modify requested: limit {o.limit_price} -> {limit_price} ({reason})")
        self._enqueue("modify", client_id, limit_price, self._clock.now())
        self._maybe_commit()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group placements: one journal flush, then every request goes out in order."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            self._maybe_commit()

    # --- the loop -------------------------------------------------------------------------

    def drain(self) -> None:
        """Process broker answers in FIFO order until none are left, including answers to
        requests sent while draining. A call from inside a listener returns at once."""
        if self._draining or self._in_commit:
            return
        self._draining = True
        try:
            while True:
                self._inbox.extend(self._broker.events())
                if not self._inbox:
                    if not self._commit():
                        break
                    continue
                while self._inbox:
                    self._handle(self._inbox.popleft())
                self._commit()
        finally:
            self._draining = False

    def _maybe_commit(self) -> None:
        if self._batch_depth == 0 and not self._draining:
            self._commit()

    def _commit(self) -> bool:
        """Flush the journal, then act: send ready requests, publish events. Repeat until quiet."""
        if self._in_commit:
            return False
        self._in_commit = True
        did = False
        try:
            while True:
                ready = self._take_ready(self._clock.now())
                if not (ready or self._publish or self._dirty):
                    break
                did = True
                if self._dirty:
                    self._dirty = False
                    self._journal.flush()
                covered = len(self._publish)  # only what this flush made durable goes out now
                with self._broker_batch():  # a paper broker writes its book once for them all
                    for _, _, kind, client_id, price in ready:
                        self._execute(kind, self._recs[client_id], price)
                for _ in range(covered):
                    item = self._publish.popleft()
                    what = type(item)
                    event = (
                        OrderUpdateEvent(item, item.updated_ts) if what is Order  # type: ignore[union-attr]
                        else FillEvent(item) if what is Fill else item
                    )  # fmt: skip
                    for fn in self._listeners:
                        fn(event)
        finally:
            self._in_commit = False
        return did

    # --- state ------------------------------------------------------------------------------

    def _rec(self, client_id: str) -> OrderRecord:
        try:
            return self._recs[client_id]
        except KeyError:
            raise KeyError(f"no order with client id {client_id!r}") from None

    def _transition(self, rec: OrderRecord, to_state: OrderState, reason: str) -> None:
        """The only place an order's state changes: check, journal, then queue the update."""
        o = rec.order
        frm = o.state
        if to_state not in LEGAL_TRANSITIONS[frm]:
            raise IllegalTransition(o.client_id, frm, to_state, reason)
        now = self._clock.now()
        o.state, o.updated_ts = to_state, now
        if to_state in TERMINAL_STATES:
            self._open.pop(o.client_id, None)
            if self._finished is not None:
                self._finished.unsaved[o.client_id] = rec
        elif frm in TERMINAL_STATES:
            self._open[o.client_id] = rec
        self._journal.record_transition(o, frm, to_state, now, reason)  # carries the order's new row
        self._dirty = True
        self._publish.append(copy_order(o))  # updated_ts is now: the event's time

    def _emit_fill(self, fill: Fill) -> None:
        self._journal.save_fill(fill)
        self._dirty = True
        self._publish.append(fill)


def _created_reason(intent: OrderIntent) -> str:
    if not intent.reason:
        reason = _CREATED.get(intent.tag)
        if reason is not None:
            return reason
    return f"created: {intent.tag} {intent.reason}".strip()
