"""Kill -9 a writer in the middle of a flush: the flushed batches survive, whole; nothing of
the batch being written does."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from sqlalchemy import func, select

from optrunner.store import Store
from optrunner.store.schema import FillRow, JournalRow, OrderEventRow, OrderRow
from store_cases import CE

FLUSHED_BATCHES = 4
ORDERS_PER_BATCH = 25
LAST_BATCH_ORDERS = 40_000  # big enough that its flush takes well over the kill delay

WRITER = f"""
import sys
from datetime import datetime, timedelta, timezone
from optrunner.core.orders import Fill, Order
from optrunner.core.types import OrderState, Side, Tag
from optrunner.instruments.contracts import OptionContract
from optrunner.store import Store

contract = OptionContract.from_id({CE.id!r})
store = Store(sys.argv[1], batch_size=10**9)
t0 = datetime(2026, 1, 13, 3, 45, tzinfo=timezone.utc)

def batch(number, orders):
    for i in range(orders):
        ts = t0 + timedelta(seconds=number, microseconds=i)
        order = Order(f"b{{number}}-o{{i}}", "crash", Tag.ENTRY, contract, Side.BUY, 75)
        for before, after in ((None, OrderState.NEW), (OrderState.NEW, OrderState.SUBMITTED),
                              (OrderState.SUBMITTED, OrderState.FILLED)):
            order.state = after
            store.record_transition(order, before, after, ts)
        store.save_fill(Fill(f"b{{number}}-f{{i}}", order.client_id, "crash", Tag.ENTRY, contract,
                             Side.BUY, 75, 100.0, ts))
        store.append("crash", {{"batch": number, "i": i}}, ts)

for number in range({FLUSHED_BATCHES}):
    batch(number, {ORDERS_PER_BATCH})
    store.flush()
    print("flushed", number, flush=True)
batch({FLUSHED_BATCHES}, {LAST_BATCH_ORDERS})
print("flushing", flush=True)
store.flush()
print("committed", flush=True)
"""


def _kill_once_uncommitted_pages_reach_the_wal(child: subprocess.Popen, wal) -> None:
    """The big transaction spills pages into the WAL before it commits: killing right after
    the WAL grows past its size at the last commit lands inside that transaction."""
    committed_size = wal.stat().st_size
    deadline = time.monotonic() + 30
    while wal.stat().st_size <= committed_size:
        assert child.poll() is None and time.monotonic() < deadline, "writer ended before spilling"
        time.sleep(0.002)
    os.kill(child.pid, signal.SIGKILL)


def test_sigkill_mid_flush_keeps_exactly_the_flushed_batches(tmp_path):
    path = tmp_path / "crash.sqlite"
    url = f"sqlite:///{path}"
    with Store(url) as store:
        store.create_schema()

    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wal = tmp_path / "crash.sqlite-wal"
    lines = []
    try:
        for line in child.stdout:
            lines.append(line.strip())
            if line.startswith("flushing"):
                _kill_once_uncommitted_pages_reach_the_wal(child, wal)
                break
    finally:
        child.kill()
        stderr = child.stderr.read()
        child.wait()
    assert child.returncode == -signal.SIGKILL, stderr
    assert lines == [f"flushed {n}" for n in range(FLUSHED_BATCHES)] + ["flushing"], stderr

    with Store(url) as reopened:
        with reopened.engine.connect() as conn:
            counts = {m.__tablename__: conn.execute(select(func.count()).select_from(m)).scalar_one()
                      for m in (OrderRow, OrderEventRow, FillRow, JournalRow)}  # fmt: skip
        batches = [e.payload["batch"] for e in reopened.journal()]
    flushed_orders = FLUSHED_BATCHES * ORDERS_PER_BATCH
    assert counts == {"orders": flushed_orders, "order_events": 3 * flushed_orders,
                      "fills": flushed_orders, "journal": flushed_orders}  # fmt: skip
    assert batches == [n for n in range(FLUSHED_BATCHES) for _ in range(ORDERS_PER_BATCH)]
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
