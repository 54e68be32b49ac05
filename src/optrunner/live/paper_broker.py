"""The paper broker: the simulated exchange with an order book that survives our crash.

A real broker keeps its orders, executions and positions when our process dies; a paper
broker must too, or a restart could not tell which orders were sent. ``PaperBroker`` wraps a
:class:`SimulatedExchange` and writes what changed in its book to a file (paper_book.py: the
whole book, then a line per change) after calls that produced an answer — an accept, a
reject, an execution, a cancel, a modify, an expiry, a settlement — and before that answer
can be read. Requests the order manager sends back to back (``batch``: an emergency stop's
80 flatten orders) share one write at the end of the batch, still before any answer is read:
a crash before it is a crash before the broker heard of them, which a restart resolves like
any order possibly sent. A ``kill -9`` leaves the book as of the last finished write, never
half of one.

The outbox (answers not yet read) is not written: like a real broker's push stream it dies
with the connection, and a restart recovers those answers through ``order_status`` (status
plus trade book) and, for expiry settlements, by closing the session again
(``end_of_day`` of a closed day publishes its settlements again).

``OPTRUNNER_TEST_CRASH=<point>:<n>`` makes the process SIGKILL itself the n-th time it
reaches ``<point>``, for crash tests that need an exact place:

* ``submit``: a submission arrives, after our journal flush and before the exchange sees it;
* ``accepted``: a submission was accepted (and maybe executed) and saved, its answers unread;
* ``snapshot``: a snapshot executed working orders and the book was saved, answers unread.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from optrunner.core.clock import Clock
from optrunner.core.orders import Order
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution.brokers.base import BrokerEvent, BrokerOrderStatus, BrokerPosition
from optrunner.execution.brokers.faults import FaultInjector
from optrunner.execution.brokers.simulated import SimConfig, SimulatedExchange
from optrunner.live.paper_book import BookFile, load_book

CRASH_ENV = "OPTRUNNER_TEST_CRASH"
CRASH_POINTS = ("submit", "accepted", "snapshot")


class CrashPoint:
    """Dies by SIGKILL the n-th time a named point is reached (test-only; off unless set)."""

    def __init__(self, spec: str | None) -> None:
        self.point: str | None = None
        self.n = 0
        self.seen: Counter[str] = Counter()
        if not spec:
            return
        point, _, n = spec.partition(":")
        if point not in CRASH_POINTS or not n.isdigit() or int(n) < 1:
            raise ValueError(
                f"{CRASH_ENV}={spec!r}: expected <point>:<n>, point one of {', '.join(CRASH_POINTS)}, n >= 1"
            )
        self.point, self.n = point, int(n)

    @classmethod
    def from_env(cls) -> CrashPoint:
        return cls(os.environ.get(CRASH_ENV))

    def reached(self, point: str) -> None:
        if point != self.point:
            return
        self.seen[point] += 1
        if self.seen[point] == self.n:
            os.kill(os.getpid(), signal.SIGKILL)


class PaperBroker:
    """A :class:`SimulatedExchange` whose book is durable in ``path`` (see the module docstring)."""

    def __init__(
        self, path: str | Path, clock: Clock, config: SimConfig | None = None, faults: FaultInjector | None = None
    ) -> None:
        """``faults``: chaos mode; its state (RNG included) is saved with the book, so a resumed
        session continues the same fault sequence."""
        self.path = Path(path)
        state = load_book(self.path)
        if state is not None:
            self.exchange = SimulatedExchange.from_state(state, clock, config, faults)
        else:
            self.exchange = SimulatedExchange(clock, config, faults)
        self._book = BookFile(self.path, self.exchange)
        if state is not None:
            self._book.loaded()
        self._touched: set[str] = set()  # client ids sent a request since the last write
        self.name = self.exchange.name
        self.config = self.exchange.config
        self.saves = 0
        self._dirty = False  # answers the file does not hold yet
        self._batch_depth = 0
        self._accepted_unsaved = 0  # submissions accepted since the last write (crash point "accepted")
        self._crash = CrashPoint.from_env()

    # --- the broker protocol -------------------------------------------------------------

    def submit(self, order: Order) -> None:
        self._crash.reached("submit")
        self._touched.add(order.client_id)
        self.exchange.submit(order)
        if self.exchange.accepted[order.client_id]:
            self._accepted_unsaved += 1
        self._answered()

    def cancel(self, client_id: str) -> None:
        self._touched.add(client_id)
        self.exchange.cancel(client_id)
        self._answered()

    def modify(self, client_id: str, limit_price: float) -> None:
        self._touched.add(client_id)
        self.exchange.modify(client_id, limit_price)
        self._answered()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Requests sent inside share one write of the book, at the end (the order manager
        sends its ready requests in one batch)."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0:
                self._flush()

    def order_status(self, client_id: str) -> BrokerOrderStatus | None:
        self._flush()
        return self.exchange.order_status(client_id)

    def events(self) -> list[BrokerEvent]:
        self._flush()  # durable before any answer can be read
        return self.exchange.events()

    # --- market data and the session ------------------------------------------------------

    def on_snapshot(self, snapshot: ChainSnapshot) -> None:
        executed = len(self.exchange.executions)
        closed = len(self.exchange.closed_days)
        self.exchange.on_snapshot(snapshot)
        if len(self.exchange.closed_days) != closed or len(self.exchange.executions) != executed:
            self._flush(force=True)  # a snapshot that only moved the market is fed again after a restart
            self._crash.reached("snapshot")

    def end_of_day(self, day: date) -> None:
        """Close the session; a session already closed publishes its settlements again
        (the caller lost them in a crash; the order manager applies each exec id once)."""
        if day in self.exchange.closed_days:
            self.exchange.republish_settlements(day)
            return
        self.exchange.end_of_day(day)
        self._flush(force=True, compact=True)  # the day's changes folded into one book

    # --- for checks and reports --------------------------------------------------------

    @property
    def accepted(self) -> Counter[str]:
        """How many times each client id was accepted (more than once would be a duplicate order)."""
        return self.exchange.accepted

    @property
    def net_positions(self) -> dict[Any, int]:
        return self.exchange.net_positions

    # --- the books, for reconciliation ------------------------------------------------------

    def positions(self) -> list[BrokerPosition]:
        self._flush()
        return self.exchange.positions()

    def orders(self) -> list[BrokerOrderStatus]:
        self._flush()
        return self.exchange.orders()

    def trades(self) -> list[BrokerEvent]:
        self._flush()
        return self.exchange.trades()

    # --- durability -----------------------------------------------------------------------

    def _answered(self) -> None:
        self._dirty = True
        if self._batch_depth == 0:
            self._flush()

    def _flush(self, *, force: bool = False, compact: bool = False) -> None:
        """Write the book if it holds answers the file does not (or ``force``)."""
        if not (self._dirty or force):
            return
        self._book.write(self._touched, compact=compact)
        self._touched = set()
        self.saves += 1
        self._dirty = False
        accepted, self._accepted_unsaved = self._accepted_unsaved, 0
        for _ in range(accepted):  # each accepted and saved, its answers unread
            self._crash.reached("accepted")


__all__ = ["CRASH_ENV", "CrashPoint", "PaperBroker"]
