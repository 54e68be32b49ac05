"""Order snapshots and the order manager's per-order records."""

from __future__ import annotations

import dataclasses

from optrunner.core.types import OrderState
from optrunner.execution.policy import ExecutionPolicy
from optrunner.execution.records import OrderRecord, copy_order, record_from_dict, record_to_dict
from store_cases import full_order


def test_copy_order_is_an_equal_independent_snapshot_of_every_field():
    order = full_order()
    snap = copy_order(order)
    assert snap == order and snap is not order and type(snap) is type(order)
    assert all(getattr(snap, f.name) is getattr(order, f.name) for f in dataclasses.fields(order))
    order.state, order.filled_qty, order.reason = OrderState.FILLED, 1800, "done"
    assert (snap.state, snap.filled_qty, snap.reason) == (OrderState.PARTIALLY_FILLED, 900, "partial fill, slice 2 of 2")


def test_a_record_with_its_applied_executions_survives_a_round_trip():
    rec = OrderRecord(full_order(), ExecutionPolicy(), True, exec_ids=("E2", "E1"))
    again = record_from_dict(record_to_dict(rec))
    assert again == dataclasses.replace(rec, exec_ids=("E1", "E2"))  # stored sorted
    assert "E1" in again.exec_ids and "E3" not in again.exec_ids
