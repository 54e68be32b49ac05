"""How the order manager takes over orders that may have reached the broker before a crash.

A mixin of :class:`~optrunner.execution.order_manager.OrderManager`, kept apart like
requests.py and answers.py. After a restart the order manager is restored from a checkpoint
and the interrupted input is processed again (docs/recovery.md). The orders journaled after
that checkpoint are "possibly sent": the journal is flushed before every request, so each of
them may or may not be at the broker. The replayed decisions place them again under the same
client ids (ids come from the restored counters); when one is about to be submitted:

* the broker does not know it (``order_status`` is None): it never arrived, send it now;
* the broker knows it: adopt it from the broker's answer instead of sending — ACCEPTED, the
  fills of its trade book (same exec ids, so the same fill ids) and its final state go
  through the usual answer handling, so listeners see what they would have seen;
* ``order_status`` raises: nothing is sent; the order stays SUBMITTED and awaited, the timers
  keep asking and flag it unknown (strategy halted) after the ack timeout;
* the journaled order is not the one placed again (same id, other contract / side / size):
  nothing is adopted or sent, the order is REJECTED and its strategy halted.

Possibly-sent orders the replay never placed again are handled by :meth:`adopt_orphans`.
The checkpoint itself (:meth:`RestartHandling.to_state` / ``load_state``) is kept here too.
"""

from __future__ import annotations

import heapq
import logging
import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from optrunner.core.orders import Order
from optrunner.core.saved_once import SavedOnce
from optrunner.core.types import OrderState
from optrunner.execution.ids import ClientIds
from optrunner.execution.rate_limit import TokenBucket
from optrunner.execution.records import (
    TERMINAL_STATES,
    OrderRecord,
    copy_order,
    record_from_dict,
    record_to_dict,
)

if TYPE_CHECKING:
    from optrunner.core.clock import Clock
    from optrunner.execution.brokers.base import Broker, BrokerOrderStatus
    from optrunner.execution.policy import ExecutionPolicy

log = logging.getLogger(__name__)

S = OrderState
_CANNOT_SAY = object()  # order_status raised: the broker may or may not hold the order
_ID_NUMBER = re.compile(r"-(\d{6,})(?:-s[1-9]\d*)?$")  # ``{strategy}-{n:06d}`` or a slice of it


