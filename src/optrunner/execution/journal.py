"""The write-ahead journal the order manager writes before it acts.

The order manager records every order, transition and fill here, then calls ``flush()``
(a durable group commit) before any action leaves the process: a request to the broker
or a fill handed to listeners. After a crash the journal therefore holds at least every
action that anyone outside could have seen. The store (SQLite / PostgreSQL) implements
these methods too; :class:`MemoryJournal` records everything for tests and benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from optrunner.core.orders import Fill, Order
from optrunner.core.types import OrderState
from optrunner.execution.records import copy_order


class Journal(Protocol):
    def record_transition(
        self, order: Order, from_state: OrderState | None, to_state: OrderState, ts: datetime, reason: str
    ) -> None:
        """Append one transition of ``order`` (already in ``to_state``) and insert or update its
        row to the order as it now is (limit price, fills...). ``from_state`` is None for the
        creation event, which creates the row; a self-loop records an action (cancel / modify
        request) or a further partial fill."""
        ...

    def save_fill(self, fill: Fill) -> None: ...

    def flush(self) -> None:
        """Make everything recorded so far durable (one group commit)."""
        ...


class NullJournal:
    """Records nothing: for research runs where a crash simply means running again."""

    def record_transition(
        self, order: Order, from_state: OrderState | None, to_state: OrderState, ts: datetime, reason: str
    ) -> None:
        pass

    def save_fill(self, fill: Fill) -> None:
        pass

    def flush(self) -> None:
        pass


@dataclass(slots=True, frozen=True)
class Transition:
    client_id: str
    from_state: OrderState | None
    to_state: OrderState
    ts: datetime
    reason: str


class MemoryJournal:
    """Keeps every record in memory, in order, and remembers how much of it has been flushed.

    ``entries`` is the interleaved log (``Transition`` or ``Fill``), ``orders`` each order as
    its last transition left it, and ``durable`` the prefix of ``entries`` a crash would keep,
    which is what tests assert against.
    """

    def __init__(self) -> None:
        self.entries: list[object] = []
        self.orders: dict[str, Order] = {}
        self.transitions: list[Transition] = []
        self.fills: list[Fill] = []
        self.flushes = 0
        self._flushed = 0

    def record_transition(
        self, order: Order, from_state: OrderState | None, to_state: OrderState, ts: datetime, reason: str
    ) -> None:
        t = Transition(order.client_id, from_state, to_state, ts, reason)
        self.orders[order.client_id] = copy_order(order)
        self.transitions.append(t)
        self.entries.append(t)

    def save_fill(self, fill: Fill) -> None:
        self.fills.append(fill)
        self.entries.append(fill)

    def flush(self) -> None:
        self.flushes += 1
        self._flushed = len(self.entries)

    @property
    def durable(self) -> list[object]:
        return self.entries[: self._flushed]

    def durable_transitions(self, client_id: str) -> list[Transition]:
        return [e for e in self.durable if isinstance(e, Transition) and e.client_id == client_id]

    def states_of(self, client_id: str) -> list[OrderState]:
        """The sequence of states ``client_id`` went through (creation first)."""
        return [t.to_state for t in self.transitions if t.client_id == client_id and t.to_state != t.from_state]
