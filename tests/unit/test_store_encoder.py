"""The store's row encoder: its inline fast path and its general, field-by-field path must
write identical rows, and anything invalid must be refused at the call, naming the field.

Each case builds a record twice: once with the exact types the fast path takes (enum members,
``int``, ``float``, the clock's IST/UTC zones) and once with equal values it hands to the
general path (NumPy scalars, enum values as plain strings, a ``zoneinfo`` zone). Both must
encode to the same row, so neither path can drift from the other.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from optrunner.core.orders import ChargeBreakdown, Fill, Order
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderState, OrderType, Product, Side, Tag
from optrunner.store.batch import PendingBatch
from optrunner.store.codec import postgres_time, sqlite_time
from optrunner.store.encoder import EncodedRow, RowEncoder
from store_cases import CE, PE, full_order

KOLKATA = ZoneInfo("Asia/Kolkata")  # the same offset as IST, but not the fixed-zone object


def _slow_twin(o: Order) -> Order:
    """``o`` with equal values of the types only the general path accepts."""
    return dataclasses.replace(
        o, quantity=np.int64(o.quantity), filled_qty=np.int32(o.filled_qty),
        avg_price=np.float64(o.avg_price), tag=o.tag.value, side=o.side.value,
        state=o.state.value, created_ts=o.created_ts.astimezone(KOLKATA),
        updated_ts=o.updated_ts.astimezone(KOLKATA),
    )  # fmt: skip


def _row(enc: RowEncoder, snapshot: tuple) -> tuple:
    [row] = enc.order_rows([snapshot])
    return tuple(row)


@pytest.mark.parametrize("time_encoder", [sqlite_time, postgres_time], ids=["sqlite", "postgres"])
@pytest.mark.parametrize(
    "order",
    [
        full_order(),
        Order("plain", "s", Tag.EXIT, CE, Side.SELL, 75, created_ts=datetime(2026, 1, 13, 4, tzinfo=UTC),
              updated_ts=datetime(2026, 1, 13, 4, 0, 1, tzinfo=UTC), reason="x"),
    ],
    ids=["every-field-set", "defaults"],
)  # fmt: skip
def test_fast_and_general_paths_write_the_same_order_and_transition_rows(order, time_encoder):
    enc = RowEncoder(time_encoder)
    fast_snapshot = enc.order_snapshot(order)
    slow_snapshot = enc.order_snapshot(_slow_twin(order))
    assert type(fast_snapshot) is not EncodedRow and type(slow_snapshot) is EncodedRow
    assert _row(enc, fast_snapshot) == _row(enc, slow_snapshot) == tuple(slow_snapshot)
    # the row holds plain types: enum values, int, float, and the dialect's time
    row = _row(enc, slow_snapshot)
    assert (type(row[5]), row[2], row[4], row[10]) == (int, order.tag.value, order.side.value, order.state.value)

    ts = datetime(2026, 1, 13, 9, 15, 2, 5, tzinfo=IST)
    snap, event = enc.transition(order, OrderState.ACCEPTED, order.state, ts, "r")
    slow_snap, slow_event = enc.transition(_slow_twin(order), "ACCEPTED", order.state.value, ts.astimezone(KOLKATA), "r")
    assert event == slow_event == enc.event(order, OrderState.ACCEPTED, order.state, ts, "r")
    assert _row(enc, snap) == _row(enc, slow_snap)
    assert event[3] == time_encoder(ts, "ts")


def test_fast_and_general_paths_write_the_same_fill_row():
    enc = RowEncoder(sqlite_time)
    fast = Fill("f-1", "o-1", "s", Tag.ENTRY, PE, Side.BUY, 75, 101.05, datetime(2026, 1, 13, 9, 15, tzinfo=IST),
                ChargeBreakdown(20.0, 7.58, 2.69, 0.01, 0.0, 0.04, 4.09), leg="PE")  # fmt: skip
    slow = dataclasses.replace(
        fast, quantity=np.int64(75), price=np.float64(101.05), tag="ENTRY", is_settlement=np.bool_(False),
        charges=dataclasses.replace(fast.charges, stt=np.float64(7.58)), ts=fast.ts.astimezone(KOLKATA),
    )  # fmt: skip
    row = enc.fill(fast)
    assert row == enc.fill(slow)
    assert row[:9] == ("f-1", "o-1", "s", "ENTRY", PE.id, "BUY", 75, 101.05, "2026-01-13 03:45:00.000000")
    assert row[9:] == (20.0, 7.58, 2.69, 0.01, 0.0, 0.04, 4.09, "PE", False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"limit_price": float("inf")}, r"order 'dnss-1-CE-0001': limit_price must be finite"),
        ({"filled_qty": 1.5}, r"filled_qty must be an integer"),
        ({"order_type": "MARKET-ISH"}, r"order_type='MARKET-ISH' is not one of"),
        ({"updated_ts": datetime(2026, 1, 13, 9, 15)}, r"updated_ts: naive datetime"),
        ({"broker_id": 42}, r"broker_id must be a string"),
    ],
)
def test_an_invalid_order_is_refused_when_recorded_naming_the_field(change, message):
    enc = RowEncoder(sqlite_time)
    bad = dataclasses.replace(full_order(), **change)
    with pytest.raises((TypeError, ValueError), match=message):
        enc.order_snapshot(bad)
    with pytest.raises((TypeError, ValueError), match=message):
        enc.transition(bad, None, bad.state, datetime(2026, 1, 13, 9, 15, tzinfo=IST), "r")


def test_a_transition_with_a_bad_reason_or_time_is_refused():
    enc = RowEncoder(sqlite_time)
    order = full_order()
    with pytest.raises(TypeError, match=r"transition of order 'dnss-1-CE-0001': reason must be a string"):
        enc.transition(order, None, order.state, datetime(2026, 1, 13, 9, 15, tzinfo=IST), None)
    with pytest.raises(ValueError, match=r"transition of order .*ts: naive datetime"):
        enc.transition(order, None, order.state, datetime(2026, 1, 13, 9, 15), "r")
    with pytest.raises(ValueError, match=r"from_state='GONE' is not one of"):
        enc.transition(order, "GONE", order.state, datetime(2026, 1, 13, 9, 15, tzinfo=IST), "r")


def test_time_encoding_is_per_instant_and_a_naive_time_is_refused_after_an_equal_one():
    enc = RowEncoder(sqlite_time)
    ist = datetime(2026, 1, 13, 9, 15, 0, 250_000, tzinfo=IST)
    assert enc.time(ist, "ts") == "2026-01-13 03:45:00.250000"
    assert enc.time(ist.astimezone(UTC), "ts") == "2026-01-13 03:45:00.250000"  # the same instant
    assert enc.time(ist.replace(tzinfo=UTC), "ts") == "2026-01-13 09:15:00.250000"  # another one
    with pytest.raises(ValueError, match="naive"):  # equal wall clock, cached aware: still refused
        enc.time(datetime(2026, 1, 13, 9, 15, 0, 250_000), "ts")


def test_a_batch_writes_each_order_once_with_its_latest_snapshot():
    enc, batch = RowEncoder(sqlite_time), PendingBatch()
    first, other = full_order("a"), full_order("b")
    for order in (first, other):
        batch.orders[order.client_id] = enc.order_snapshot(order)
    slow = _slow_twin(dataclasses.replace(first, state=OrderState.FILLED, order_type=OrderType.LIMIT,
                                          product=Product.NRML))  # fmt: skip
    batch.orders["a"] = enc.order_snapshot(slow)  # the general path's row replaces a snapshot
    [table] = [t for t in batch.tables(enc.order_rows) if t.name == "orders"]
    assert table.count == 2
    assert [(r[0], r[6], r[9], r[10]) for r in table.rows()] == [
        ("a", "LIMIT", "NRML", "FILLED"), ("b", "SL-M", "MIS", "PARTIALLY_FILLED"),
    ]  # fmt: skip
