"""The skeleton every real-broker adapter fills in: orders by client id, answers de-duplicated.

A real broker answers in three overlapping ways — the reply to a request, pushed order
updates (WebSocket/postback) and the books we poll — in any order, sometimes twice, sometimes
late. :class:`LiveBroker` turns them into the ``Broker`` protocol's outbox so the order
manager sees each answer once and in a legal order:

* an order is tracked by our client id, sent to the broker as its tag field (:func:`tag_for`
  when the broker limits the tag, e.g. Kite's 20 characters) and remembered in an append-only
  tag file, so after a crash a broker order maps back to our id;
* every update (pushed or polled) goes through :meth:`apply_update`: a stale one (an older
  state after a newer) is dropped, ACK is emitted once, a changed limit is a MODIFIED, and
  fills always come from the broker's *trade book* with the broker's trade id as exec id —
  never derived from a filled quantity — so a fill seen by push and by poll is one fill;
* a submit that ended ambiguously (5xx, timeout) is looked up by tag before anything is
  resent: found, it is adopted; certainly absent, it is "not sent" and the order manager
  resends it under the same id; cannot tell, it stays ambiguous (order manager resolves);
* a rate-limit answer is a REJECT(RATE_LIMITED) (the order manager backs off and resends);
  an expired session rejects new orders with a clear reason, alerts, and asks the node to
  stop new entries until :meth:`session_restored`; an answer that does not parse alerts and
  halts the affected strategy (or all of them when it cannot tell whose).

Subclasses implement the ``_place``/``_cancel_at``/``_modify_at`` requests and the four book
reads, mapping their broker's fields to :class:`OrderView`/:class:`TradeView` and their
failures to :mod:`.errors`. Thread-safe: pushed updates may arrive on a feed thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from optrunner.core.clock import Clock
from optrunner.core.orders import Order
from optrunner.core.types import OrderState
from optrunner.execution.brokers.base import (
    BrokerEvent,
    BrokerEventKind,
    BrokerOrderStatus,
    BrokerPosition,
    RejectReason,
)
from optrunner.execution.brokers.live.errors import (
    BadAnswer,
    BrokerRefused,
    LiveBrokerError,
    NotSent,
    PossiblySent,
    RateLimited,
    SessionExpired,
)
from optrunner.execution.brokers.live.secrets import redact
from optrunner.execution.brokers.live.tracking import OrderView, TagFile, TradeView, _Track, tag_for

log = logging.getLogger(__name__)
S = OrderState
K = BrokerEventKind
_RANK = {S.NEW: 0, S.SUBMITTED: 0, S.ACCEPTED: 1, S.PARTIALLY_FILLED: 2, S.FILLED: 3, S.CANCELLED: 3,
         S.REJECTED: 3, S.EXPIRED: 3}  # fmt: skip


def deliver_notice(broker: Any, kind: str, args: tuple[Any, ...]) -> None:
    """Call ``broker``'s ``on_alert``/``on_halt``/``on_resume`` for one notice (unset: dropped).
    Shared by the adapter and, across the bus, the StreamBroker that relays its gateway's."""
    fn = {"alert": broker.on_alert, "halt": broker.on_halt, "resume": broker.on_resume}[kind]
    if fn is not None:
        fn(*args)


