"""The simulated exchange's book: its orders, and plain-dict forms of them and of its
answers, which :meth:`SimulatedExchange.to_state` / ``from_state`` carry across a restart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from optrunner.core.orders import Order
from optrunner.core.types import OrderState, Side
from optrunner.execution.brokers.base import BrokerEvent, BrokerEventKind, RejectReason
from optrunner.execution.records import order_from_dict, order_to_dict
from optrunner.instruments.contracts import OptionContract


@dataclass(slots=True)
class ExchangeOrder:
    """An order in the exchange's book."""

    exchange_id: str
    order: Order  # a private copy of what was submitted
    tick: float
    lot: int
    executable_at: datetime
    state: OrderState = OrderState.ACCEPTED
    filled: int = 0
    avg: float = 0.0
    triggered: bool = False
    # where its fills are in SimulatedExchange.executions (ints: no container for the
    # garbage collector to keep scanning, per order, for the rest of the run)
    fill_rows: tuple[int, ...] = ()


def exchange_order_to_dict(ex: ExchangeOrder) -> dict[str, Any]:
    return {
        "exchange_id": ex.exchange_id, "order": order_to_dict(ex.order), "tick": ex.tick, "lot": ex.lot,
        "executable_at": ex.executable_at.isoformat(), "state": ex.state.value, "filled": ex.filled,
        "avg": ex.avg, "triggered": ex.triggered,
    }  # fmt: skip


def exchange_order_from_dict(d: dict[str, Any]) -> ExchangeOrder:
    return ExchangeOrder(
        d["exchange_id"], order_from_dict(d["order"]), float(d["tick"]), int(d["lot"]),
        datetime.fromisoformat(d["executable_at"]), OrderState(d["state"]), int(d["filled"]),
        float(d["avg"]), bool(d["triggered"]),
    )  # fmt: skip


def event_to_dict(e: BrokerEvent) -> dict[str, Any]:
    return {
        "kind": e.kind.value, "client_id": e.client_id, "ts": e.ts.isoformat(), "broker_id": e.broker_id,
        "quantity": e.quantity, "price": e.price, "exec_id": e.exec_id, "reason": e.reason,
        "reject_reason": None if e.reject_reason is None else e.reject_reason.value, "strategy": e.strategy,
        "contract": None if e.contract is None else e.contract.id, "side": None if e.side is None else e.side.value,
    }  # fmt: skip


def event_from_dict(d: dict[str, Any]) -> BrokerEvent:
    return BrokerEvent(
        BrokerEventKind(d["kind"]), d["client_id"], datetime.fromisoformat(d["ts"]), d["broker_id"], int(d["quantity"]),
        float(d["price"]), d["exec_id"], d["reason"], None if d["reject_reason"] is None else RejectReason(d["reject_reason"]),
        d["strategy"], None if d["contract"] is None else OptionContract.from_id(d["contract"]),
        None if d["side"] is None else Side(d["side"]),
    )  # fmt: skip
