"""What the store must do on every backend. A test module subclasses ``StoreContract`` and
provides a ``store_url`` fixture: the URL of an empty database (SQLite file, PostgreSQL
schema). Expected values are written out here, never read back from the code under test.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from optrunner.core.orders import ChargeBreakdown, Fill, Order
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderState, OrderType, Product, Right, Side, Tag
from optrunner.instruments.contracts import OptionContract
from optrunner.store import Store, StoreWriteError
from optrunner.store.schema import (
    FillRow,
    JournalRow,
    OrderEventRow,
    OrderRow,
    StrategyStateRow,
)

T0 = datetime(2026, 1, 13, 9, 15, 0, 250_000, tzinfo=IST)  # 03:45:00.25 UTC
CE = OptionContract("NIFTY", date(2026, 1, 13), 25000, Right.CE)
PE = OptionContract("BANKNIFTY", date(2026, 1, 27), 48550.5, Right.PE)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def full_order(client_id: str = "dnss-1-CE-0001") -> Order:
    """An order with every field away from its default."""
    return Order(
        client_id=client_id,
        strategy="dnss-nifty",
        tag=Tag.ADJUST_ENTRY,
        contract=PE,
        side=Side.BUY,
        quantity=1800,
        order_type=OrderType.SL_M,
        limit_price=101.05,
        trigger_price=100.55,
        product=Product.MIS,
        state=OrderState.PARTIALLY_FILLED,
        filled_qty=900,
        avg_price=100.95,
        broker_id="250113000123456",
        parent_id="dnss-1-CE-0000",
        basket_id="basket-7",
        leg="hedge-PE",
        created_ts=at(0),
        updated_ts=at(1.5).astimezone(UTC),
        reason="partial fill, slice 2 of 2",
    )


def plain_order(client_id: str, state: OrderState = OrderState.NEW) -> Order:
    """Defaults everywhere: None prices, ids and times, empty strings."""
    return Order(client_id, "short-strangle", Tag.ENTRY, CE, Side.SELL, 75, state=state)


def fill(fill_id: str, client_id: str, *, strategy: str = "dnss-nifty", seconds: float = 2.0) -> Fill:
    return Fill(
        fill_id=fill_id,
        client_id=client_id,
        strategy=strategy,
        tag=Tag.ENTRY,
        contract=CE,
        side=Side.SELL,
        quantity=75,
        price=101.05,
        ts=at(seconds),
        charges=ChargeBreakdown(20.0, 7.58, 2.69, 0.01, 0.0, 0.04, 4.09),
        leg="CE",
    )


def count(store: Store, model: type) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


class StoreContract:
    """Round trips, ordering, atomicity and validation; identical on both backends."""

    @pytest.fixture
    def store(self, store_url: str):
        store = Store(store_url, batch_size=10_000)
        store.create_schema()
        yield store
        store.close()

    @pytest.fixture
    def reader(self, store: Store, store_url: str):
        """A second, independent store (own engine and connections) on the same database."""
        reader = Store(store_url)
        yield reader
        reader.close()

    # -- round trips ----------------------------------------------------------------------

    def test_order_with_every_field_set_round_trips(self, store: Store):
        order = full_order()
        store.save_order(order)
        store.flush()
        [loaded] = store.load_orders()
        assert loaded == order
        assert loaded.order_type is OrderType.SL_M and loaded.contract.strike == 48550.5
        assert loaded.created_ts.tzinfo is UTC

    def test_order_with_defaults_and_nones_round_trips(self, store: Store):
        order = plain_order("plain-1")
        store.save_order(order)
        store.flush()
        [loaded] = store.load_orders()
        assert loaded == order
        assert (loaded.limit_price, loaded.broker_id, loaded.created_ts) == (None, None, None)

    def test_enums_are_stored_as_their_values(self, store: Store):
        store.save_order(full_order())
        store.flush()
        with store.engine.connect() as conn:
            row = conn.execute(text("SELECT order_type, state, tag FROM orders")).one()
        assert tuple(row) == ("SL-M", "PARTIALLY_FILLED", "ADJUST_ENTRY")

    def test_saving_an_order_again_updates_its_one_row(self, store: Store):
        order = plain_order("o-1")
        store.save_order(order)
        store.flush()
        order.state, order.broker_id, order.filled_qty = OrderState.FILLED, "B1", 75
        store.save_order(order)
        store.flush()
        assert store.load_orders() == [order]
        assert count(store, OrderRow) == 1

    def test_fill_with_charges_round_trips(self, store: Store):
        store.save_order(plain_order("o-1"))
        settlement = dataclasses.replace(fill("x-2", "o-1"), is_settlement=True, price=0.0)
        fills = [fill("x-1", "o-1"), settlement, fill("x-3", "o-9", strategy="other")]
        for f in fills:
            store.save_fill(f)
        store.flush()
        assert store.load_fills() == fills
        assert store.load_fills(strategy="other") == [fills[2]]
        assert store.load_fills()[0].charges.total == pytest.approx(34.41)

    def test_positions_upsert_per_strategy_and_contract(self, store: Store):
        store.save_position("a", CE, -75, 101.05, 0.0, 34.41, at(1))
        store.save_position("a", PE, 30, 55.5, 0.0, 10.0, at(1))
        store.save_position("b", CE, 150, 99.0, 0.0, 5.0, at(1))
        store.flush()
        store.save_position("a", CE, 0, 0.0, 1234.5, 70.2, at(60))
        store.flush()
        positions = {(p.strategy, p.contract): p for p in store.load_positions()}
        assert len(positions) == 3
        closed = positions[("a", CE)]
        assert (closed.net_qty, closed.realized_pnl, closed.charges) == (0, 1234.5, 70.2)
        assert closed.updated_ts == at(60)
        assert positions[("a", PE)].net_qty == 30

    def test_strategy_state_keeps_history_and_latest_wins(self, store: Store, store_url: str):
        assert [store.save_strategy_state("a", {"step": i}, at(i)) for i in (1, 2, 3)] == [1, 2, 3]
        store.save_strategy_state("b", {"legs": {"CE": None, "PE": [1, 2.5]}}, at(0))
        store.flush()
        assert store.latest_strategy_states() == {
            "a": {"step": 3},
            "b": {"legs": {"CE": None, "PE": [1, 2.5]}},
        }
        assert count(store, StrategyStateRow) == 4
        with Store(store_url) as restarted:  # a new process continues the version sequence
            assert restarted.save_strategy_state("a", {"step": 4}, at(4)) == 4
        assert store.latest_strategy_states()["a"] == {"step": 4}

    def test_journal_keeps_append_order_with_increasing_seq(self, store: Store):
        payloads = [{"i": i, "text": "ग्राहक ₹", "nested": {"xs": [i, None]}} for i in range(5)]
        for i, payload in enumerate(payloads):
            store.append("signal" if i % 2 else "tick", payload, at(10 - i), strategy="a" if i else None)
        store.flush()
        entries = store.journal()
        assert [e.payload for e in entries] == payloads  # append order, not time order
        seqs = [e.seq for e in entries]
        assert seqs == sorted(seqs) and len(set(seqs)) == 5
        assert [(e.kind, e.strategy) for e in entries[:2]] == [("tick", None), ("signal", "a")]
        assert store.journal(since_seq=seqs[2]) == entries[3:]

    def test_times_round_trip_as_the_same_instant_in_utc(self, store: Store):
        store.append("tz", {}, T0)  # IST in
        store.flush()
        [entry] = store.journal()
        assert entry.ts == T0 and entry.ts.tzinfo is UTC
        assert entry.ts.replace(tzinfo=None) == datetime(2026, 1, 13, 3, 45, 0, 250_000)
        with store.engine.connect() as conn:  # what the column holds, before the repository edge
            raw = conn.execute(select(JournalRow.ts)).scalar_one()
        wall = raw if raw.tzinfo is None else raw.astimezone(UTC).replace(tzinfo=None)
        assert wall == datetime(2026, 1, 13, 3, 45, 0, 250_000)

    # -- transitions ----------------------------------------------------------------------

    def test_transitions_are_listed_in_the_order_recorded(self, store: Store):
        a, b = plain_order("a"), plain_order("b")
        steps = [
            (a, None, OrderState.NEW), (b, None, OrderState.NEW),
            (a, OrderState.NEW, OrderState.SUBMITTED), (b, OrderState.NEW, OrderState.REJECTED),
            (a, OrderState.SUBMITTED, OrderState.ACCEPTED),
            (a, OrderState.ACCEPTED, OrderState.FILLED),
        ]  # fmt: skip
        for i, (order, before, after) in enumerate(steps):
            order.state = after
            order.filled_qty = 75 if after is OrderState.FILLED else 0
            store.record_transition(order, before, after, at(i), reason=f"step {i}")
        store.flush()
        events = store.load_order_events()
        assert [(e.client_id, e.from_state, e.to_state) for e in events] == [
            (o.client_id, before, after) for o, before, after in steps
        ]
        assert [e.seq for e in events] == sorted(e.seq for e in events)
        only_a = store.load_order_events("a")
        assert [e.reason for e in only_a] == ["step 0", "step 2", "step 4", "step 5"]
        assert (only_a[-1].filled_qty, only_a[-1].ts) == (75, at(5))
        assert {o.client_id: o.state for o in store.load_orders()} == {
            "a": OrderState.FILLED, "b": OrderState.REJECTED,
        }  # fmt: skip

    def test_open_only_loads_orders_not_in_a_terminal_state(self, store: Store):
        for state in OrderState:
            store.save_order(plain_order(f"o-{state.value}", state))
        store.flush()
        open_states = {o.state for o in store.load_orders(open_only=True)}
        assert open_states == {
            OrderState.NEW, OrderState.SUBMITTED, OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED,
        }  # fmt: skip
        assert len(store.load_orders()) == len(OrderState)

    def test_a_transition_must_already_be_applied_to_the_order(self, store: Store):
        order = plain_order("o-1")  # still NEW
        with pytest.raises(ValueError, match="apply the transition"):
            store.record_transition(order, OrderState.NEW, OrderState.SUBMITTED, at(0))
        assert store.pending == 0

    def test_foreign_key_refuses_an_event_for_an_unknown_order(self, store: Store):
        row = {"client_id": "ghost", "from_state": None, "to_state": OrderState.NEW,
               "ts": at(0), "reason": "", "filled_qty": 0, "avg_price": 0.0}  # fmt: skip
        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            conn.execute(insert(OrderEventRow), row)
        assert count(store, OrderEventRow) == 0

    # -- batching and durability -----------------------------------------------------------

    def test_pending_records_are_invisible_until_flushed(self, store: Store, reader: Store):
        store.append("a", {}, at(0))
        store.save_order(plain_order("o-1"))
        assert store.pending == 2
        assert (reader.journal(), reader.load_orders()) == ([], [])
        assert store.flush() == 2
        assert store.pending == 0
        assert len(reader.journal()) == 1 and len(reader.load_orders()) == 1

    def test_the_call_reaching_batch_size_flushes(self, store_url: str, reader: Store):
        with Store(store_url, batch_size=3) as store:
            store.create_schema()
            store.append("a", {}, at(0))
            store.append("b", {}, at(1))
            assert reader.journal() == []
            store.append("c", {}, at(2))
            assert store.pending == 0
            assert [e.kind for e in reader.journal()] == ["a", "b", "c"]

    def test_close_flushes(self, store_url: str, reader: Store):
        store = Store(store_url)
        store.create_schema()
        store.append("last words", {}, at(0))
        store.close()
        assert [e.kind for e in reader.journal()] == ["last words"]

    def test_a_large_batch_round_trips(self, store: Store):
        """Hundreds of rows per table (PostgreSQL takes its COPY path here)."""
        orders = []
        for i in range(300):
            order = plain_order(f"bulk-{i:03d}")
            for before, after in ((None, OrderState.NEW), (OrderState.NEW, OrderState.FILLED)):
                order.state, order.updated_ts = after, at(i)
                store.record_transition(order, before, after, at(i))
            store.save_fill(fill(f"bf-{i:03d}", order.client_id, seconds=i))
            store.append("filled", {"i": i}, at(i))
            orders.append(order)
        store.flush()
        assert store.load_orders() == orders
        assert count(store, OrderEventRow) == 600
        assert [f.fill_id for f in store.load_fills()] == [f"bf-{i:03d}" for i in range(300)]
        assert [e.payload["i"] for e in store.journal()] == list(range(300))

    def test_a_failing_flush_writes_nothing_and_keeps_the_batch(self, store: Store, store_url: str):
        store.save_fill(fill("dup", "o-1"))
        store.flush()
        writer = Store(store_url)
        writer.append("before the duplicate", {}, at(0))
        writer.save_order(plain_order("o-2"))
        writer.save_fill(fill("dup", "o-1"))  # the same execution id again, in a new batch
        with pytest.raises(StoreWriteError, match="fills"):
            writer.flush()
        assert writer.pending == 3
        assert count(store, JournalRow) == 0 and count(store, OrderRow) == 0
        assert count(store, FillRow) == 1
        with pytest.raises(StoreWriteError):  # still pending, so close tries again and says so
            writer.close()

    # -- validation at the call ------------------------------------------------------------

    def test_naive_time_is_refused_at_the_call(self, store: Store):
        naive = datetime(2026, 1, 13, 9, 15)
        with pytest.raises(ValueError, match=r"order 'o-1'.*created_ts.*naive"):
            store.save_order(dataclasses.replace(plain_order("o-1"), created_ts=naive))
        with pytest.raises(ValueError, match=r"fill 'f-1'.*naive"):
            store.save_fill(dataclasses.replace(fill("f-1", "o-1"), ts=naive))
        with pytest.raises(ValueError, match="naive"):
            store.append("x", {}, naive)
        assert store.pending == 0

    def test_bad_enum_value_is_refused_naming_the_field(self, store: Store):
        order = dataclasses.replace(plain_order("o-1"), state="DONE")
        with pytest.raises(ValueError, match=r"order 'o-1'.*state='DONE'"):
            store.save_order(order)
        assert store.pending == 0

    def test_numpy_numbers_are_stored_as_plain_numbers(self, store: Store):
        """sqlite3 would bind a numpy.int64 as an 8-byte BLOB; it must come back as 75."""
        order = dataclasses.replace(
            plain_order("np-1"), quantity=np.int64(75), limit_price=np.float64(101.05),
            filled_qty=np.int32(0),
        )  # fmt: skip
        store.save_order(order)
        store.save_position("a", CE, np.int64(-75), np.float32(2.5), 0.0, 0.0, at(0))
        store.flush()
        [loaded] = store.load_orders()
        assert (loaded.quantity, loaded.limit_price, loaded.filled_qty) == (75, 101.05, 0)
        assert type(loaded.quantity) is int and type(loaded.limit_price) is float
        [position] = store.load_positions()
        assert (position.net_qty, position.avg_price) == (-75, 2.5)

    def test_non_finite_or_non_numeric_amounts_are_refused(self, store: Store):
        with pytest.raises(ValueError, match=r"order 'o-1'.*limit_price must be finite"):
            store.save_order(dataclasses.replace(plain_order("o-1"), limit_price=float("nan")))
        with pytest.raises(ValueError, match=r"fill 'f-1'.*price must be finite"):
            store.save_fill(dataclasses.replace(fill("f-1", "o-1"), price=float("inf")))
        with pytest.raises(TypeError, match=r"order 'o-1'.*quantity must be an integer"):
            store.save_order(dataclasses.replace(plain_order("o-1"), quantity=75.0))
        with pytest.raises(TypeError, match=r"order 'o-1'.*reason must be a string"):
            store.save_order(dataclasses.replace(plain_order("o-1"), reason=None))
        assert store.pending == 0

    def test_payload_that_is_not_strict_json_is_refused(self, store: Store):
        with pytest.raises(ValueError, match=r"payload.*JSON"):
            store.append("x", {"pnl": float("nan")}, at(0))
        with pytest.raises(ValueError, match=r"payload.*JSON"):
            store.append("x", {"legs": {"CE", "PE"}}, at(0))
        with pytest.raises(TypeError, match="expected a dict"):
            store.save_strategy_state("a", ["not", "a", "dict"], at(0))
        assert store.pending == 0

    def test_the_same_fill_twice_in_one_batch_is_refused(self, store: Store):
        store.save_fill(fill("f-1", "o-1"))
        with pytest.raises(ValueError, match="already saved"):
            store.save_fill(fill("f-1", "o-1"))
        assert store.pending == 1

    # -- strategy configurations -----------------------------------------------------------

    def test_strategy_configuration_crud(self, store: Store, reader: Store):
        created = store.upsert_strategy_configuration(
            "momentum-1", "momentum", [256265, "NIFTY:20260113:25000:CE"], {"lookback": 20},
            zerodha_trading_enabled=True, ts=at(0),
        )  # fmt: skip
        store.upsert_strategy_configuration("demo", "low_frequency_demo", [1], {}, is_active=False, ts=at(0))
        assert reader.strategy_configuration("momentum-1") == created  # committed on return
        assert created.zerodha_trading_enabled and created.use_composition and created.is_active
        assert [c.id for c in reader.active_strategy_configurations()] == ["momentum-1"]

        updated = store.upsert_strategy_configuration(
            "momentum-1", "momentum", [256265], {"lookback": 30}, zerodha_trading_enabled=False,
            ts=at(3600),
        )  # fmt: skip
        assert (updated.created_at, updated.updated_at) == (at(0), at(3600))
        assert reader.strategy_configuration("momentum-1") == updated
        assert updated.parameters == {"lookback": 30} and not updated.zerodha_trading_enabled

        assert store.delete_strategy_configuration("demo") is True
        assert store.delete_strategy_configuration("demo") is False
        assert reader.strategy_configuration("demo") is None

    def test_strategy_configuration_validation(self, store: Store):
        with pytest.raises(TypeError, match="instruments"):
            store.upsert_strategy_configuration("x", "momentum", 256265, {})
        with pytest.raises(TypeError, match="is_active"):
            store.upsert_strategy_configuration("x", "momentum", [], {}, is_active="yes")
        with pytest.raises(ValueError, match="strategy_type"):
            store.upsert_strategy_configuration("x", " ", [], {})
        assert store.active_strategy_configurations() == []
