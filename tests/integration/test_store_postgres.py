"""The store on the real PostgreSQL server: the shared contract plus PostgreSQL specifics.

Each test gets its own schema (via ``search_path`` in the URL), dropped afterwards, so
parallel runs never see each other's tables.
"""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from optrunner.store import Store, StoreWriteError
from store_cases import T0, StoreContract, at, plain_order

pytestmark = pytest.mark.services


@pytest.fixture
def store_url(postgres_url: str):
    schema = f"optrunner_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # application_name lets a test find this run's own server sessions.
    yield f"{postgres_url}?options=-csearch_path%3D{schema}&application_name={schema}"
    with admin.begin() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
            {"n": schema},
        )
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


class TestPostgresStore(StoreContract):
    pass


def test_times_are_timestamptz(store_url: str):
    with Store(store_url) as store:
        store.create_schema()
        store.append("tz", {}, T0)
        store.flush()
        with store.engine.connect() as conn:
            kind = conn.execute(text("SELECT pg_typeof(ts)::text FROM journal")).scalar_one()
            utc_text = conn.execute(text("SELECT to_char(ts AT TIME ZONE 'UTC', 'HH24:MI:SS.US') FROM journal")).scalar_one()
    assert kind == "timestamp with time zone"
    assert utc_text == "03:45:00.250000"


def test_json_columns_are_jsonb(store_url: str):
    with Store(store_url) as store:
        store.create_schema()
        store.append("j", {"legs": ["CE", "PE"]}, T0)
        store.flush()
        with store.engine.connect() as conn:
            legs = conn.execute(text("SELECT payload -> 'legs' ->> 1 FROM journal")).scalar_one()
    assert legs == "PE"


def test_a_lost_connection_fails_the_flush_and_the_retry_writes_the_batch(store_url: str):
    schema = store_url.rsplit("application_name=", 1)[1]
    with Store(store_url) as store:
        store.create_schema()
        store.append("first", {}, at(0))
        store.flush()  # the writer connection is open now
        store.append("second", {}, at(1))
        store.save_order(plain_order("o-1"))
        with store.engine.connect() as conn:
            others = "application_name = :n AND pid <> pg_backend_pid()"
            pids = conn.execute(
                text(f"SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE {others}"),
                {"n": schema},
            ).scalars().all()
            assert pids, "the writer's session should be listed"
            for _ in range(500):  # termination is asynchronous: wait until they are gone
                conn.commit()  # pg_stat_activity is a snapshot per transaction
                alive = conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:p)"), {"p": pids}
                ).scalar_one()
                if not alive:
                    break
                time.sleep(0.01)
        assert alive == 0
        with pytest.raises(StoreWriteError):
            store.flush()
        assert store.pending == 2
        assert store.flush() == 2  # a fresh connection, the same batch
        assert [e.kind for e in store.journal()] == ["first", "second"]
        assert [o.client_id for o in store.load_orders()] == ["o-1"]
