"""Our orders <-> Dhan's order, trade and position records (pure functions, no I/O).

Requests are the v2 shapes the ``dhanhq`` SDK sends (``POST /v2/orders``, ``PUT
/v2/orders/{id}``); answers are read strictly: a record that lacks a field we rely on, or
carries a status we do not know, raises :class:`~optrunner.execution.brokers.live.errors.BadAnswer` — the adapter then halts
rather than guess what the broker holds.

Dhan's order states (``orderStatus``) and ours:

==============  ==================  ===============================================
Dhan            ours                note
==============  ==================  ===============================================
TRANSIT         SUBMITTED           received by Dhan, not yet at the exchange
PENDING         ACCEPTED            working at the exchange
TRIGGERED       ACCEPTED            a stop order whose trigger was hit
PART_TRADED     PARTIALLY_FILLED
TRADED          FILLED
REJECTED        REJECTED            ``omsErrorDescription`` is Dhan's reason
CANCELLED       CANCELLED           possibly after partial fills (``filledQty``)
EXPIRED         EXPIRED             a DAY order not filled by the close
==============  ==================  ===============================================
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from optrunner.core.orders import Order
from optrunner.core.types import OrderState, OrderType, Product
from optrunner.execution.brokers.base import BrokerEvent, BrokerEventKind, BrokerOrderStatus
from optrunner.execution.brokers.dhan.symbols import DhanInstrument
from optrunner.execution.brokers.live import fields
from optrunner.execution.brokers.live.errors import BadAnswer
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.symbology import SymbolError, parse_symbol

IST = timezone(timedelta(hours=5, minutes=30))
S = OrderState
WHO = "Dhan"

PRODUCTS = {Product.NRML: "MARGIN", Product.MIS: "INTRADAY"}
ORDER_TYPES = {
    OrderType.MARKET: "MARKET", OrderType.LIMIT: "LIMIT", OrderType.SL: "STOP_LOSS",
    OrderType.SL_M: "STOP_LOSS_MARKET",
}  # fmt: skip
STATES = {
    "TRANSIT": S.SUBMITTED, "PENDING": S.ACCEPTED, "TRIGGERED": S.ACCEPTED, "PART_TRADED": S.PARTIALLY_FILLED,
    "TRADED": S.FILLED, "REJECTED": S.REJECTED, "CANCELLED": S.CANCELLED, "EXPIRED": S.EXPIRED,
}  # fmt: skip


def place_body(order: Order, inst: DhanInstrument, client_id: str, tag: str) -> dict[str, Any]:
    """The ``POST /v2/orders`` body for ``order`` (``tag`` is sent as ``correlationId``)."""
    if order.product not in PRODUCTS:
        raise ValueError(
            f"Dhan options trade as NRML (MARGIN) or MIS (INTRADAY), not {order.product}"
        )
    price = order.limit_price if order.order_type in (OrderType.LIMIT, OrderType.SL) else 0.0
    trigger = order.trigger_price if order.order_type in (OrderType.SL, OrderType.SL_M) else 0.0
    return {
        "dhanClientId": client_id, "correlationId": tag, "transactionType": order.side.value,
        "exchangeSegment": inst.segment, "productType": PRODUCTS[order.product],
        "orderType": ORDER_TYPES[order.order_type], "validity": "DAY", "securityId": inst.security_id,
        "quantity": int(order.quantity), "disclosedQuantity": 0, "price": float(price or 0.0),
        "triggerPrice": float(trigger or 0.0), "afterMarketOrder": False,
    }  # fmt: skip


def modify_body(client_id: str, row: dict[str, Any], limit_price: float) -> dict[str, Any]:
    """The ``PUT /v2/orders/{id}`` body: the order as Dhan holds it, with a new limit."""
    return {
        "dhanClientId": client_id, "orderId": fields.text(row, "orderId", WHO), "orderType": fields.text(row, "orderType", WHO),
        "legName": row.get("legName") or "", "quantity": fields.whole(row, "quantity", WHO), "price": float(limit_price),
        "disclosedQuantity": int(row.get("disclosedQuantity") or 0),
        "triggerPrice": float(row.get("triggerPrice") or 0.0), "validity": row.get("validity") or "DAY",
    }  # fmt: skip


def exec_id(trade: dict[str, Any]) -> str:
    """A fill's id, stable across polls: Dhan's order id + the exchange's trade id."""
    return f"{fields.text(trade, 'orderId', WHO)}/{fields.text(trade, 'exchangeTradeId', WHO)}"


def fill_event(trade: dict[str, Any], client_id: str, fallback_ts: datetime) -> BrokerEvent:
    qty, price = (
        fields.whole(trade, "tradedQuantity", WHO),
        fields.number(trade, "tradedPrice", WHO),
    )
    if qty <= 0 or price < 0:
        raise BadAnswer(f"Dhan trade {exec_id(trade)}: {qty} @ {price} is not an execution")
    ts = parse_time(trade.get("exchangeTime")) or parse_time(trade.get("updateTime")) or fallback_ts
    return BrokerEvent(BrokerEventKind.FILL, client_id, ts, broker_id=fields.text(trade, "orderId", WHO), quantity=qty,
                       price=price, exec_id=exec_id(trade))  # fmt: skip


def order_state(row: dict[str, Any]) -> OrderState:
    status = row.get("orderStatus")
    if status not in STATES:
        raise BadAnswer(f"Dhan order {row.get('orderId')!r}: unknown orderStatus {status!r}")
    return STATES[status]


def order_status(row: dict[str, Any], client_id: str, trades: list[dict[str, Any]], now: datetime,
                 strategy: str = "") -> BrokerOrderStatus:  # fmt: skip
    """Our view of one Dhan order (``trades``: its executions from the trade book)."""
    state = order_state(row)
    fills = tuple(fill_event(t, client_id, now) for t in trades)
    filled = (
        fields.whole(row, "filledQty", WHO)
        if "filledQty" in row
        else sum(f.quantity for f in fills)
    )
    quantity = fields.whole(row, "quantity", WHO)
    if filled > quantity or (state is S.FILLED and filled != quantity and not fills):
        raise BadAnswer(
            f"Dhan order {row.get('orderId')!r}: filled {filled} of {quantity} while {state}"
        )
    limit = (
        fields.number(row, "price", WHO) if row.get("orderType") in ("LIMIT", "STOP_LOSS") else None
    )
    return BrokerOrderStatus(
        client_id, state, filled_qty=filled, avg_price=float(row.get("averageTradedPrice") or 0.0),
        broker_id=fields.text(row, "orderId", WHO), fills=fills, reason=str(row.get("omsErrorDescription") or ""),
        limit_price=limit, strategy=strategy,
    )  # fmt: skip


def contract_of(row: dict[str, Any]) -> OptionContract | None:
    """The option a position/order/trade row is about, from its trading symbol and expiry;
    None for rows that are not index options of ours (equity holdings, futures...)."""
    symbol, expiry = row.get("tradingSymbol"), parse_time(row.get("drvExpiryDate"))
    if not symbol or expiry is None:
        return None
    try:
        return parse_symbol(str(symbol), "dhan", expiry=expiry.date())
    except SymbolError:
        return None


def net_quantity(row: dict[str, Any]) -> int:
    return fields.whole(row, "netQty", WHO)


def quantity(row: dict[str, Any]) -> int:
    return fields.whole(row, "quantity", WHO)



def parse_time(value: Any) -> datetime | None:
    """Dhan's ``"2026-01-13 10:15:02"`` (IST) as an aware datetime; None when absent/unreadable."""
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
    except ValueError:
        return None
