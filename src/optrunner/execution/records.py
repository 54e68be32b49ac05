"""What the order manager keeps per order beyond the shared ``Order`` record, and plain-dict
(de)serialisation of both, so a restart rebuilds the order manager exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from optrunner.core.orders import Order
from optrunner.core.types import OrderState, OrderType, Product, Side, Tag
from optrunner.execution.policy import ExecutionPolicy
from optrunner.instruments.contracts import OptionContract

#: ``OrderState.is_terminal`` as a set: a member test is a fraction of a property call.
TERMINAL_STATES = frozenset(s for s in OrderState if s.is_terminal)


def _field_copier(cls: type) -> Callable[[Any], Any]:
    """A function copying every field of an instance of the slotted dataclass ``cls`` into a
    new instance, one attribute at a time. Generated (as dataclasses generate ``__init__``)
    because it is twice as fast as ``cls(*fields)`` and twenty times ``copy.copy``."""
    body = "".join(f"    c.{f.name} = o.{f.name}\n" for f in fields(cls))
    namespace: dict[str, Any] = {"_new": cls.__new__, "_cls": cls}
    exec(f"def copy(o):\n    c = _new(_cls)\n{body}    return c\n", namespace)
    return namespace["copy"]  # type: ignore[no-any-return]


#: A snapshot of an order (one is taken for every published update: the hot path).
copy_order: Callable[[Order], Order] = _field_copier(Order)


@dataclass(slots=True)
class OrderRecord:
    """An order plus the working state the order manager needs to drive it.

    ``awaiting_since``: when the order manager started waiting for the broker to tell it
    something it has not heard: the ack of a submission, or a resync after a detected gap
    (a fill or cancel for an order never acknowledged, a cancel refused for an order it
    thinks is working). While set, ``order_status`` is asked every ``next_query``.
    ``attempts``: resends of the current submission after "rate limited" / unreachable.
    ``unknown``: submitted, no answer, and the broker could not say within the ack timeout.
    ``exec_ids``: executions already applied (a fill repeated by the broker or found again
    through ``order_status`` is applied once).
    """

    order: Order
    policy: ExecutionPolicy
    market_as_limit: bool
    awaiting_since: datetime | None = None
    priced_at: datetime | None = None
    next_query: datetime | None = None
    reprices: int = 0
    attempts: int = 0
    unknown: bool = False
    queued: bool = False
    cancel_wanted: bool = False
    modify_pending: bool = False
    exec_ids: tuple[str, ...] = ()  # few per order: a tuple is smaller and the collector skips it


def _ts(v: datetime | None) -> str | None:
    return None if v is None else v.isoformat()


def _dt(v: str | None) -> datetime | None:
    return None if v is None else datetime.fromisoformat(v)


def order_to_dict(o: Order) -> dict[str, Any]:
    return {
        "client_id": o.client_id, "strategy": o.strategy, "tag": o.tag.value,
        "contract": o.contract.id, "side": o.side.value, "quantity": o.quantity,
        "order_type": o.order_type.value, "limit_price": o.limit_price,
        "trigger_price": o.trigger_price, "product": o.product.value, "state": o.state.value,
        "filled_qty": o.filled_qty, "avg_price": o.avg_price, "broker_id": o.broker_id,
        "parent_id": o.parent_id, "basket_id": o.basket_id, "leg": o.leg,
        "created_ts": _ts(o.created_ts), "updated_ts": _ts(o.updated_ts), "reason": o.reason,
    }  # fmt: skip


def order_from_dict(d: dict[str, Any]) -> Order:
    return Order(
        client_id=d["client_id"], strategy=d["strategy"], tag=Tag(d["tag"]),
        contract=OptionContract.from_id(d["contract"]), side=Side(d["side"]),
        quantity=int(d["quantity"]), order_type=OrderType(d["order_type"]),
        limit_price=d["limit_price"], trigger_price=d["trigger_price"],
        product=Product(d["product"]), state=OrderState(d["state"]),
        filled_qty=int(d["filled_qty"]), avg_price=float(d["avg_price"]),
        broker_id=d["broker_id"], parent_id=d["parent_id"], basket_id=d["basket_id"],
        leg=d["leg"], created_ts=_dt(d["created_ts"]), updated_ts=_dt(d["updated_ts"]),
        reason=d["reason"],
    )  # fmt: skip


def record_to_dict(r: OrderRecord) -> dict[str, Any]:
    return {
        "order": order_to_dict(r.order), "policy": r.policy.to_dict(),
        "market_as_limit": r.market_as_limit, "awaiting_since": _ts(r.awaiting_since),
        "priced_at": _ts(r.priced_at), "next_query": _ts(r.next_query), "reprices": r.reprices,
        "attempts": r.attempts, "unknown": r.unknown, "queued": r.queued,
        "cancel_wanted": r.cancel_wanted, "modify_pending": r.modify_pending,
        "exec_ids": sorted(r.exec_ids),
    }  # fmt: skip


def record_from_dict(d: dict[str, Any]) -> OrderRecord:
    return OrderRecord(
        order=order_from_dict(d["order"]), policy=ExecutionPolicy.from_dict(d["policy"]),
        market_as_limit=bool(d["market_as_limit"]), awaiting_since=_dt(d["awaiting_since"]),
        priced_at=_dt(d["priced_at"]), next_query=_dt(d["next_query"]),
        reprices=int(d["reprices"]), attempts=int(d["attempts"]), unknown=bool(d["unknown"]),
        queued=bool(d["queued"]), cancel_wanted=bool(d["cancel_wanted"]),
        modify_pending=bool(d["modify_pending"]), exec_ids=tuple(d["exec_ids"]),
    )  # fmt: skip
