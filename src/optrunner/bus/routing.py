"""One broker per strategy (seed 004): a strategies service whose strategies trade on
different brokers sends each one's requests to its own broker's topics.

A strategy's broker is its config's ``execution.broker`` (a composition strategy's
``broker``; a ``strategy_configurations`` row with ``zerodha_trading_enabled`` is ``kite``),
or the service's ``--broker`` when the file does not name one. :class:`RoutingBroker` is the
kernel's single broker: it holds one :class:`StreamBroker` per broker in use and sends an
order, and every later request about it, to its strategy's broker, so ``paper`` strategies'
signals go to ``paper.signals.raw`` and ``kite`` ones' to ``kite.signals.raw`` — each
checked by that broker's risk service and executed by its gateway. Market moves and the
session close go to every broker (the paper gateway executes on them; a live one answers
what its broker said since). Answers are collected from every broker, in broker order.

Reconciliation: a live broker's positions are per account; they are attributed to the one
strategy trading on it. Several strategies on one live account in a process that also trades
elsewhere cannot be told apart there, and are reported as differences: run them in their own
strategies service (``--broker kite``), whose reconciliation compares per contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from optrunner.bus.broker import StreamBroker
from optrunner.core.orders import Order
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution.brokers.base import BrokerEvent, BrokerOrderStatus, BrokerPosition


def strategy_broker(config: Any, default: str = "paper") -> str:
    """The broker ``config``'s orders go to: the one it names, else ``default``."""
    section = getattr(config, "execution", None)
    owner = section if section is not None and hasattr(section, "broker") else config
    named = getattr(owner, "model_fields_set", set())
    return str(owner.broker) if "broker" in named else default


def strategy_brokers(configs: Iterable[Any], default: str = "paper") -> dict[str, str]:
    """Strategy name -> broker, for every config."""
    return {c.name: strategy_broker(c, default) for c in configs}


class RoutingBroker:
    """The ``Broker`` protocol over several :class:`StreamBroker` (see the module docstring)."""

    def __init__(self, brokers: Mapping[str, StreamBroker], routes: Mapping[str, str], default: str, *,
                 resolve: Callable[[str], str | None] | None = None,
                 make: Callable[[str], StreamBroker] | None = None) -> None:  # fmt: skip
        """``routes``: strategy -> broker at the start. ``resolve``: asked first at each new
        order (strategies swapped in or changed in the table while the session runs; None: not
        known there); ``make``: a StreamBroker for a broker first named that way."""
        if default not in brokers:
            raise ValueError(f"the default broker {default!r} is not among {sorted(brokers)}")
        self.brokers = dict(brokers)
        self.routes = routes if isinstance(routes, dict) else dict(routes)  # shared: the owner sees resolved routes
        self.default = default
        self.resolve, self.make = resolve, make
        self.name = "+".join(self.brokers)
        self.config = self.brokers[default].config
        self.market_ids: dict[tuple[str, datetime], str] = {}
        for b in self.brokers.values():  # one market.chains index for all: every broker is told every move
            b.market_ids = self.market_ids
        self._owner: dict[str, str] = {}  # client id -> broker name
        self._key_owner = {k: n for n, b in self.brokers.items() for k in b.answer_cursors}

    # --- routing ---------------------------------------------------------------------------

    def route(self, strategy: str) -> str:
        """The broker ``strategy``'s new orders go to (created on first use when ``make`` allows)."""
        name = self.resolve(strategy) if self.resolve is not None else None
        if name is not None:
            self.routes[strategy] = name  # the latest word (a row swapped to another broker)
        name = name or self.routes.get(strategy) or self.default
        if name not in self.brokers:
            if self.make is None:
                raise ValueError(f"strategy {strategy!r} trades on {name!r}, which this process does not route to")
            b = self.brokers[name] = self.make(name)
            b.market_ids = self.market_ids
            self._key_owner.update((k, name) for k in b.answer_cursors)
        return name

    def broker_for(self, strategy: str) -> StreamBroker:
        return self.brokers[self.route(strategy)]

    def _of(self, client_id: str) -> StreamBroker:
        """The broker an order was sent to; after a restart, the one whose book holds it."""
        name = self._owner.get(client_id)
        if name is None:
            name = next((n for n, b in self.brokers.items() if b.order_status(client_id) is not None), self.default)
            self._owner[client_id] = name
        return self.brokers[name]

    # --- requests ----------------------------------------------------------------------------

    def submit(self, order: Order) -> None:
        self._owner[order.client_id] = self.route(order.strategy)
        self.brokers[self._owner[order.client_id]].submit(order)

    def cancel(self, client_id: str) -> None:
        self._of(client_id).cancel(client_id)

    def modify(self, client_id: str, limit_price: float) -> None:
        self._of(client_id).modify(client_id, limit_price)

    def on_snapshot(self, snapshot: ChainSnapshot) -> None:
        for b in self.brokers.values():
            b.on_snapshot(snapshot)

    def end_of_day(self, day: date) -> None:
        for b in self.brokers.values():
            b.end_of_day(day)

    def flush(self) -> None:
        for b in self.brokers.values():
            b.flush()

    # --- answers -----------------------------------------------------------------------------

    def events(self) -> list[BrokerEvent]:
        self.flush()  # every gateway works on its requests while the first answers are awaited
        return [e for b in self.brokers.values() for e in b.events()]

    @property
    def fed(self) -> bool:
        return all(b.fed for b in self.brokers.values())

    @fed.setter
    def fed(self, value: bool) -> None:
        for b in self.brokers.values():
            b.fed = value

    @property
    def answer_cursors(self) -> dict[str, str]:
        return {k: v for b in self.brokers.values() for k, v in b.answer_cursors.items()}

    def ingest(self, k: str, entries: list[Any]) -> None:
        self.brokers[self._key_owner[k]].ingest(k, entries)

    @property
    def sent(self) -> int:
        return sum(b.sent for b in self.brokers.values())

    # --- the gateways' books -------------------------------------------------------------------

    def order_status(self, client_id: str) -> BrokerOrderStatus | None:
        return self._of(client_id).order_status(client_id)

    def orders(self) -> list[BrokerOrderStatus]:
        return [o for b in self.brokers.values() for o in b.orders()]

    def positions(self) -> list[BrokerPosition]:
        """Every broker's positions. A live broker keeps one book per account (no strategy):
        when one strategy alone trades on it, its positions are that strategy's, so the
        kernel's reconciliation compares like with like."""
        out = []
        for name, b in self.brokers.items():
            users = [s for s, n in self.routes.items() if n == name]
            for p in b.positions():
                if not p.strategy and len(users) == 1:
                    p = BrokerPosition(users[0], p.contract, p.quantity)
                out.append(p)
        return out

    def trades(self) -> list[BrokerEvent]:
        return sorted((e for b in self.brokers.values() for e in b.trades()), key=lambda e: (e.ts, e.exec_id))


__all__ = ["RoutingBroker", "strategy_broker", "strategy_brokers"]
