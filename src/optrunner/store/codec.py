"""The repository edge: the on-disk formats, the checks of single values, and rows read back.

Records are turned into rows by :mod:`optrunner.store.encoder`, which checks each record at
the moment it is handed to the store (an order as a snapshot of its fields, since
:class:`Order` is mutable), so bad input raises at that call, never later inside a flush.
Rows are plain tuples the DBAPI driver binds as they are; that bypasses SQLAlchemy's
per-row type processing on the write hot path, so the store owns the on-disk formats:

* times: aware UTC for PostgreSQL; for SQLite the exact text SQLAlchemy's ``DATETIME``
  writes (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC) so reads through SQLAlchemy parse it;
* enums: their values; JSON: compact text, checked at the call that supplies it;
* contracts: the canonical id (``NIFTY:20260113:25000:CE``);
* numbers: exact ``int`` / finite ``float`` (NumPy scalars converted: sqlite3 would bind a
  ``numpy.int64`` as a BLOB, and SQLite stores a NaN as NULL).

Reads go through SQLAlchemy Core and come back here to be rebuilt as core records.
"""

from __future__ import annotations

import json
import math
import numbers
import operator
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row

from optrunner.core.orders import ChargeBreakdown, Fill, Order
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderState, OrderType, Product, Side, Tag
from optrunner.instruments.contracts import OptionContract
from optrunner.store.records import JournalEntry, OrderEvent, PositionRecord

TimeEncoder = Callable[[datetime, str], Any]

ORDER_COLUMNS = (
    "client_id", "strategy", "tag", "contract", "side", "quantity", "order_type",
    "limit_price", "trigger_price", "product", "state", "filled_qty", "avg_price",
    "broker_id", "parent_id", "basket_id", "leg", "created_ts", "updated_ts", "reason",
)  # fmt: skip
EVENT_COLUMNS = (
    "client_id", "from_state", "to_state", "ts", "reason", "filled_qty", "avg_price",
)  # fmt: skip
FILL_COLUMNS = (
    "fill_id", "client_id", "strategy", "tag", "contract", "side", "quantity", "price", "ts",
    "brokerage", "stt", "exchange", "sebi", "stamp", "ipft", "gst", "leg", "is_settlement",
)  # fmt: skip
POSITION_COLUMNS = (
    "strategy", "contract", "net_qty", "avg_price", "realized_pnl", "charges", "updated_ts",
)  # fmt: skip
STATE_COLUMNS = ("strategy", "version", "ts", "state")
JOURNAL_COLUMNS = ("ts", "kind", "strategy", "payload")


# Aware, constant whole-minute offsets: always encodable, and cheap to convert (see below).
FIXED_ZONES = frozenset({UTC, IST})


def utc(ts: datetime, what: str) -> datetime:
    """``ts`` as aware UTC; a naive time is refused (it would be silently misread)."""
    if not isinstance(ts, datetime):
        raise TypeError(f"{what}: expected a datetime, got {type(ts).__name__} {ts!r}")
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{what}: naive datetime {ts!r}; attach a time zone (UTC or IST)")
    return ts if ts.tzinfo is UTC else ts.astimezone(UTC)


_UTC_MINUTES: dict[tuple[Any, ...], str] = {}  # (local y, m, d, H, M, zone) -> UTC "Y-m-d H:M:"


def sqlite_time(ts: datetime, what: str) -> str:
    """UTC in the text layout SQLAlchemy's SQLite DATETIME writes and reads back.

    Hot path for the clock's zones (UTC, IST): both are a whole number of minutes off UTC,
    so seconds and microseconds carry over unchanged and only the date-hour-minute prefix
    needs converting; it is cached per minute. This halves the cost of ``astimezone`` +
    ``isoformat``, which was a quarter of the store's CPU per order.
    """
    if type(ts) is datetime and ts.tzinfo in FIXED_ZONES:
        key = (ts.year, ts.month, ts.day, ts.hour, ts.minute, ts.tzinfo)
        prefix = _UTC_MINUTES.get(key)
        if prefix is None:
            if len(_UTC_MINUTES) >= 100_000:
                _UTC_MINUTES.clear()
            minute = ts.replace(second=0, microsecond=0).astimezone(UTC)
            prefix = _UTC_MINUTES[key] = minute.isoformat(" ")[:17]
        return "%s%02d.%06d" % (prefix, ts.second, ts.microsecond)  # noqa: UP031 (fastest)
    return utc(ts, what).isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def postgres_time(ts: datetime, what: str) -> datetime:
    """Any aware datetime: psycopg sends it as timestamptz, which is an instant."""
    if type(ts) is datetime and ts.tzinfo in FIXED_ZONES:
        return ts
    return utc(ts, what)


