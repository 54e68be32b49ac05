"""The store on SQLite: the shared contract plus what only SQLite needs (pragmas, URLs)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import inspect, text

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
