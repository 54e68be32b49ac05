"""The order manager's outgoing side: the request queue, the rate limit, resends and timers.

A mixin of :class:`~optrunner.execution.order_manager.OrderManager`, split out to keep each
file readable. Requests (submit, cancel, modify) wait in one queue ordered by (not-before
time, sequence): the token bucket releases them in FIFO order, a "rate limited" or
undelivered request goes back with an exponential backoff under the same client id, and
nothing ever sleeps. The timers resolve unanswered submissions through ``order_status`` and
act on resting orders whose ``timeout_seconds`` ran out.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from optrunner.core.types import OrderState, OrderType
from optrunner.execution.brokers.base import BrokerUnreachable
from optrunner.execution.records import OrderRecord

if TYPE_CHECKING:
    from optrunner.core.clock import Clock
    from optrunner.core.orders import Order
    from optrunner.core.types import Side
    from optrunner.execution.brokers.base import Broker, BrokerOrderStatus
    from optrunner.execution.rate_limit import ExponentialBackoff, TokenBucket
    from optrunner.instruments.contracts import OptionContract

S = OrderState
_NEW, _SUBMITTED = S.NEW, S.SUBMITTED
QueueEntry = tuple[datetime, int, str, str, float | None]  # (not before, sequence, kind, client id, price)
log = logging.getLogger(__name__)


class RequestHandling:
    _recs: dict[str, OrderRecord]
    _open: dict[str, OrderRecord]
    _queue: list[QueueEntry]
    _seq: int
    _clock: Clock
    _broker: Broker
    _limiter: TokenBucket | None
    _backoff: ExponentialBackoff
    _ack_query: timedelta
    _ack_timeout: timedelta
    counters: Counter[str]

    if TYPE_CHECKING:  # provided by the other parts of OrderManager; no runtime stubs (MRO)
        def _transition(self, rec: OrderRecord, to_state: OrderState, reason: str) -> None: ...
        def _apply_status(self, rec: OrderRecord, st: BrokerOrderStatus) -> None: ...
        def alert(self, level: str, message: str) -> None: ...
        def halt(self, strategy: str, reason: str, level: str = "critical") -> None: ...
        def cancel(self, client_id: str, reason: str = "requested") -> bool: ...
        def modify(self, client_id: str, limit_price: float, reason: str = "requested") -> None: ...
        def drain(self) -> None: ...
        def marketable_price(self, contract: OptionContract, side: Side, percent: float) -> float | None: ...

    def check_timers(self) -> None:
        """Time-driven work: unanswered orders, resting-order timeouts, queued resends."""
        now = self._clock.now()
        for rec in list(self._open.values()):
            st = rec.order.state
            if rec.awaiting_since is not None and rec.next_query is not None and now >= rec.next_query:
                self._query_status(rec, now)
            elif st in (S.ACCEPTED, S.PARTIALLY_FILLED):
                self._check_resting(rec, now)
        self.drain()

    def reconcile(self) -> None:
        """After a restart: ask the broker about every order that may be working there. One it
        cannot report on is asked again by the timers and flagged unknown after the ack timeout."""
        now = self._clock.now()
        for rec in list(self._open.values()):
            if rec.order.state in (S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED):
                rec.awaiting_since = rec.awaiting_since or now
                self._query_status(rec, now)
        self.drain()

    def next_wakeup(self) -> datetime | None:
        """The earliest time ``check_timers`` has work to do (for a replay clock), or None."""
        times: list[datetime] = []
        now = self._clock.now()
        if self._queue:
            head = self._queue[0][0]
            if self._limiter is not None:
                head = max(head, self._limiter.next_available(now))
            times.append(head)
        for rec in self._open.values():
            if rec.awaiting_since is not None and rec.next_query is not None:
                times.append(rec.next_query)
            elif rec.policy.timeout_seconds and rec.priced_at and rec.order.state in (S.ACCEPTED, S.PARTIALLY_FILLED):
                times.append(rec.priced_at + timedelta(seconds=rec.policy.timeout_seconds))
        return min(times) if times else None

    # --- requests -------------------------------------------------------------------------

    def _enqueue(self, kind: str, client_id: str, price: float | None, not_before: datetime) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (not_before, self._seq, kind, client_id, price))

    def _enqueue_submit(self, rec: OrderRecord, not_before: datetime) -> None:
        rec.queued = True
        self._enqueue("submit", rec.order.client_id, None, not_before)

    def _wanted(self, kind: str, rec: OrderRecord) -> bool:
        st = rec.order.state
        if kind == "submit":
            return st is _NEW and rec.queued
        if kind == "cancel":
            return rec.cancel_wanted and not st.is_terminal
        return rec.modify_pending and st in (S.ACCEPTED, S.PARTIALLY_FILLED)

    def _take_ready(self, now: datetime) -> list[QueueEntry]:
        """Pop the requests that may go out now (the queue's entries themselves: no new object
        per request), moving submissions to SUBMITTED; they are sent after the flush."""
        ready: list[QueueEntry] = []
        queue, recs, limiter, pop = self._queue, self._recs, self._limiter, heapq.heappop
        while queue and queue[0][0] <= now:
            _, _, kind, cid, _ = queue[0]
            rec = recs[cid]
            if kind == "submit":  # _wanted, inlined: one per order sent
                wanted = rec.queued and rec.order.state is _NEW
                if not wanted or (rec.market_as_limit and not self._price_for_send(rec)):
                    pop(queue)
                    continue
            elif not self._wanted(kind, rec):
                pop(queue)
                continue
            if limiter is not None and not limiter.try_acquire(now):
                break  # FIFO: everything behind the head waits for the same token
            entry = pop(queue)
            if kind == "submit":
                rec.queued = False
                rec.awaiting_since = rec.priced_at = now
                rec.next_query = now + self._ack_query
                self._transition(rec, _SUBMITTED, _sent_reason(rec.order))
            ready.append(entry)
        return ready

    def _price_for_send(self, rec: OrderRecord) -> bool:
        """Price a MARKET-as-limit order from the latest quote; reject locally when there is none."""
        if not rec.market_as_limit:
            return True
        o = rec.order
        price = self.marketable_price(o.contract, o.side, rec.policy.price_limit_percent)
        if price is None:
            rec.queued = False
            o.reason = f"no quote for {o.contract.id} to price a marketable limit"
            self._transition(rec, S.REJECTED, o.reason)
            return False
        o.order_type, o.limit_price = OrderType.LIMIT, price
        return True

    def _execute(self, kind: str, rec: OrderRecord, price: float | None) -> None:
        cid = rec.order.client_id
        try:
            if kind == "submit":
                self.counters["submitted"] += 1
                self._broker.submit(rec.order)
            elif kind == "cancel":
                self._broker.cancel(cid)
            else:
                self._broker.modify(cid, float(price))  # type: ignore[arg-type]
        except BrokerUnreachable as exc:
            self.counters["unreachable"] += 1
            self._not_delivered(kind, rec, f"broker unreachable: {exc}")
        except Exception as exc:  # the request may have arrived: never resend on a guess
            self.counters["ambiguous"] += 1
            if kind == "submit":
                self._transition(rec, S.SUBMITTED, f"submit raised, outcome unknown: {exc!r}")
            else:
                rec.modify_pending = False
            self.alert("warning", f"{kind} of {cid} raised {exc!r}; resolving through order_status")

    def _not_delivered(self, kind: str, rec: OrderRecord, why: str) -> None:
        now = self._clock.now()
        if kind == "submit":
            self._transition(rec, S.NEW, why)
            self._resend_later(rec, why)
        elif kind == "cancel":
            self._enqueue("cancel", rec.order.client_id, None, now + timedelta(seconds=self._backoff.delay(1)))
        else:
            rec.modify_pending = False
            self._transition(rec, rec.order.state, f"modify not sent: {why}")

    def _resend_later(self, rec: OrderRecord, why: str) -> None:
        """Back to the queue after a rate-limit answer or a request that never arrived."""
        if rec.cancel_wanted:
            self._transition(rec, S.CANCELLED, f"cancelled while waiting to resend ({why})")
            return
        rec.attempts += 1
        if self._backoff.exhausted(rec.attempts):
            rec.order.reason = f"{why}; gave up after {rec.attempts - 1} resends"
            self._transition(rec, S.REJECTED, rec.order.reason)
            return
        delay = timedelta(seconds=self._backoff.delay(rec.attempts))
        self._enqueue_submit(rec, self._clock.now() + delay)

    # --- timers ---------------------------------------------------------------------------

    def _query_status(self, rec: OrderRecord, now: datetime) -> None:
        o = rec.order
        self.counters["status_queries"] += 1
        try:
            status = self._broker.order_status(o.client_id)
        except Exception as exc:
            log.warning("order_status(%s) raised %r: treated as no answer", o.client_id, exc)
            status = None
        # an order already flagged unknown is still asked, but only once per ack timeout
        rec.next_query = now + (self._ack_timeout if rec.unknown else self._ack_query)
        if status is not None:
            self._apply_status(rec, status)
        since = rec.awaiting_since
        if rec.unknown or since is None or now - since < self._ack_timeout or o.state.is_terminal:
            return
        rec.unknown = True
        rec.next_query = now + self._ack_timeout
        self.counters["unknown"] += 1
        what = "cannot say" if status is None else f"still reports it {status.state}"
        why = f"no answer for {o.client_id} ({o.state}) after {(now - since).total_seconds():.1f}s and the broker {what}"
        self._transition(rec, o.state, f"unknown: {why}")
        self.halt(o.strategy, why)

    def _check_resting(self, rec: OrderRecord, now: datetime) -> None:
        pol, o = rec.policy, rec.order
        if (
            pol.timeout_seconds is None
            or rec.cancel_wanted
            or rec.modify_pending
            or rec.priced_at is None
            or rec.awaiting_since is not None  # resyncing: the broker's view decides first
        ):
            return
        if (now - rec.priced_at).total_seconds() < pol.timeout_seconds:
            return
        if pol.on_timeout == "reprice" and o.order_type is OrderType.LIMIT and rec.reprices < pol.max_reprices:
            rec.reprices += 1
            rec.priced_at = now
            price = self.marketable_price(o.contract, o.side, pol.price_limit_percent)
            if price is not None and price != o.limit_price:
                self.modify(o.client_id, price, f"timeout reprice {rec.reprices}/{pol.max_reprices}")
            return
        self.cancel(o.client_id, f"unfilled after {pol.timeout_seconds}s")


_SENT: dict[tuple[OrderType, float | None], str] = {}  # (type, limit) -> reason of the SUBMITTED transition


def _sent_reason(o: Order) -> str:
    """``"sent: LIMIT 101.05"``, cached: formatting the price costs more than the transition."""
    key = (o.order_type, o.limit_price)
    try:
        return _SENT[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable price: never cached
        return f"sent: {o.order_type} {o.limit_price or ''}".strip()
    if len(_SENT) >= 4096:
        _SENT.clear()
    reason = _SENT[key] = f"sent: {o.order_type} {o.limit_price or ''}".strip()
    return reason
