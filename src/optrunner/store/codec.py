"""The repository edge: core records <-> row tuples, with times normalised to UTC.

A record is captured and checked at the moment it is handed to the store (an order as a
snapshot of its fields, since :class:`Order` is mutable), so bad input raises at that call,
never later inside a flush. Rows are plain tuples the DBAPI driver binds as they are; that
bypasses SQLAlchemy's per-row type processing on the write hot path, so this module owns
the on-disk formats:

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
_FIXED_ZONES = frozenset({UTC, IST})


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
    if type(ts) is datetime and ts.tzinfo in _FIXED_ZONES:
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
    if type(ts) is datetime and ts.tzinfo in _FIXED_ZONES:
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


def _values(enum_cls: type[StrEnum]) -> dict[str, str]:
    return {m: m.value for m in enum_cls}


_TAG, _SIDE, _TYPE, _PRODUCT, _STATE = map(_values, (Tag, Side, OrderType, Product, OrderState))


def _value(values: dict[str, str], value: object, field: str) -> str:
    """The stored text of an enum member (or of a string equal to a member's value)."""
    try:
        return values[value]  # type: ignore[index]
    except (KeyError, TypeError):
        raise ValueError(f"{field}={value!r} is not one of {sorted(values.values())}") from None


def _int(value: object, field: str) -> int:
    """An exact integer; NumPy integers are converted (sqlite3 would store them as BLOBs)."""
    if type(value) is int:
        return value
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{field} must be an integer, got {type(value).__name__} {value!r}") from None


def _real(value: object, field: str) -> float:
    """A finite float: SQLite would store NaN as NULL, and no price or amount is infinite."""
    if type(value) is not float:
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise TypeError(f"{field} must be a number, got {type(value).__name__} {value!r}")
        value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{field} must be finite, got {value!r}")
    return value


def _opt_real(value: object, field: str) -> float | None:
    return None if value is None else _real(value, field)


def _text(value: object, field: str) -> str:
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str(value)
    raise TypeError(f"{field} must be a string, got {type(value).__name__} {value!r}")


def _opt_text(value: object, field: str) -> str | None:
    return None if value is None else _text(value, field)


class RowEncoder:
    """Builds insert tuples (column orders above) for one SQL dialect's time format.

    Hot path: enum values come from dicts and contract ids from a small cache, because
    ``Enum(x).value`` and formatting a contract id cost more than the database insert.
    """

    _MAX_CACHED = 4096

    def __init__(self, time: TimeEncoder) -> None:
        self._time = time
        self._ids: dict[OptionContract, str] = {}

    def order_snapshot(self, o: Order) -> tuple[Any, ...]:
        """The order's fields as they are now, checked so that :meth:`order_row` cannot fail.

        An order is upserted once per flush, with its latest snapshot: encoding it once per
        batch instead of once per transition saves a third of the hot path's CPU. The
        common case (exact types, a UTC or IST time) is checked inline; anything else gets
        the full conversion now, which raises naming the field.
        """
        snap = (
            o.client_id, o.strategy, o.tag, o.contract, o.side, o.quantity, o.order_type,
            o.limit_price, o.trigger_price, o.product, o.state, o.filled_qty, o.avg_price,
            o.broker_id, o.parent_id, o.basket_id, o.leg, o.created_ts, o.updated_ts, o.reason,
        )  # fmt: skip
        lp, tp, ap = o.limit_price, o.trigger_price, o.avg_price  # x - x == 0.0: finite float
        try:
            usual = (
                o.tag in _TAG and o.side in _SIDE and o.order_type in _TYPE
                and o.product in _PRODUCT and o.state in _STATE
                and type(o.contract) is OptionContract and type(o.client_id) is str
                and type(o.strategy) is str and type(o.leg) is str and type(o.reason) is str
                and type(o.quantity) is int and type(o.filled_qty) is int
                and type(ap) is float and ap - ap == 0.0
                and (lp is None or (type(lp) is float and lp - lp == 0.0))
                and (tp is None or (type(tp) is float and tp - tp == 0.0))
                and (o.broker_id is None or type(o.broker_id) is str)
                and (o.parent_id is None or type(o.parent_id) is str)
                and (o.basket_id is None or type(o.basket_id) is str)
            )  # fmt: skip
        except TypeError:  # an unhashable value where an enum belongs
            usual = False
        for ts in (o.created_ts, o.updated_ts):
            if not (ts is None or (type(ts) is datetime and ts.tzinfo in _FIXED_ZONES)):
                usual = False
        if not usual:
            self.order_row(snap)
        return snap

    def order_row(self, snap: tuple[Any, ...]) -> tuple[Any, ...]:
        """Insert values from an :meth:`order_snapshot` (same field order as ORDER_COLUMNS)."""
        (client_id, strategy, tag, contract, side, quantity, order_type, limit_price,
         trigger_price, product, state, filled_qty, avg_price, broker_id, parent_id, basket_id,
         leg, created_ts, updated_ts, reason) = snap  # fmt: skip
        t = self._time
        try:
            return (
                _text(client_id, "client_id"), _text(strategy, "strategy"),
                _value(_TAG, tag, "tag"), self.contract_id(contract),
                _value(_SIDE, side, "side"), _int(quantity, "quantity"),
                _value(_TYPE, order_type, "order_type"), _opt_real(limit_price, "limit_price"),
                _opt_real(trigger_price, "trigger_price"), _value(_PRODUCT, product, "product"),
                _value(_STATE, state, "state"), _int(filled_qty, "filled_qty"),
                _real(avg_price, "avg_price"), _opt_text(broker_id, "broker_id"),
                _opt_text(parent_id, "parent_id"), _opt_text(basket_id, "basket_id"),
                _text(leg, "leg"),
                None if created_ts is None else t(created_ts, "created_ts"),
                None if updated_ts is None else t(updated_ts, "updated_ts"),
                _text(reason, "reason"),
            )  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"order {client_id!r}: {exc}") from exc

    def contract_id(self, contract: OptionContract) -> str:
        """The canonical id, cached: formatting it costs more than inserting the row."""
        try:
            return self._ids[contract]
        except (KeyError, TypeError):
            if not isinstance(contract, OptionContract):
                raise TypeError(f"contract must be an OptionContract, got {contract!r}") from None
        if len(self._ids) >= self._MAX_CACHED:
            self._ids.clear()
        cid = self._ids[contract] = contract.id
        return cid

    def event(
        self, o: Order, from_state: OrderState | None, to_state: OrderState, ts: datetime,
        reason: str,
    ) -> tuple[Any, ...]:  # fmt: skip
        try:
            return (
                _text(o.client_id, "client_id"),
                None if from_state is None else _value(_STATE, from_state, "from_state"),
                _value(_STATE, to_state, "to_state"), self._time(ts, "ts"),
                _text(reason, "reason"), _int(o.filled_qty, "filled_qty"),
                _real(o.avg_price, "avg_price"),
            )  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"transition of order {o.client_id!r}: {exc}") from exc

    def fill(self, f: Fill) -> tuple[Any, ...]:
        try:
            c = f.charges
            return (
                _text(f.fill_id, "fill_id"), _text(f.client_id, "client_id"),
                _text(f.strategy, "strategy"), _value(_TAG, f.tag, "tag"),
                self.contract_id(f.contract), _value(_SIDE, f.side, "side"),
                _int(f.quantity, "quantity"), _real(f.price, "price"), self._time(f.ts, "ts"),
                _real(c.brokerage, "brokerage"), _real(c.stt, "stt"),
                _real(c.exchange, "exchange"), _real(c.sebi, "sebi"), _real(c.stamp, "stamp"),
                _real(c.ipft, "ipft"), _real(c.gst, "gst"), _text(f.leg, "leg"),
                bool(f.is_settlement),
            )  # fmt: skip
        except (TypeError, ValueError, AttributeError) as exc:
            raise type(exc)(f"fill {f.fill_id!r}: {exc}") from exc

    def position(
        self, strategy: str, contract: OptionContract, net_qty: int, avg_price: float,
        realized_pnl: float, charges: float, ts: datetime,
    ) -> tuple[Any, ...]:  # fmt: skip
        try:
            return (
                _text(strategy, "strategy"), self.contract_id(contract), _int(net_qty, "net_qty"),
                _real(avg_price, "avg_price"), _real(realized_pnl, "realized_pnl"),
                _real(charges, "charges"), self._time(ts, "ts"),
            )  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"position of {strategy!r} in {contract!r}: {exc}") from exc

    def state(self, strategy: str, version: int, state: dict, ts: datetime) -> tuple[Any, ...]:
        try:
            return (_text(strategy, "strategy"), version, self._time(ts, "ts"),
                    json_text(state, "state"))  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"state of strategy {strategy!r}: {exc}") from exc

    def journal(self, kind: str, payload: dict, ts: datetime, strategy: str | None) -> tuple:
        try:
            return (self._time(ts, "ts"), _text(kind, "kind"), _opt_text(strategy, "strategy"),
                    json_text(payload, "payload"))  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"journal entry {kind!r}: {exc}") from exc


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

