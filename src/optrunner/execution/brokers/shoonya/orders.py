"""Our orders <-> NorenOMS order, trade and position records (pure functions, no I/O).

NorenOMS sends numbers as strings (``"qty": "75"``) and states as words. A record that lacks
a field we rely on, or carries a status we do not know, raises :class:`~optrunner.execution.brokers.live.errors.BadAnswer`:
the adapter halts rather than guess.

================  ==================  ===============================================
NorenOMS status   ours                note
================  ==================  ===============================================
PENDING           SUBMITTED           at the OMS, not yet at the exchange
OPEN              ACCEPTED            PARTIALLY_FILLED when ``fillshares`` > 0
TRIGGER_PENDING   ACCEPTED            a stop order waiting for its trigger
COMPLETE          FILLED
REJECTED          REJECTED            ``rejreason`` is the broker's reason
CANCELED          CANCELLED           possibly after partial fills
================  ==================  ===============================================
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from optrunner.core.orders import Order
from optrunner.core.types import OrderState, OrderType, Product
from optrunner.execution.brokers.base import BrokerEvent, BrokerEventKind, BrokerOrderStatus
from optrunner.execution.brokers.live import fields
from optrunner.execution.brokers.live.errors import BadAnswer
from optrunner.execution.brokers.shoonya.symbols import ShoonyaInstrument
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.symbology import SymbolError, parse_symbol

IST = timezone(timedelta(hours=5, minutes=30))
S = OrderState
WHO = "Shoonya"

PRODUCTS = {Product.NRML: "M", Product.MIS: "I"}
PRICE_TYPES = {
    OrderType.MARKET: "MKT",
    OrderType.LIMIT: "LMT",
    OrderType.SL: "SL-LMT",
    OrderType.SL_M: "SL-MKT",
}
SIDES = {"BUY": "B", "SELL": "S"}
STATES = {
    "PENDING": S.SUBMITTED, "OPEN": S.ACCEPTED, "TRIGGER_PENDING": S.ACCEPTED, "COMPLETE": S.FILLED,
    "REJECTED": S.REJECTED, "CANCELED": S.CANCELLED, "CANCELLED": S.CANCELLED,
}  # fmt: skip


def _price(x: float | None) -> str:
    return f"{float(x or 0.0):.2f}"


def place_jdata(
    order: Order, inst: ShoonyaInstrument, uid: str, account: str, tag: str
) -> dict[str, Any]:
    """``PlaceOrder``'s jData for ``order`` (``tag`` is sent as ``remarks``)."""
    if order.product not in PRODUCTS:
        raise ValueError(f"Shoonya options trade as NRML (M) or MIS (I), not {order.product}")
    price = order.limit_price if order.order_type in (OrderType.LIMIT, OrderType.SL) else 0.0
    trigger = order.trigger_price if order.order_type in (OrderType.SL, OrderType.SL_M) else None
    j = {
        "ordersource": "API", "uid": uid, "actid": account, "trantype": SIDES[order.side.value],
        "prd": PRODUCTS[order.product], "exch": inst.exchange, "tsym": inst.trading_symbol,
        "qty": str(int(order.quantity)), "dscqty": "0", "prctyp": PRICE_TYPES[order.order_type],
        "prc": _price(price), "ret": "DAY", "remarks": tag,
    }  # fmt: skip
    if trigger is not None:
        j["trgprc"] = _price(trigger)
    return j


def modify_jdata(row: dict[str, Any], uid: str, limit_price: float) -> dict[str, Any]:
    """``ModifyOrder``'s jData: the order as the OMS holds it, with a new limit."""
    j = {
        "uid": uid, "exch": fields.text(row, "exch", WHO), "norenordno": fields.text(row, "norenordno", WHO), "prctyp": fields.text(row, "prctyp", WHO),
        "prc": _price(limit_price), "qty": fields.text(row, "qty", WHO), "tsym": fields.text(row, "tsym", WHO), "ret": row.get("ret") or "DAY",
    }  # fmt: skip
    if row.get("prctyp") in ("SL-LMT", "SL-MKT"):
        j["trgprc"] = str(row.get("trgprc") or "0")
    return j


def exec_id(trade: dict[str, Any]) -> str:
    """A fill's id, stable across polls: the order number + the fill id."""
    return f"{fields.text(trade, 'norenordno', WHO)}/{fields.text(trade, 'flid', WHO)}"


def fill_event(trade: dict[str, Any], client_id: str, fallback_ts: datetime) -> BrokerEvent:
    qty, price = fields.whole(trade, "flqty", WHO), fields.number(trade, "flprc", WHO)
    if qty <= 0 or price < 0:
        raise BadAnswer(f"Shoonya trade {exec_id(trade)}: {qty} @ {price} is not an execution")
    ts = parse_time(trade.get("fltm")) or parse_time(trade.get("exch_tm")) or fallback_ts
    return BrokerEvent(BrokerEventKind.FILL, client_id, ts, broker_id=fields.text(trade, "norenordno", WHO), quantity=qty,
                       price=price, exec_id=exec_id(trade))  # fmt: skip


def order_state(row: dict[str, Any]) -> OrderState:
    status = str(row.get("status") or "").upper()
    if status not in STATES:
        raise BadAnswer(
            f"Shoonya order {row.get('norenordno')!r}: unknown status {row.get('status')!r}"
        )
    state = STATES[status]
    if state is S.ACCEPTED and fields.whole_or_zero(row, "fillshares", WHO) > 0:
        return S.PARTIALLY_FILLED
    return state


def order_status(row: dict[str, Any], client_id: str, trades: list[dict[str, Any]], now: datetime,
                 strategy: str = "") -> BrokerOrderStatus:  # fmt: skip
    state = order_state(row)
    fills = tuple(fill_event(t, client_id, now) for t in trades)
    filled = fields.whole_or_zero(row, "fillshares", WHO)
    quantity = fields.whole(row, "qty", WHO)
    if filled > quantity:
        raise BadAnswer(f"Shoonya order {row.get('norenordno')!r}: filled {filled} of {quantity}")
    limit = fields.number(row, "prc", WHO) if row.get("prctyp") in ("LMT", "SL-LMT") else None
    avg = float(row.get("avgprc") or 0.0) if filled else 0.0
    return BrokerOrderStatus(
        client_id, state, filled_qty=filled, avg_price=avg, broker_id=fields.text(row, "norenordno", WHO), fills=fills,
        reason=str(row.get("rejreason") or ""), limit_price=limit, strategy=strategy,
    )  # fmt: skip


def contract_of(row: dict[str, Any]) -> OptionContract | None:
    """The index option a position/order row is about; None for anything else (not ours)."""
    if row.get("exch") != "NFO" or not row.get("tsym"):
        return None
    try:
        return parse_symbol(str(row["tsym"]), "shoonya")
    except SymbolError:
        return None


def quantity(row: dict[str, Any]) -> int:
    return fields.whole(row, "qty", WHO)


def net_quantity(row: dict[str, Any]) -> int:
    return fields.whole(row, "netqty", WHO)


def parse_time(value: Any) -> datetime | None:
    """``"13-01-2026 10:15:02"`` (IST) as an aware datetime; None when absent/unreadable."""
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip()[:19], "%d-%m-%Y %H:%M:%S").replace(tzinfo=IST)
    except ValueError:
        return None
