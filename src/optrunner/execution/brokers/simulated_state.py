"""The simulated exchange's whole book in plain JSON types, and back (a paper broker's file
survives our crash; ``SimulatedExchange.to_state`` / ``from_state``). Kept apart from the
matching engine in simulated.py: the two change for different reasons."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from optrunner.core.types import OrderState, Side
from optrunner.execution.brokers.base import BrokerEventKind
from optrunner.execution.brokers.simulated_book import (
    event_from_dict,
    event_to_dict,
    exchange_order_from_dict,
    exchange_order_to_dict,
)
from optrunner.instruments.contracts import OptionContract

if TYPE_CHECKING:
    from optrunner.execution.brokers.faults import FaultInjector
    from optrunner.execution.brokers.simulated import SimulatedExchange

_WORKING = (OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED)


def book_state(ex: SimulatedExchange) -> dict[str, Any]:
    """Everything a restarted exchange needs to answer as before (quotes are not kept)."""
    return {
        "name": ex.name,
        "orders": [exchange_order_to_dict(o) for o in ex._by_client.values()],
        "rejected": dict(ex._rejected),
        **small_fields(ex),
        "positions": [[s, c.id, n] for (s, c), n in ex.net_positions.items()],
        "accepted": dict(ex.accepted),
        "executions": [event_to_dict(e) for e in ex.executions],
        "session": {"orders": list(ex._session_orders), "exec_from": ex._session_exec_from},
    }


SMALL_FIELDS = ("seen", "taken", "close_spot", "day", "closed", "n_orders", "n_exec", "faults")


def small_fields(ex: SimulatedExchange) -> dict[str, Any]:
    """The book's fields that stay small all day (``SMALL_FIELDS``): a paper broker's change
    line (live/paper_book.py) holds them in full."""
    return {
        "seen": {s: ts.isoformat() for s, ts in ex._seen.items()},
        "taken": {s: [[i, side.value, q] for (i, side), q in t.items()] for s, t in ex._taken.items()},
        "close_spot": {s: [d.isoformat(), spot] for s, (d, spot) in ex._close_spot.items()},
        "day": None if ex._day is None else ex._day.isoformat(),
        "closed": sorted(d.isoformat() for d in ex._closed),
        "n_orders": ex._n_orders,
        "n_exec": ex._n_exec,
        "faults": None if ex._faults is None else ex._faults.to_state(),
    }


def load_book(ex: SimulatedExchange, state: dict[str, Any], faults: FaultInjector | None) -> None:
    """Fill a fresh exchange's book from :func:`book_state`'s dict."""
    for d in state["orders"]:
        o = exchange_order_from_dict(d)
        ex._by_client[o.order.client_id] = o
    # exchange ids grow with submission order: the working orders are queued as they were
    for o in sorted(ex._by_client.values(), key=lambda o: o.exchange_id):
        if o.state in _WORKING:
            ex._working.setdefault(o.order.contract.underlying, {})[o.exchange_id] = o
    ex._rejected = dict(state["rejected"])
    ex._seen = {s: datetime.fromisoformat(ts) for s, ts in state["seen"].items()}
    ex._taken = {
        s: {(int(i), Side(side)): int(q) for i, side, q in t} for s, t in state["taken"].items()
    }
    ex._close_spot = {
        s: (date.fromisoformat(d), float(spot)) for s, (d, spot) in state["close_spot"].items()
    }
    ex._day = None if state["day"] is None else date.fromisoformat(state["day"])
    ex._closed = {date.fromisoformat(d) for d in state["closed"]}
    ex._n_orders, ex._n_exec = int(state["n_orders"]), int(state["n_exec"])
    ex.net_positions = {(s, OptionContract.from_id(c)): int(n) for s, c, n in state["positions"]}
    ex.accepted = Counter({c: int(n) for c, n in state["accepted"].items()})
    ex.executions = [event_from_dict(d) for d in state["executions"]]
    session = state.get("session")  # absent in a book saved before session books: all of it
    if session is not None:
        ex._session_exec_from = int(session["exec_from"])
        ex._session_orders = {c: ex._by_client[c] for c in session["orders"] if c in ex._by_client}
    else:
        ex._session_orders = dict(ex._by_client)
    if faults is not None and state.get("faults") is not None:
        faults.load_state(state["faults"])  # chaos mode continues its sequence after a restart
    for k, e in enumerate(ex.executions):
        if e.kind is BrokerEventKind.FILL:
            ex._by_client[e.client_id].fill_rows += (k,)