class LiveBroker:
    """Base of the real-broker adapters (see the module docstring)."""

    name = "live"
    tag_max_len = 20
    halt_on_lost_fills = True  # a fill only the trade book showed halts its strategy (execution/reconcile.py)

    def __init__(self, clock: Clock, *, tag_file: Path | None = None, poll_seconds: float | None = 1.0) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._outbox: list[BrokerEvent] = []
        self._tracks: dict[str, _Track] = {}
        self._by_broker_id: dict[str, str] = {}
        self.tags = TagFile(tag_file)
        self.poll_seconds = poll_seconds
        self._last_poll = 0.0
        self.session_ok = True
        self.session_reason = ""
        self.counters: Counter[str] = Counter()
        self.on_alert: Callable[[str, str], None] | None = None  # (level, message)
        self.on_halt: Callable[[str | None, str], None] | None = None  # (strategy or None: all new orders, reason)
        self.on_resume: Callable[[], None] | None = None
        self._book_tags: dict[str, str] = {}  # broker order id -> tag, from every order book read
        self._notices: list[tuple[str, Any]] = []  # alerts/halts/resumes, delivered by events()

    # --- what subclasses implement ---------------------------------------------------------

    def _place(self, order: Order, tag: str) -> str:
        """Send ``order``; return the broker's order id. Raise from :mod:`.errors`."""
        raise NotImplementedError

    def _cancel_at(self, broker_id: str) -> None:
        raise NotImplementedError

    def _modify_at(self, broker_id: str, limit_price: float) -> None:
        raise NotImplementedError

    def _order_book(self) -> list[OrderView]:
        raise NotImplementedError

    def _trade_book(self) -> list[TradeView]:
        raise NotImplementedError

    def _order_trades(self, broker_id: str) -> list[TradeView]:
        raise NotImplementedError

    def _net_positions(self) -> list[BrokerPosition]:
        raise NotImplementedError

    # --- the broker protocol ----------------------------------------------------------------

    def submit(self, order: Order) -> None:
        cid = order.client_id
        with self._lock:
            tr = self._tracks.get(cid)
            if tr is None:
                tr = self._tracks[cid] = _Track(cid, order.strategy, order.quantity, tag_for(cid, self.tag_max_len),
                                                limit=order.limit_price)
            tr.order, tr.strategy, tr.quantity = order, order.strategy, order.quantity
            if not self.session_ok:
                self._push(K.REJECT, cid, reject_reason=RejectReason.BROKER, reason=self._expired_text())
                return
            self.tags.remember(tr.tag, cid)
            if tr.ambiguous and self._adopt_by_tag(tr):
                return
        try:
            broker_id = self._place(order, tr.tag)
        except RateLimited as exc:
            self.counters["rate_limited"] += 1
            self._push(K.REJECT, cid, reject_reason=RejectReason.RATE_LIMITED, reason=str(exc))
            return
        except BrokerRefused as exc:
            self._push(K.REJECT, cid, reject_reason=RejectReason.BROKER, reason=str(exc))
            return
        except SessionExpired as exc:
            self._session_expired(str(exc))
            self._push(K.REJECT, cid, reject_reason=RejectReason.BROKER, reason=self._expired_text())
            return
        except NotSent:
            raise
        except BadAnswer as exc:
            tr.ambiguous = True
            self._bad_answer(order.strategy, f"submit of {cid}: {exc}")
            raise
        except PossiblySent as exc:
            self.counters["possibly_sent"] += 1
            tr.ambiguous = True
            with self._lock:
                if self._adopt_by_tag(tr):
                    return
            raise NotSent(f"{exc}; the order book shows no order tagged {tr.tag}: not sent") from None
        with self._lock:
            tr.broker_id = broker_id
            tr.ambiguous = False
            self._by_broker_id[broker_id] = cid

    def cancel(self, client_id: str) -> None:
        tr = self._track_for_request(client_id)
        if tr is None:
            self._push(K.CANCEL_REJECTED, client_id, reject_reason=RejectReason.NOT_WORKING, reason="no such order at the broker")
            return
        tr.cancel_sent = True
        try:
            self._cancel_at(tr.broker_id)  # type: ignore[arg-type]
        except RateLimited as exc:
            self._push(K.CANCEL_REJECTED, client_id, reject_reason=RejectReason.RATE_LIMITED, reason=str(exc))
        except BrokerRefused as exc:
            why = RejectReason.NOT_WORKING if tr.state.is_terminal else RejectReason.BROKER
            self._push(K.CANCEL_REJECTED, client_id, reject_reason=why, reason=str(exc))
        except SessionExpired as exc:
            self._session_expired(str(exc))
            self._push(K.CANCEL_REJECTED, client_id, reject_reason=RejectReason.BROKER, reason=self._expired_text())
        # a cancel that went through is confirmed by the order update (CANCELLED), not here

    def modify(self, client_id: str, limit_price: float) -> None:
        tr = self._track_for_request(client_id)
        if tr is None:
            self._push(K.MODIFY_REJECTED, client_id, reject_reason=RejectReason.NOT_WORKING, reason="no such order at the broker")
            return
        try:
            self._modify_at(tr.broker_id, limit_price)  # type: ignore[arg-type]
        except (RateLimited, BrokerRefused) as exc:
            why = RejectReason.NOT_WORKING if tr.state.is_terminal else RejectReason.BROKER
            self._push(K.MODIFY_REJECTED, client_id, reject_reason=why, reason=str(exc))
        except SessionExpired as exc:
            self._session_expired(str(exc))
            self._push(K.MODIFY_REJECTED, client_id, reject_reason=RejectReason.BROKER, reason=self._expired_text())

    def order_status(self, client_id: str) -> BrokerOrderStatus | None:
        """From the order book (by broker id, else by tag) and the order's trades. None only
        when the whole book was read and holds no such order; raises when it cannot be read."""
        tr = self._tracks.get(client_id)
        tag = tr.tag if tr else tag_for(client_id, self.tag_max_len)
        self.tags.remember(tag, client_id)
        view = self._find(tag, tr.broker_id if tr else None)
        if view is None:
            return None
        trades = self._order_trades(view.broker_id) if view.filled_qty else []
        fills = tuple(BrokerEvent(K.FILL, client_id, t.ts, view.broker_id, t.quantity, t.price, t.exec_id)
                      for t in sorted(trades, key=lambda t: (t.ts, t.exec_id)))  # fmt: skip
        with self._lock:
            if tr is None:  # learnt from the broker (after a restart): track it as now told
                tr = self._tracks[client_id] = _Track(client_id, "", view.quantity, tag, limit=view.limit_price)
            tr.broker_id, tr.ambiguous = view.broker_id, False
            self._by_broker_id[view.broker_id] = client_id
            if view.state is not S.SUBMITTED:
                tr.state = view.state
                for f in fills:
                    if f.exec_id not in tr.exec_ids:
                        tr.exec_ids.add(f.exec_id)
                        tr.filled += f.quantity
        return BrokerOrderStatus(client_id, view.state, view.filled_qty, view.avg_price, view.broker_id, fills,
                                 view.reason, view.limit_price)  # fmt: skip

    def events(self) -> list[BrokerEvent]:
        """The outbox; polls first when due, and delivers pending alerts/halts (hooks run in
        the caller's thread — the kernel's — even when a feed thread raised them)."""
        if (self.poll_seconds is not None and time.monotonic() - self._last_poll >= self.poll_seconds
                and self._working()):  # fmt: skip
            self.poll()
        with self._lock:
            out, self._outbox = self._outbox, []
            notices, self._notices = self._notices, []
        for kind, args in notices:
            deliver_notice(self, kind, args)
        return out

    # --- books, for reconciliation -------------------------------------------------------------

    def positions(self) -> list[BrokerPosition]:
        return [p for p in self._net_positions() if p.quantity]

    def orders(self) -> list[BrokerOrderStatus]:
        return [BrokerOrderStatus(self.tags.tags.get(v.tag, v.tag or f"broker:{v.broker_id}"), v.state, v.filled_qty,
                                  v.avg_price, v.broker_id, reason=v.reason, limit_price=v.limit_price,
                                  contract=v.contract)
                for v in self._read_book()]  # fmt: skip

    def trades(self) -> list[BrokerEvent]:
        trades = self._trade_book()
        if any(t.broker_id not in self._book_tags for t in trades):  # an order we have not seen yet
            self._read_book()
        owner = {b: self.tags.tags.get(t, t) for b, t in self._book_tags.items()}
        out = [BrokerEvent(K.FILL, owner.get(t.broker_id, ""), t.ts, t.broker_id, t.quantity, t.price, t.exec_id)
               for t in trades]  # fmt: skip
        out.sort(key=lambda e: (e.ts, e.exec_id))
        return out

    def resume_orders(self, orders: list[Order], cancelling: Collection[str] = ()) -> None:
        """After a restart: track the order manager's open orders as it knows them, so the
        broker's updates continue them (fills are told again; the order manager skips the
        exec ids it has). Submitted ones are looked up by tag before any resend; ``cancelling``:
        those whose cancel was asked before the restart."""
        with self._lock:
            for o in orders:
                if o.state.is_terminal or o.state is S.NEW:
                    continue
                tr = _Track(o.client_id, o.strategy, o.quantity, tag_for(o.client_id, self.tag_max_len), o,
                            o.broker_id, o.state if o.state is not S.PARTIALLY_FILLED else S.ACCEPTED,
                            limit=o.limit_price, ambiguous=o.state is S.SUBMITTED,
                          cancel_sent=o.client_id in cancelling)  # fmt: skip
                self._tracks[o.client_id] = tr
                self.tags.remember(tr.tag, o.client_id)
                if o.broker_id:
                    self._by_broker_id[o.broker_id] = o.client_id

    # --- updates: pushed and polled ------------------------------------------------------------

    def _working(self) -> bool:
        """Any order of ours not final yet (else a poll has nothing to tell us)."""
        with self._lock:
            return any(not t.state.is_terminal for t in self._tracks.values())

    def poll(self) -> None:
        """Read the order book and apply it (errors alert; the next poll tries again)."""
        self._last_poll = time.monotonic()
        try:
            book = self._read_book()
            for view in book:
                self.apply_update(view, "poll")
        except SessionExpired as exc:
            self._session_expired(str(exc))
        except BadAnswer as exc:
            self._bad_answer(None, f"order book: {exc}")
        except LiveBrokerError as exc:
            self.counters["poll_errors"] += 1
            log.warning("%s: polling the order book failed: %s", self.name, exc)

    def apply_update(self, view: OrderView, source: str = "push") -> None:
        """Apply one broker order update (see the module docstring); safe to call twice."""
        with self._lock:
            cid = self._by_broker_id.get(view.broker_id) or self.tags.tags.get(view.tag)
            tr = self._tracks.get(cid) if cid else None
            if tr is None:
                self.counters["foreign_updates"] += 1
                return
            if tr.broker_id is None:
                tr.broker_id = view.broker_id
                self._by_broker_id[view.broker_id] = tr.client_id
            elif tr.broker_id != view.broker_id:
                self.counters["foreign_updates"] += 1  # the same tag on another order: never ours
                return
            if _RANK[view.state] < _RANK[tr.state] or (tr.state.is_terminal and tr.filled >= view.filled_qty):
                self.counters["stale_updates"] += 1
                return
            self.counters[f"updates_{source}"] += 1
            self._advance(tr, view)

    def _advance(self, tr: _Track, v: OrderView) -> None:
        cid = tr.client_id
        if v.state is S.SUBMITTED:
            return  # still pending at the broker
        if v.state is S.REJECTED:
            if tr.state is S.SUBMITTED:
                tr.state = S.REJECTED
                self._push(K.REJECT, cid, v.broker_id, reject_reason=RejectReason.BROKER, reason=v.reason or "rejected")
            return
        if tr.state is S.SUBMITTED:
            tr.state = S.ACCEPTED
            self._push(K.ACK, cid, v.broker_id)
        if v.limit_price is not None and tr.limit is not None and v.limit_price != tr.limit and not tr.state.is_terminal:
            tr.limit = v.limit_price
            self._push(K.MODIFIED, cid, v.broker_id, price=v.limit_price)
        if v.filled_qty > tr.filled:
            self._read_fills(tr, v.broker_id)
            if tr.filled < v.filled_qty:
                self.counters["trade_book_lag"] += 1
                return  # the trade book has not caught up: the next update or poll applies the rest
        if v.state in (S.CANCELLED, S.EXPIRED):
            tr.state = v.state
            if v.state is S.CANCELLED and not tr.cancel_sent:
                self._cancelled_elsewhere(tr, v)
            kind = K.CANCELLED if v.state is S.CANCELLED else K.EXPIRED
            self._push(kind, cid, v.broker_id, reason=v.reason or str(v.state).lower())
        elif tr.filled >= tr.quantity:
            tr.state = S.FILLED
        elif tr.filled:
            tr.state = S.PARTIALLY_FILLED

    def _read_fills(self, tr: _Track, broker_id: str) -> None:
        try:
            trades = self._order_trades(broker_id)
        except LiveBrokerError as exc:
            self.counters["trade_read_errors"] += 1
            log.warning("%s: trades of %s could not be read: %s", self.name, tr.client_id, exc)
            return
        for t in sorted(trades, key=lambda t: (t.ts, t.exec_id)):
            if t.exec_id in tr.exec_ids:
                continue
            tr.exec_ids.add(t.exec_id)
            tr.filled += t.quantity
            self._push(K.FILL, tr.client_id, broker_id, quantity=t.quantity, price=t.price, exec_id=t.exec_id, ts=t.ts)

    # --- session and failures --------------------------------------------------------------------

    def _expired_text(self) -> str:
        return f"{self.name} session expired ({self.session_reason}): log in again (optrunner broker login {self.name})"

    def _session_expired(self, why: str) -> None:
        with self._lock:
            first = self.session_ok
            self.session_ok, self.session_reason = False, redact(why)
        if first:
            self._alert("critical", f"{self._expired_text()}; new orders halted")
            self._notify("halt", None, f"{self.name} session expired")

    def session_restored(self) -> None:
        """After a re-login (the subclass has its new token): orders flow again."""
        with self._lock:
            was, self.session_ok, self.session_reason = self.session_ok, True, ""
        if not was:
            self._alert("info", f"{self.name} session restored; orders flow again")
            self._notify("resume")

    def _cancelled_elsewhere(self, tr: _Track, v: OrderView) -> None:
        """Our order was cancelled at the broker without our asking (by hand on the broker's
        terminal, by its risk system): the strategy's plan no longer holds — halt it, alert."""
        what = v.contract.id if v.contract is not None else f"broker order {v.broker_id}"
        self.counters["cancelled_elsewhere"] += 1
        self._alert("critical", f"{self.name}: order {tr.client_id} ({what}, {v.filled_qty}/{tr.quantity} filled) was "
                                f"cancelled at the broker, not by us{': ' + v.reason if v.reason else ''}")  # fmt: skip
        self._notify("halt", tr.strategy or None, f"{self.name}: order {tr.client_id} cancelled at the broker")

    def _bad_answer(self, strategy: str | None, what: str) -> None:
        self.counters["bad_answers"] += 1
        self._alert("critical", f"{self.name}: an answer did not parse ({what})")
        self._notify("halt", strategy, f"{self.name}: unparseable broker answer")

    def _alert(self, level: str, message: str) -> None:
        message = redact(message)
        {"critical": log.critical, "warning": log.warning}.get(level, log.info)("%s", message)
        self._notify("alert", level, message)

    def _notify(self, kind: str, *args: Any) -> None:
        with self._lock:
            self._notices.append((kind, args))

    # --- internals -------------------------------------------------------------------------------

    def _push(self, kind: BrokerEventKind, client_id: str, broker_id: str | None = None, *, quantity: int = 0,
              price: float = 0.0, exec_id: str = "", reason: str = "", reject_reason: RejectReason | None = None,
              ts: datetime | None = None) -> None:  # fmt: skip
        ev = BrokerEvent(kind, client_id, ts or self._now(), broker_id, quantity, price, exec_id, redact(reason),
                         reject_reason)  # fmt: skip
        with self._lock:
            self._outbox.append(ev)

    def _now(self) -> datetime:
        """The session's time, for an answer that carries none. Before a replayed session's
        first input its simulated clock has not started (the start reconciliation reads the
        books then): the wall clock stands in — only ever a fallback timestamp."""
        try:
            return self._clock.now()
        except RuntimeError:
            return datetime.now(UTC)

    def _track_for_request(self, client_id: str) -> _Track | None:
        tr = self._tracks.get(client_id)
        if tr is not None and tr.broker_id is None:
            with contextlib.suppress(LiveBrokerError):
                self._adopt_by_tag(tr)
        return tr if tr is not None and tr.broker_id is not None else None

    def _read_book(self) -> list[OrderView]:
        book = self._order_book()
        with self._lock:
            self._book_tags.update((v.broker_id, v.tag) for v in book)
        return book

    def _find(self, tag: str, broker_id: str | None) -> OrderView | None:
        book = self._read_book()
        for v in book:
            if (broker_id and v.broker_id == broker_id) or (not broker_id and v.tag == tag):
                return v
        return None

    def _adopt_by_tag(self, tr: _Track) -> bool:
        """The order book holds ``tr``'s tag: track it (its update follows). Raises when the
        book cannot be read (the caller's ambiguity stands)."""
        view = self._find(tr.tag, None)
        if view is None:
            return False
        self.counters["adopted_by_tag"] += 1
        tr.broker_id, tr.ambiguous = view.broker_id, False
        self._by_broker_id[view.broker_id] = tr.client_id
        self.apply_update(view, "lookup")
        return True


__all__ = ["LiveBroker", "OrderView", "TagFile", "TradeView", "deliver_notice", "tag_for"]
