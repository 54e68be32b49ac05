"""The SQLite store checkpoints its WAL on a background thread, not inside the flushes."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time

from optrunner.core.orders import Order
from optrunner.core.types import OrderState, Side, Tag
from optrunner.store import Store
from optrunner.store.checkpoint import BACKSTOP_PAGES
from store_cases import CE, at


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("wal-checkpoint")}


def test_flushed_pages_reach_the_database_file_without_the_writer_checkpointing(tmp_path):
    path = tmp_path / "ckpt.sqlite"
    store = Store(f"sqlite:///{path}", batch_size=10**9)
    store.create_schema()
    try:
        for batch in range(20):
            for i in range(100):
                order = Order(f"o-{batch}-{i}", "s", Tag.ENTRY, CE, Side.BUY, 75, reason="x" * 200)
                store.record_transition(order, None, OrderState.NEW, at(batch))
            store.flush()
        writer = store._writer_conn.driver_connection
        assert writer.execute("PRAGMA wal_autocheckpoint").fetchone() == (BACKSTOP_PAGES,)
        # The WAL holds far fewer pages than the writer's own checkpoint needs: only the
        # thread can have copied them into the database file.
        deadline = time.monotonic() + 10
        with sqlite3.connect(path) as reader:
            while reader.execute("SELECT count(*) FROM orders").fetchone() != (2000,) or _db_pages(path) < 50:
                assert time.monotonic() < deadline, "no checkpoint reached the database file"
                time.sleep(0.02)
        assert any(str(path) in name for name in _threads())
    finally:
        store.close()
    assert not any(str(path) in name for name in _threads()), "close() must stop the thread"


def _db_pages(path) -> int:
    """Pages in the database file itself (WAL mode writes there only when checkpointing)."""
    return path.stat().st_size // 4096


def test_an_in_memory_store_has_no_checkpoint_thread():
    before = _threads()
    with Store("sqlite://") as store:
        store.create_schema()
        store.save_order(Order("o-1", "s", Tag.ENTRY, CE, Side.BUY, 75))
        store.flush()
        assert _threads() == before


def test_a_store_dropped_without_close_stops_its_checkpoint_thread(tmp_path):
    path = tmp_path / "dropped.sqlite"
    store = Store(f"sqlite:///{path}")
    store.create_schema()
    store.save_order(Order("o-1", "s", Tag.ENTRY, CE, Side.BUY, 75))
    store.flush()
    [thread] = [t for t in threading.enumerate() if t.name == f"wal-checkpoint {path}"]
    del store
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive()