def from_db_time(value: datetime) -> datetime:
    """SQLite returns naive UTC, PostgreSQL aware in the session zone: both become aware UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_JSON = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def json_text(doc: Any, what: str, kind: type = dict) -> str:
    """Strict JSON (no NaN/Infinity: PostgreSQL's jsonb refuses them) of a dict or list."""
    if not isinstance(doc, kind):
        raise TypeError(f"{what}: expected a {kind.__name__}, got {type(doc).__name__}")
    try:
        return _JSON.encode(doc)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not storable as JSON: {exc}") from exc


def _enum_values(enum_cls: type[StrEnum]) -> dict[str, str]:
    return {m: m.value for m in enum_cls}


TAG_VALUES, SIDE_VALUES, TYPE_VALUES, PRODUCT_VALUES, STATE_VALUES = map(
    _enum_values, (Tag, Side, OrderType, Product, OrderState)
)


def enum_value(values: dict[str, str], value: object, field: str) -> str:
    """The stored text of an enum member (or of a string equal to a member's value)."""
    try:
        return values[value]  # type: ignore[index]
    except (KeyError, TypeError):
        raise ValueError(f"{field}={value!r} is not one of {sorted(values.values())}") from None


def exact_int(value: object, field: str) -> int:
    """An exact integer; NumPy integers are converted (sqlite3 would store them as BLOBs)."""
    if type(value) is int:
        return value
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{field} must be an integer, got {type(value).__name__} {value!r}") from None


def finite_real(value: object, field: str) -> float:
    """A finite float: SQLite would store NaN as NULL, and no price or amount is infinite."""
    if type(value) is not float:
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise TypeError(f"{field} must be a number, got {type(value).__name__} {value!r}")
        value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{field} must be finite, got {value!r}")
    return value


def opt_real(value: object, field: str) -> float | None:
    return None if value is None else finite_real(value, field)


def exact_text(value: object, field: str) -> str:
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str(value)
    raise TypeError(f"{field} must be a string, got {type(value).__name__} {value!r}")


def opt_text(value: object, field: str) -> str | None:
    return None if value is None else exact_text(value, field)


def order_from_row(r: Row) -> Order:
    return Order(
        client_id=r.client_id, strategy=r.strategy, tag=Tag(r.tag),
        contract=OptionContract.from_id(r.contract), side=Side(r.side), quantity=r.quantity,
        order_type=OrderType(r.order_type), limit_price=r.limit_price,
        trigger_price=r.trigger_price, product=Product(r.product), state=OrderState(r.state),
        filled_qty=r.filled_qty, avg_price=r.avg_price, broker_id=r.broker_id,
        parent_id=r.parent_id, basket_id=r.basket_id, leg=r.leg,
        created_ts=None if r.created_ts is None else from_db_time(r.created_ts),
        updated_ts=None if r.updated_ts is None else from_db_time(r.updated_ts),
        reason=r.reason,
    )  # fmt: skip


def event_from_row(r: Row) -> OrderEvent:
    return OrderEvent(
        seq=r.id, client_id=r.client_id,
        from_state=None if r.from_state is None else OrderState(r.from_state),
        to_state=OrderState(r.to_state), ts=from_db_time(r.ts), reason=r.reason,
        filled_qty=r.filled_qty, avg_price=r.avg_price,
    )  # fmt: skip


def fill_from_row(r: Row) -> Fill:
    charges = ChargeBreakdown(
        brokerage=r.brokerage, stt=r.stt, exchange=r.exchange, sebi=r.sebi, stamp=r.stamp,
        ipft=r.ipft, gst=r.gst,
    )  # fmt: skip
    return Fill(
        fill_id=r.fill_id, client_id=r.client_id, strategy=r.strategy, tag=Tag(r.tag),
        contract=OptionContract.from_id(r.contract), side=Side(r.side), quantity=r.quantity,
        price=r.price, ts=from_db_time(r.ts), charges=charges, leg=r.leg,
        is_settlement=bool(r.is_settlement),
    )  # fmt: skip


def position_from_row(r: Row) -> PositionRecord:
    return PositionRecord(
        strategy=r.strategy, contract=OptionContract.from_id(r.contract), net_qty=r.net_qty,
        avg_price=r.avg_price, realized_pnl=r.realized_pnl, charges=r.charges,
        updated_ts=from_db_time(r.updated_ts),
    )  # fmt: skip


def journal_from_row(r: Row) -> JournalEntry:
    return JournalEntry(seq=r.seq, ts=from_db_time(r.ts), kind=r.kind, strategy=r.strategy,
                        payload=r.payload)  # fmt: skip