class RestartHandling:
    _recs: dict[str, OrderRecord]
    _open: dict[str, OrderRecord]
    _halted: dict[str, str]
    _settled: set[str]
    _queue: list[tuple[datetime, int, str, str, float | None]]
    _seq: int
    _limiter: TokenBucket | None
    _possibly_sent: dict[str, Order]
    _finished: SavedOnce[str, OrderRecord] | None
    _clock: Clock
    _broker: Broker
    ids: ClientIds
    default_policy: ExecutionPolicy
    counters: Counter[str]

    if TYPE_CHECKING:  # provided by the other parts of OrderManager; no runtime stubs (MRO)

        def _transition(self, rec: OrderRecord, to_state: OrderState, reason: str) -> None: ...
        def _apply_status(self, rec: OrderRecord, st: BrokerOrderStatus) -> None: ...
        def halt(self, strategy: str, reason: str, level: str = "critical") -> None: ...
        def _maybe_commit(self) -> None: ...

    @property
    def restarting(self) -> bool:
        """True while orders journaled before a restart may still be placed again (or adopted):
        until then the book may lag the venue by design, so it is not reconciled yet."""
        return bool(self._possibly_sent)

    def mark_possibly_sent(self, orders: Iterable[Order]) -> None:
        """``orders`` were journaled after the state this order manager was restored from."""
        for o in orders:
            self._possibly_sent[o.client_id] = copy_order(o)

    def _execute(self, kind: str, rec: OrderRecord, price: float | None) -> None:
        journaled = self._possibly_sent.pop(rec.order.client_id, None) if kind == "submit" else None
        if journaled is None or not self._adopt(rec, journaled):
            super()._execute(kind, rec, price)  # type: ignore[misc]

    def _adopt(self, rec: OrderRecord, journaled: Order) -> bool:
        """``rec`` (already SUBMITTED by the request queue) may be at the broker: False when it
        is not (send it), True when it was dealt with without sending."""
        o = rec.order
        st = self._status_or_none(o.client_id)
        if st is None:
            return False
        if st is _CANNOT_SAY:
            return True
        if (journaled.strategy, journaled.contract, journaled.side, journaled.quantity) != (
            o.strategy, o.contract, o.side, o.quantity,
        ):  # fmt: skip
            rec.awaiting_since = None
            o.reason = (
                f"client id {o.client_id} was journaled as {journaled.side} {journaled.quantity} "
                f"{journaled.contract.id}; the replay placed {o.side} {o.quantity} {o.contract.id}"
            )
            self._transition(rec, S.REJECTED, o.reason)
            self.halt(o.strategy, f"{o.reason}: check the broker's order {o.client_id} by hand")
            return True
        self.counters["adopted"] += 1
        log.info(
            "order %s was at the broker before the restart (%s): adopted, not resent",
            o.client_id,
            st.state,
        )
        self._apply_status(rec, st)
        return True

    def _status_or_none(self, client_id: str) -> Any:
        """The broker's status of ``client_id``: None when it does not know it, ``_CANNOT_SAY`` on an error."""
        try:
            return self._broker.order_status(client_id)
        except Exception as exc:
            log.warning("order_status(%s) raised %r after a restart: not resent", client_id, exc)
            return _CANNOT_SAY

    def adopt_orphans(self) -> list[str]:
        """Possibly-sent orders the replay did not place again (its decisions diverged), as
        client ids. One the broker holds is adopted, so its fills reach the portfolio, and its
        strategy halted; one it does not know never left and is closed as REJECTED."""
        orphans = [o for cid, o in self._possibly_sent.items() if cid not in self._recs]
        now = self._clock.now()
        for journaled in orphans:
            cid = journaled.client_id
            del self._possibly_sent[cid]
            self._reserve_id(journaled)
            o = copy_order(journaled)
            o.state = S.SUBMITTED
            rec = OrderRecord(o, self.default_policy, False, awaiting_since=now, next_query=now)
            self._recs[cid] = self._open[cid] = rec
            self._ranked(cid)
            st = self._status_or_none(cid)
            if st is None:
                o.reason = "journaled before a restart, not placed again and unknown at the broker: never sent"
                self._transition(rec, S.REJECTED, o.reason)
                continue
            self.halt(
                o.strategy,
                f"order {cid} from before the restart is at the broker but was not placed again",
            )
            if st is not _CANNOT_SAY:  # otherwise the timers ask (next_query is now)
                self._apply_status(rec, st)
        self._maybe_commit()
        return [o.client_id for o in orphans]

    def _reserve_id(self, order: Order) -> None:
        """Move the strategy's id counter past ``order``'s id so it is never issued again."""
        m = _ID_NUMBER.search(order.client_id)
        for _ in range(int(m.group(1)) if m else 0):
            if self.ids.was_issued(order.client_id, order.strategy):
                return
            self.ids.next(order.strategy)

    # --- checkpoints ------------------------------------------------------------------------

    def to_state(self, orders: bool = True) -> dict[str, Any]:
        """Everything needed to rebuild this order manager after a restart (plain JSON types);
        without ``orders``, all of it but the orders."""
        return {
            "ids": self.ids.to_state(),
            "orders": [record_to_dict(r) for r in self._recs.values()] if orders else [],
            "halted": dict(self._halted),
            "settled": sorted(self._settled),
            "queue": [[t.isoformat(), s, k, c, p] for t, s, k, c, p in sorted(self._queue)],
            "seq": self._seq,
            "limiter": None if self._limiter is None else self._limiter.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], broker: Broker, clock: Clock, **kwargs: Any) -> Self:
        """An order manager with ``state`` restored; ``kwargs`` as for the constructor."""
        om = cls(broker, clock, **kwargs)  # type: ignore[call-arg]
        om.load_state(state)
        return om

    def load_state(self, state: dict[str, Any]) -> None:
        """Replace orders, ids, halts, settlements, the request queue and the rate limit with
        ``state`` (in place, so listeners wired to this order manager stay wired). When
        finished orders are tracked, the loaded ones count as saved (see :meth:`track_finished`)."""
        self.ids = ClientIds.from_state(state["ids"])
        self._recs.clear()
        self._open.clear()
        for d in state["orders"]:
            rec = record_from_dict(d)
            self._recs[rec.order.client_id] = rec
            if not rec.order.state.is_terminal:
                self._open[rec.order.client_id] = rec
        self._halted = dict(state["halted"])
        self._settled = set(state["settled"])
        self._queue = [(datetime.fromisoformat(t), int(s), k, c, p) for t, s, k, c, p in state["queue"]]
        heapq.heapify(self._queue)
        self._seq = int(state["seq"])
        if state.get("limiter") and self._limiter is not None:
            self._limiter = TokenBucket.from_state(state["limiter"])
        if self._finished is not None:
            self.track_finished(unsaved=False)

    # --- incremental checkpoints (live/recovery.py, CHECKPOINT_VERSION 2) ------------------
    #
    # Finished orders (core/saved_once.py) are saved once each, in batches; a checkpoint holds
    # the open ones. "Finished since the last save" is noted where it happens: a transition
    # into a terminal state (``_transition``) and an answer about an order already terminal
    # (``_handle``: it may clear a flag such as ``unknown``), so a record changed after its
    # save is saved again. A REJECTED order reopened by a retry is open, hence in the
    # checkpoint itself, until it finishes (and is saved) again.

    def track_finished(self, unsaved: bool = True) -> None:
        """Start noting which finished orders are not saved yet (off by default: a backtest
        has no checkpoints); ``unsaved``: every order already finished counts as not saved."""
        self._finished = SavedOnce(self._recs, _is_finished, unsaved=unsaved)

    def finished_state(self) -> list[list[Any]]:
        """The finished orders not saved yet, as ``[rank, record]`` (:meth:`SavedOnce.pending`)."""
        if self._finished is None:
            raise RuntimeError("finished orders are not tracked: call track_finished() first")
        return self._finished.pending(record_to_dict)

    def finished_saved(self) -> None:
        """What :meth:`finished_state` returned is durable."""
        if self._finished is not None:
            self._finished.saved()

    def live_state(self) -> dict[str, Any]:
        """:meth:`to_state` with only the open orders, each as ``[rank, record]``."""
        if self._finished is None:
            raise RuntimeError("finished orders are not tracked: call track_finished() first")
        state = self.to_state(orders=False)
        state["orders"] = self._finished.ranked(self._open.items(), record_to_dict)
        return state

    def _ranked(self, cid: str) -> None:
        """``cid`` was just added to ``_recs``: note its place (when tracking)."""
        if self._finished is not None:
            self._finished.added(cid)


def _is_finished(rec: OrderRecord) -> bool:
    return rec.order.state in TERMINAL_STATES
