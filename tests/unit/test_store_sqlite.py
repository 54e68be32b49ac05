"""The store on SQLite: the shared contract plus what only SQLite needs (pragmas, URLs)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event, inspect, text

from optrunner.store import Store
from optrunner.store.batch import COLUMNS
from optrunner.store.schema import metadata
from store_cases import T0, StoreContract, plain_order


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store_url(self, tmp_path) -> str:
        return f"sqlite:///{tmp_path / 'store.sqlite'}"


def test_every_connection_has_foreign_keys_wal_and_busy_timeout(tmp_path):
    with Store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        store.create_schema()
        connections = [store.engine.connect() for _ in range(3)]  # distinct pooled connections
        try:
            for conn in connections:
                pragmas = {p: conn.execute(text(f"PRAGMA {p}")).scalar_one()
                           for p in ("foreign_keys", "journal_mode", "synchronous", "busy_timeout")}  # fmt: skip
                assert pragmas == {"foreign_keys": 1, "journal_mode": "wal", "synchronous": 1,
                                   "busy_timeout": 5000}  # fmt: skip
        finally:
            for conn in connections:
                conn.close()


def test_unflushed_records_are_invisible_to_a_plain_sqlite3_connection(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(f"sqlite:///{path}", batch_size=100) as store:
        store.create_schema()
        outside = sqlite3.connect(path)  # no SQLAlchemy, no shared pool
        for i in range(99):
            store.append("tick", {"i": i}, T0)
        assert outside.execute("SELECT count(*) FROM journal").fetchone() == (0,)
        store.append("tick", {"i": 99}, T0)  # the 100th call commits the batch
        assert outside.execute("SELECT count(*) FROM journal").fetchone() == (100,)
        outside.close()


def test_in_memory_store_round_trips():
    with Store("sqlite://") as store:
        store.create_schema()
        order = plain_order("mem-1")
        store.save_order(order)
        assert store.load_orders() == [order]  # loaders flush first


@pytest.mark.parametrize(
    "url, message",
    [
        ("mysql://u@h/db", "use sqlite:///"),
        ("postgresql+psycopg2://u@h/db", "use sqlite:///"),
        ("not a url", "not a database URL"),
    ],
)
def test_unsupported_urls_are_refused(url, message):
    with pytest.raises(ValueError, match=message):
        Store(url)


def test_from_env_reads_the_store_url(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTRUNNER_STORE_URL", f"sqlite:///{tmp_path / 'env.sqlite'}")
    with Store.from_env() as store:
        store.create_schema()
    assert (tmp_path / "env.sqlite").exists()
    monkeypatch.setenv("OPTRUNNER_STORE_URL", " ")
    with pytest.raises(ValueError, match="OPTRUNNER_STORE_URL"):
        Store.from_env()


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size"):
        Store("sqlite://", batch_size=0)


def test_writer_columns_are_exactly_the_tables_data_columns():
    for table, columns in COLUMNS.items():
        surrogate = {c.name for c in metadata.tables[table].columns if c.autoincrement is True}
        assert set(columns) == {c.name for c in metadata.tables[table].columns} - surrogate, table


def test_constraints_are_named_by_the_convention(tmp_path):
    with Store(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        store.create_schema()
        schema = inspect(store.engine)
        assert schema.get_foreign_keys("order_events")[0]["name"] == "fk_order_events_client_id_orders"
        assert schema.get_unique_constraints("fills")[0]["name"] == "uq_fills_fill_id"
        assert schema.get_pk_constraint("orders")["name"] == "pk_orders"


@pytest.mark.parametrize("rows", [1, 2, 3, 127, 128, 129, 255, 1000])
def test_a_flush_writes_every_row_once_in_order_whatever_the_count(tmp_path, rows):
    """SQLite writes a table in multi-row statements of a few sizes (128, then powers of two):
    every count must come out whole, in the order given."""
    with Store(f"sqlite:///{tmp_path / 's.sqlite'}", batch_size=10_000) as store:
        store.create_schema()
        for i in range(rows):
            store.append("tick", {"i": i}, T0)
        assert store.flush() == rows
        entries = store.journal()
        assert [e.payload["i"] for e in entries] == list(range(rows))
        assert [e.seq for e in entries] == list(range(1, rows + 1))


def test_a_small_sqlite_variable_limit_only_means_smaller_statements(tmp_path):
    """A SQLite built with a low SQLITE_MAX_VARIABLE_NUMBER (999 before 3.32) still takes a batch:
    here 50 values per statement, so two 20-column order rows at a time."""
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}", batch_size=10_000)
    store.create_schema()
    store.engine.dispose()
    event.listen(store.engine, "connect", lambda conn, _: conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 50))
    with store:
        orders = [plain_order(f"o-{i:03d}") for i in range(101)]
        for o in orders:
            store.record_transition(o, None, o.state, T0)
        store.flush()
        writer = store._writer_conn.driver_connection  # the limit really applied to the writer
        assert writer.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) == 50
        assert store.load_orders() == orders
        assert len(store.load_order_events()) == 101
