"""Records -> insert tuples (column orders in :mod:`optrunner.store.codec`), checked at the call.

Hot path of the write-ahead journal: the order manager hands the store four transitions
and a fill per order, and each one is checked and encoded here before the call returns.
Measured on the journal benchmarks, the general per-field checks (one function call per
field) cost more than SQLite's own insert, so every record has two paths:

* a fast path for the usual record (exact ``str`` / ``int`` / finite ``float`` values, enum
  members, an :class:`OptionContract`, times in the clock's zones), checked with inline
  type tests and encoded without further calls;
* the general path for anything else (NumPy scalars, strings equal to an enum's value,
  other time zones, bad input), which converts each field or raises naming it.

Orders are upserted once per flush with their latest state, so a transition keeps the
order as a *snapshot* (a tuple of its fields, taken at the call: :class:`Order` is mutable)
and :meth:`RowEncoder.order_rows` encodes only the snapshots that survive to the flush.
A snapshot the fast check refuses is encoded at once (or refused) and kept as an
:class:`EncodedRow`, so a flush can never fail on encoding.

The last time encoded is remembered: the clock hands out the same ``datetime`` object for
every record of a kernel step (a simulated clock for a whole snapshot), and encoding one
costs as much as binding a whole row. (A dict of recent times cost more than it saved when
every record has its own time, as with a wall clock.)
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator
from dataclasses import fields
from datetime import datetime
from typing import Any

from optrunner.core.orders import Fill, Order
from optrunner.core.types import OrderState
from optrunner.instruments.contracts import OptionContract
from optrunner.store.codec import (
    FIXED_ZONES,
    ORDER_COLUMNS,
    PRODUCT_VALUES,
    SIDE_VALUES,
    STATE_VALUES,
    TAG_VALUES,
    TYPE_VALUES,
    TimeEncoder,
    enum_value,
    exact_int,
    exact_text,
    finite_real,
    json_text,
    opt_real,
    opt_text,
)

if tuple(f.name for f in fields(Order)) != ORDER_COLUMNS:  # snapshots are read in column order
    raise RuntimeError("the orders columns must be Order's fields, in order")
_ORDER_FIELDS = operator.attrgetter(*ORDER_COLUMNS)

Snapshot = tuple[Any, ...]


class EncodedRow(tuple):  # type: ignore[type-arg]
    """An order row already converted by the general path (kept in place of a snapshot)."""

    __slots__ = ()


def _usual_order(snap: Snapshot) -> bool:
    """True when every field of an order snapshot has its exact, valid type (see the module)."""
    (client_id, strategy, tag, contract, side, quantity, order_type, limit_price, trigger_price,
     product, state, filled_qty, avg_price, broker_id, parent_id, basket_id, leg, created_ts,
     updated_ts, reason) = snap  # fmt: skip
    try:
        return (
            tag in TAG_VALUES and side in SIDE_VALUES and order_type in TYPE_VALUES
            and product in PRODUCT_VALUES and state in STATE_VALUES
            and type(contract) is OptionContract and type(client_id) is str
            and type(strategy) is str and type(leg) is str and type(reason) is str
            and type(quantity) is int and type(filled_qty) is int
            and type(avg_price) is float and avg_price - avg_price == 0.0  # finite
            and (limit_price is None or (type(limit_price) is float and limit_price - limit_price == 0.0))
            and (trigger_price is None or (type(trigger_price) is float and trigger_price - trigger_price == 0.0))
            and (broker_id is None or type(broker_id) is str)
            and (parent_id is None or type(parent_id) is str)
            and (basket_id is None or type(basket_id) is str)
            and (created_ts is None or (type(created_ts) is datetime and created_ts.tzinfo in FIXED_ZONES))
            and (updated_ts is None or (type(updated_ts) is datetime and updated_ts.tzinfo in FIXED_ZONES))
        )  # fmt: skip
    except TypeError:  # an unhashable value where an enum belongs
        return False


class RowEncoder:
    """Builds insert tuples for one SQL dialect's time format (see the module docstring)."""

    _MAX_CACHED = 4096

    def __init__(self, time: TimeEncoder) -> None:
        self._encode_time = time
        self._ids: dict[OptionContract, str] = {}
        self._last_time: object = None  # the last datetime encoded, and its encoding
        self._last_encoded: Any = None

    # -- fields ------------------------------------------------------------------------------

    def time(self, ts: datetime, what: str) -> Any:
        """``ts`` as the dialect stores it (the same object as last time: the same encoding)."""
        if ts is self._last_time:
            return self._last_encoded
        encoded = self._encode_time(ts, what)
        self._last_time, self._last_encoded = ts, encoded
        return encoded

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

    # -- orders and their transitions -----------------------------------------------------------

    def order_snapshot(self, o: Order) -> Snapshot:
        """The order's fields as they are now, checked, so that :meth:`order_rows` cannot fail."""
        snap = _ORDER_FIELDS(o)
        return snap if _usual_order(snap) else EncodedRow(self.order_row(snap))

    def transition(
        self, o: Order, from_state: OrderState | None, to_state: OrderState, ts: datetime, reason: str
    ) -> tuple[Snapshot, tuple[Any, ...]]:
        """(order snapshot, ``order_events`` row) of one transition, both checked."""
        snap = _ORDER_FIELDS(o)
        if _usual_order(snap) and type(reason) is str:
            try:  # the snapshot vouches for client_id, filled_qty and avg_price
                frm = None if from_state is None else STATE_VALUES[from_state]
                at = self._last_encoded if ts is self._last_time else self.time(ts, "ts")
                return snap, (snap[0], frm, STATE_VALUES[to_state], at, reason, snap[11], snap[12])
            except (KeyError, TypeError, ValueError):
                pass  # the general path below names the bad field
        event = self.event(o, from_state, to_state, ts, reason)
        return EncodedRow(self.order_row(snap)), event

    def order_rows(self, snapshots: Iterable[Snapshot]) -> Iterator[tuple[Any, ...]]:
        """Insert values of checked snapshots (an :class:`EncodedRow` is one already). The
        fast path needs no further checks; rows are made one at a time, as the driver reads them."""
        tags, sides, types, products, states = TAG_VALUES, SIDE_VALUES, TYPE_VALUES, PRODUCT_VALUES, STATE_VALUES
        ids, time = self._ids, self.time
        for snap in snapshots:
            if type(snap) is EncodedRow:
                yield snap
                continue
            (client_id, strategy, tag, contract, side, quantity, order_type, limit_price,
             trigger_price, product, state, filled_qty, avg_price, broker_id, parent_id, basket_id,
             leg, created_ts, updated_ts, reason) = snap  # fmt: skip
            yield (
                client_id, strategy, tags[tag], ids.get(contract) or self.contract_id(contract),
                sides[side], quantity, types[order_type], limit_price, trigger_price,
                products[product], states[state], filled_qty, avg_price, broker_id, parent_id,
                basket_id, leg, None if created_ts is None else time(created_ts, "created_ts"),
                None if updated_ts is None else time(updated_ts, "updated_ts"), reason,
            )  # fmt: skip

    def order_row(self, snap: Snapshot) -> tuple[Any, ...]:
        """Insert values of any snapshot, converting each field or raising naming it."""
        (client_id, strategy, tag, contract, side, quantity, order_type, limit_price,
         trigger_price, product, state, filled_qty, avg_price, broker_id, parent_id, basket_id,
         leg, created_ts, updated_ts, reason) = snap  # fmt: skip
        try:
            return (
                exact_text(client_id, "client_id"), exact_text(strategy, "strategy"),
                enum_value(TAG_VALUES, tag, "tag"), self.contract_id(contract),
                enum_value(SIDE_VALUES, side, "side"), exact_int(quantity, "quantity"),
                enum_value(TYPE_VALUES, order_type, "order_type"), opt_real(limit_price, "limit_price"),
                opt_real(trigger_price, "trigger_price"), enum_value(PRODUCT_VALUES, product, "product"),
                enum_value(STATE_VALUES, state, "state"), exact_int(filled_qty, "filled_qty"),
                finite_real(avg_price, "avg_price"), opt_text(broker_id, "broker_id"),
                opt_text(parent_id, "parent_id"), opt_text(basket_id, "basket_id"),
                exact_text(leg, "leg"),
                None if created_ts is None else self.time(created_ts, "created_ts"),
                None if updated_ts is None else self.time(updated_ts, "updated_ts"),
                exact_text(reason, "reason"),
            )  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"order {client_id!r}: {exc}") from exc

    def event(
        self, o: Order, from_state: OrderState | None, to_state: OrderState, ts: datetime,
        reason: str,
    ) -> tuple[Any, ...]:  # fmt: skip
        try:
            return (
                exact_text(o.client_id, "client_id"),
                None if from_state is None else enum_value(STATE_VALUES, from_state, "from_state"),
                enum_value(STATE_VALUES, to_state, "to_state"), self.time(ts, "ts"),
                exact_text(reason, "reason"), exact_int(o.filled_qty, "filled_qty"),
                finite_real(o.avg_price, "avg_price"),
            )  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"transition of order {o.client_id!r}: {exc}") from exc

    # -- the other tables ----------------------------------------------------------------------

    def fill(self, f: Fill) -> tuple[Any, ...]:
        c = f.charges
        try:
            price, br, stt, ex, sebi, stamp, ipft, gst = (
                f.price, c.brokerage, c.stt, c.exchange, c.sebi, c.stamp, c.ipft, c.gst,
            )  # fmt: skip
            total = price + br + stt + ex + sebi + stamp + ipft + gst  # finite iff every term is
            if (
                type(f.fill_id) is str and type(f.client_id) is str and type(f.strategy) is str
                and type(f.leg) is str and type(f.quantity) is int and type(f.contract) is OptionContract
                and type(price) is float and type(br) is float and type(stt) is float
                and type(ex) is float and type(sebi) is float and type(stamp) is float
                and type(ipft) is float and type(gst) is float and total - total == 0.0
                and type(f.is_settlement) is bool
                and type(f.ts) is datetime and f.ts.tzinfo in FIXED_ZONES
            ):  # fmt: skip
                return (
                    f.fill_id, f.client_id, f.strategy, TAG_VALUES[f.tag],
                    self._ids.get(f.contract) or self.contract_id(f.contract), SIDE_VALUES[f.side],
                    f.quantity, price, self.time(f.ts, "ts"), br, stt, ex, sebi, stamp, ipft, gst,
                    f.leg, f.is_settlement,
                )  # fmt: skip
        except (TypeError, KeyError, AttributeError):
            pass  # the general path below names the bad field
        try:
            return (
                exact_text(f.fill_id, "fill_id"), exact_text(f.client_id, "client_id"),
                exact_text(f.strategy, "strategy"), enum_value(TAG_VALUES, f.tag, "tag"),
                self.contract_id(f.contract), enum_value(SIDE_VALUES, f.side, "side"),
                exact_int(f.quantity, "quantity"), finite_real(f.price, "price"), self.time(f.ts, "ts"),
                finite_real(c.brokerage, "brokerage"), finite_real(c.stt, "stt"),
                finite_real(c.exchange, "exchange"), finite_real(c.sebi, "sebi"),
                finite_real(c.stamp, "stamp"), finite_real(c.ipft, "ipft"), finite_real(c.gst, "gst"),
                exact_text(f.leg, "leg"), bool(f.is_settlement),
            )  # fmt: skip
        except (TypeError, ValueError, AttributeError) as exc:
            raise type(exc)(f"fill {f.fill_id!r}: {exc}") from exc

    def position(
        self, strategy: str, contract: OptionContract, net_qty: int, avg_price: float,
        realized_pnl: float, charges: float, ts: datetime,
    ) -> tuple[Any, ...]:  # fmt: skip
        try:
            return (
                exact_text(strategy, "strategy"), self.contract_id(contract), exact_int(net_qty, "net_qty"),
                finite_real(avg_price, "avg_price"), finite_real(realized_pnl, "realized_pnl"),
                finite_real(charges, "charges"), self.time(ts, "ts"),
            )  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"position of {strategy!r} in {contract!r}: {exc}") from exc

    def state(self, strategy: str, version: int, state: dict, ts: datetime) -> tuple[Any, ...]:
        try:
            return (exact_text(strategy, "strategy"), version, self.time(ts, "ts"),
                    json_text(state, "state"))  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"state of strategy {strategy!r}: {exc}") from exc

    def journal(self, kind: str, payload: dict, ts: datetime, strategy: str | None) -> tuple:
        try:
            return (self.time(ts, "ts"), exact_text(kind, "kind"), opt_text(strategy, "strategy"),
                    json_text(payload, "payload"))  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"journal entry {kind!r}: {exc}") from exc
